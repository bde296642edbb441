#!/usr/bin/env python3
"""Turns criterion's results for `benches/runner.rs` and `benches/contextvar.rs`
into the markdown tables of BENCHMARKS.md.

    python3 benches/summarize.py --run 3 --write BENCHMARKS.md

`--run N` first runs both benches N times (the command is printed in the
output), each run saved as criterion baseline `runK`, and records the load
average around each run; `--write FILE` replaces the part of FILE between the
`<!-- tables:begin -->` and `<!-- tables:end -->` markers instead of printing.
Without `--run` it summarizes the `runK` baselines already in
`$CARGO_TARGET_DIR/criterion` (default `target/criterion`), or criterion's
`new` results if there are none.

Every number is built from criterion's medians (`estimates.json`,
`median.point_estimate`): a contender's time is the median over the runs of
its per-run medians; a ratio is computed within each run (both contenders
measured minutes apart at most) and the median over the runs is shown, with
the range across runs.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys

BENCH_ARGS = ["--warm-up-time", "0.5", "--measurement-time", "2", "--noplot"]
CARGO_CMD = ["cargo", "bench", "--bench", "runner", "--bench", "contextvar", "--"] + BENCH_ARGS
META = "summarize-meta.json"

# Each case: its criterion group, title, the target, and how to check it.
#   kind "abs":   median of `subject` <= `limit` ns (per iteration)
#   kind "ratio": median of `subject` <= `limit` x median of `reference`
#   kind "diff":  (median of `subject` - median of `reference`) per element <= `limit` ns
#   kind "flat":  every `subjects` median <= `limit` ns; plus the largest/smallest
#                 ratio among `flat` (must stay <= `flat_limit`)
CASES = [
    dict(group="run_ready", title="`runner.run(ready future)` on a reused runner",
         kind="abs", subject="runner", limit=10.0, reference="futures_lite_block_on",
         target="<= 10 ns"),
    dict(group="run_yield", title="`run` of a future that does one `yield_now().await`",
         kind="abs", subject="runner", limit=50.0, reference="futures_lite_block_on",
         target="<= 50 ns"),
    dict(group="new_run_close", title="`Runner::new()` + one run + `close()`",
         kind="abs", subject="runner", limit=500.0, reference="tokio_current_thread",
         target="<= 500 ns"),
    dict(group="spawn_await_10k", title="spawn + await 10,000 tiny tasks inside one run",
         kind="ratio", subject="runner", reference="async_executor", limit=1.10,
         target="<= 1.1 x raw async-executor (`Executor`), per task"),
    dict(group="sleep_1ms_10k", title="10,000 concurrent `sleep(1 ms)`",
         kind="ratio", subject="runner", reference="async_io_timer_on_async_executor",
         limit=1.05, target="<= 1.05 x raw async-io timers on async-executor"),
    dict(group="ping_pong_10k",
         title="two tasks bouncing a value over `async_channel::bounded(1)`, 10,000 round trips",
         kind="ratio", subject="runner", reference="tokio_current_thread", limit=1.0,
         target="<= tokio current_thread (ratio <= 1.0)"),
    dict(group="get", title="`VAR.get()`, value set in the current context",
         kind="abs", subject="runner", limit=5.0, reference="tokio_task_local_with",
         target="<= 5 ns"),
    dict(group="set_reset", title="`VAR.set(v)` + `VAR.reset(token)`",
         kind="abs", subject="runner", limit=60.0, reference="tokio_sync_scope",
         target="<= 60 ns"),
    dict(group="context_current", title="`Context::current()` with 0, 1 and 100 variables set",
         kind="flat", subjects=["runner_0_vars", "runner_1_vars", "runner_100_vars"],
         flat=["runner_1_vars", "runner_100_vars"], flat_limit=1.10, limit=20.0,
         reference="runner_0_vars",
         target="<= 20 ns each, flat in the number of variables"),
    dict(group="task_poll_context",
         title="entering a task's context per poll (a task yielding 1,000 times)",
         kind="diff", subject="runner_5_vars", reference="runner_0_vars", limit=3.0,
         extra=[("runner_100_vars", "runner_0_vars"), ("tokio_task_local_scope", "tokio_plain")],
         target="<= 3 ns per poll: (5 variables - none) / polls"),
    dict(group="spawn_await_10k_vars",
         title="spawn + await 10,000 tasks with 5 variables set vs none",
         kind="ratio", subject="runner_5_vars", reference="runner_0_vars", limit=1.10,
         target="<= 1.1 x the same with no variables"),
    dict(group="debug_cost_run_yield", title="debug mode: `run` + one yield, debug off vs on",
         kind="info", subject="runner_debug", reference="runner",
         target="none; stated (debug off is the `run_yield` case above)"),
    dict(group="debug_cost_spawn_10k", title="debug mode: spawn + await 10,000 tasks, debug off vs on",
         kind="info", subject="runner_debug", reference="runner",
         target="none; stated"),
    dict(group="sigint_cost_run_ready",
         title="Ctrl-C handling: `run(ready)` on the main thread (armed) vs another thread (not armed)",
         kind="info", subject="runner", reference="runner_off_main_thread",
         target="the Runner benchmarks must not move"),
]


def criterion_dir():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    return pathlib.Path(target) / "criterion"


def baselines(root):
    runs = sorted({p.parent.name for p in root.glob("*/*/run*/estimates.json")},
                  key=lambda name: int(name[3:]) if name[3:].isdigit() else 0)
    return runs or ["new"]


def load_results(root, baseline):
    """{group: {function: (median_ns, elements_per_iteration)}} of one baseline"""
    results = {}
    for bench in root.glob(f"*/*/{baseline}/benchmark.json"):
        info = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        throughput = info.get("throughput") or {}
        elements = throughput.get("Elements", 1)
        results.setdefault(info["group_id"], {})[info["function_id"]] = (
            estimates["median"]["point_estimate"], elements)
    return results


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def rng(values, fmt):
    return f"{fmt(min(values))}–{fmt(max(values))}" if len(values) > 1 else "–"


def fmt_time(ns):
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.3g} ns" if ns < 100 else f"{ns:.0f} ns"


def verdict(met, text):
    return f"**{'met' if met else 'not met'}**: {text}"


def table(case, runs):
    """`runs`: the case's group in each run, {function: (median_ns, elements)}."""
    names = set.intersection(*(set(group) for group in runs))
    elements = {name: runs[0][name][1] for name in names}

    def med(name):
        return median([group[name][0] for group in runs])

    def per_run(f):
        return [f(lambda name, g=group: g[name][0]) for group in runs]

    kind = case["kind"]
    reference = case.get("reference")
    if kind == "abs":
        ratio_name = f"the {case['limit']:g} ns target"
        ratio_of = lambda name: per_run(lambda m: m(name) / case["limit"])
    else:
        ratio_name = f"`{reference}`"
        ratio_of = lambda name: per_run(lambda m: m(name) / m(reference))
    n = len(runs)
    lines = [f"### {case['title']}", "",
             f"Target: {case['target']}.", "",
             f"| contender | median / iteration | median / element | ratio to {ratio_name} | ratio range over {n} run(s) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    first = [case["subject"]] if "subject" in case else list(case["subjects"])
    order = first + sorted((name for name in names if name not in first), key=med)
    for name in order:
        ns = med(name)
        per = fmt_time(ns / elements[name]) if elements[name] > 1 else "–"
        ratios = ratio_of(name)
        lines.append(f"| `{name}` | {fmt_time(ns)} | {per} | {median(ratios):.2f} | "
                     f"{rng(ratios, lambda r: f'{r:.2f}')} |")
    lines.append("")

    def runs_met(values, ok):
        return f"met in {sum(1 for v in values if ok(v))} of {len(values)} runs"

    if kind == "abs":
        values = per_run(lambda m: m(case["subject"]))
        ns = median(values)
        over = ns - case["limit"]
        text = (f"`{case['subject']}` {fmt_time(ns)} vs {case['target']}"
                + (f"; {fmt_time(over)} over ({ns / case['limit']:.2f} x the target)" if over > 0
                   else f"; {fmt_time(-over)} under")
                + f" ({runs_met(values, lambda v: v <= case['limit'])})")
        lines.append(verdict(over <= 0, text))
    elif kind == "ratio":
        values = per_run(lambda m: m(case["subject"]) / m(case["reference"]))
        ratio = median(values)
        text = (f"`{case['subject']}` / `{case['reference']}` = {ratio:.3f} vs <= {case['limit']:.2f}"
                + (f" ({(ratio / case['limit'] - 1) * 100:.1f} % over)" if ratio > case["limit"] else "")
                + f" ({runs_met(values, lambda v: v <= case['limit'])})")
        lines.append(verdict(ratio <= case["limit"], text))
    elif kind == "info":
        values = per_run(lambda m: m(case["subject"]) / m(case["reference"]))
        lines.append(f"`{case['subject']}` / `{case['reference']}` = {median(values):.3f} "
                     f"(range {rng(values, lambda v: f'{v:.3f}')})")
    elif kind == "diff":
        def per_element(a, b):
            return per_run(lambda m: (m(a) - m(b)) / elements[a])
        values = per_element(case["subject"], case["reference"])
        d = median(values)
        lines.append("- " + verdict(d <= case["limit"],
                     f"(`{case['subject']}` - `{case['reference']}`) per poll = {d:.2f} ns "
                     f"(range {rng(values, lambda v: f'{v:.2f}')}) vs <= {case['limit']:g} ns "
                     f"({runs_met(values, lambda v: v <= case['limit'])})"))
        for a, b in case.get("extra", []):
            if a in names and b in names:
                values = per_element(a, b)
                lines.append(f"- for comparison, (`{a}` - `{b}`) per poll = {median(values):.2f} ns "
                             f"(range {rng(values, lambda v: f'{v:.2f}')})")
    elif kind == "flat":
        worst = max(case["subjects"], key=med)
        values = per_run(lambda m: max(m(name) for name in case["subjects"]))
        over = med(worst) - case["limit"]
        lines.append("- " + verdict(over <= 0,
                     f"slowest `{worst}` {fmt_time(med(worst))} vs <= {case['limit']:g} ns"
                     + (f" ({fmt_time(over)} over, {med(worst) / case['limit']:.2f} x)" if over > 0 else "")
                     + f" ({runs_met(values, lambda v: v <= case['limit'])})"))
        spreads = per_run(lambda m: max(m(name) for name in case["flat"]) / min(m(name) for name in case["flat"]))
        spread = median(spreads)
        lines.append(f"- flatness: `{case['flat'][-1]}` / `{case['flat'][0]}` = {spread:.3f} "
                     f"(range {rng(spreads, lambda v: f'{v:.3f}')}) "
                     + ("(flat)" if spread <= case["flat_limit"] else "(**not flat**)"))
    lines.append("")
    return "\n".join(lines)


def meta_block(root):
    meta_path = root / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    lines = ["| | |", "| --- | --- |"]
    lines.append(f"| date | {meta.get('date', 'unknown (results not produced by --run)')} |")
    lines.append(f"| commit | {meta.get('commit', 'unknown')} |")
    lines.append(f"| rustc | {meta.get('rustc', rustc)} |")
    lines.append(f"| cores | {meta.get('cores', os.cpu_count())} |")
    for k, (before, after) in enumerate(meta.get("loads", []), 1):
        lines.append(f"| run {k}: load average (1, 5, 15 min) before / after | {before} / {after} |")
    if "command" in meta:
        lines.append(f"| command | `{meta['command']}` |")
    return "\n".join(lines) + "\n"


def run_benches(root, count):
    def load():
        return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])
    def out(cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "rustc": out(["rustc", "--version"]),
        "commit": out(["git", "rev-parse", "--short", "HEAD"])
                  + (" + uncommitted changes to the runtime"
                     if out(["git", "status", "--porcelain", "--", "runner-core", "runner-macros", "src"])
                     else " (runtime as committed)"),
        "cores": os.cpu_count(),
        "command": " ".join(CARGO_CMD + ["--save-baseline", "runK"]) + f", K = 1..{count}",
        "loads": [],
    }
    for old in root.glob("*/*/run*"):
        if old.is_dir():
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
    for k in range(1, count + 1):
        before = load()
        subprocess.run(CARGO_CMD + ["--save-baseline", f"run{k}"], check=True, stdout=sys.stderr)
        meta["loads"].append((before, load()))
    root.mkdir(parents=True, exist_ok=True)
    (root / META).write_text(json.dumps(meta, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, metavar="N", help="run the benches N times first")
    parser.add_argument("--write", metavar="FILE", help="replace the tables in FILE")
    args = parser.parse_args()
    root = criterion_dir()
    if args.run:
        run_benches(root, args.run)
    results = [load_results(root, baseline) for baseline in baselines(root)]
    parts = [meta_block(root)]
    for case in CASES:
        if all(case["group"] in run for run in results):
            parts.append(table(case, [run[case["group"]] for run in results]))
        else:
            parts.append(f"### {case['title']}\n\nNo results for group `{case['group']}`.\n")
    text = "\n".join(parts)
    if args.write:
        path = pathlib.Path(args.write)
        doc = path.read_text()
        new, count = re.subn(r"(<!-- tables:begin -->\n).*?(<!-- tables:end -->)",
                             lambda m: m.group(1) + "\n" + text + "\n" + m.group(2), doc, flags=re.S)
        if count != 1:
            sys.exit(f"{path}: expected one <!-- tables:begin --> ... <!-- tables:end --> block")
        path.write_text(new)
    else:
        print(text)


if __name__ == "__main__":
    main()
