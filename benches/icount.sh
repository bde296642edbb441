#!/usr/bin/env bash
# Instructions per operation under callgrind, for benches/icount.rs's
# operations: N = 40,000 minus N = 20,000, divided by 20,000.
#
#   bash benches/icount.sh                      # every operation
#   bash benches/icount.sh switch spawn_await   # some
#   FEATURES=tracing bash benches/icount.sh switch
#
# Needs valgrind. Builds with the bench profile in target/icount.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/icount}
features=()
if [ -n "${FEATURES:-}" ]; then
  features=(--features "$FEATURES")
fi
bin=$(cargo bench --bench icount --no-run "${features[@]}" --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "icount" and m.get("executable"):
        print(m["executable"])')
ops=${*:-run_ready run_yield spawn_await switch lifecycle set_reset current_0 current_1}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for op in $ops; do
  a=$(count "$op" 20000)
  b=$(count "$op" 40000)
  python3 -c "print('%-12s %8.1f' % ('$op', ($b - $a) / 20000))"
done
