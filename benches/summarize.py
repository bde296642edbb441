#!/usr/bin/env python3
"""Turns criterion's results for `benches/runner.rs`, `benches/contextvar.rs`
and `benches/net.rs`, and the output of `benches/memory.rs`, into the markdown
tables of BENCHMARKS.md.

    python3 benches/summarize.py --run 3 --syscalls perf,strace --write BENCHMARKS.md

`--run N` first runs the criterion benches N times (the command is printed in
the output), each run saved as criterion baseline `runK`, plus
`cargo bench --bench memory` once per run, and records the load average
around each run; `--write FILE` replaces the part of FILE between the
`<!-- tables:begin -->` and `<!-- tables:end -->` markers instead of printing.
Without `--run` it summarizes the `runK` baselines already in
`$CARGO_TARGET_DIR/criterion` (default `target/criterion`), or criterion's
`new` results if there are none.

`--syscalls perf,strace` counts the syscalls per round trip of the TCP echo
case for every contender, with `perf stat` (tracepoints: the program runs at
full speed) and/or `strace -f -c` (slows every syscall, so batching differs),
each at two iteration counts whose difference cancels the setup.

`--filter REGEX` passes a criterion filter (only those groups run) and
`--cases GROUP,...` keeps only those tables; `--markers NAME` writes between
`<!-- NAME:begin -->` and `<!-- NAME:end -->` instead: that is how the
"Before the core rework" section of BENCHMARKS.md is made.

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
import shlex
import subprocess
import sys

BENCH_ARGS = ["--warm-up-time", "0.5", "--measurement-time", "2", "--noplot"]
CARGO_CMD = ["cargo", "bench", "--bench", "runner", "--bench", "contextvar", "--bench", "net",
             "--bench", "handle", "--"] + BENCH_ARGS
MEMORY_CMD = ["cargo", "bench", "--bench", "memory"]
META = "summarize-meta.json"
SYSCALLS = "summarize-syscalls.json"
# The runtime's sources: the commit that last changed them is the one measured.
RUNTIME = ["runner-core", "runner-macros", "src"]
# The TCP echo case of benches/net.rs: its contenders and round trips per
# iteration (`CONNECTIONS` x `ROUNDS` there).
ECHO_CONTENDERS = ["runner", "runner_in_block_on", "smol", "smol_local_executor", "tokio_current_thread"]
ECHO_ROUND_TRIPS = 50 * 10
# Iterations of the syscall count, small and large: (large - small) / round trips.
SYSCALL_ITERATIONS = (5, 45)

# Each case: its criterion group, title, the target, and how to check it.
#   kind "abs":   median of `subject` <= `limit` ns (per iteration)
#   kind "ratio": median of `subject` <= `limit` x median of `reference`
#   kind "diff":  (median of `subject` - median of `reference`) per element <= `limit` ns
#   kind "flat":  every `subjects` median <= `limit` ns; plus the largest/smallest
#                 ratio among `flat` (must stay <= `flat_limit`)
#   kind "ratios": like "ratio", for each (reference, limit) of `limits`
#   kind "memory": bytes per parked task from benches/memory.rs (not criterion);
#                 `subject` at `tasks` tasks parked on `future` <= `limit` bytes
CASES = [
    dict(group="run_ready", title="`runner.run(ready future)` on a reused runner",
         kind="abs", subject="runner", limit=10.0, reference="futures_lite_block_on",
         target="<= 10 ns"),
    dict(group="run_yield", title="`run` of a future that does one `yield_now().await`",
         kind="abs", subject="runner", limit=25.0, reference="futures_lite_block_on",
         target="<= 25 ns"),
    dict(group="new_run_close", title="`Runner::new()` + one run + `close()`",
         kind="abs", subject="runner", limit=300.0, reference="tokio_current_thread",
         target="<= 300 ns"),
    dict(group="spawn_await_10k", title="spawn + await 10,000 tiny tasks inside one run",
         kind="ratio", subject="runner", reference="async_executor", limit=0.90,
         target="<= 0.90 x raw async-executor (`Executor`), per task"),
    dict(group="sleep_1ms_10k", title="10,000 concurrent `sleep(1 ms)`",
         kind="ratio", subject="runner", reference="async_io_timer_on_async_executor",
         limit=1.05, target="<= 1.05 x raw async-io timers on async-executor"),
    dict(group="ping_pong_10k",
         title="two tasks bouncing a value over `async_channel::bounded(1)`, 10,000 round trips",
         kind="ratio", subject="runner", reference="tokio_current_thread", limit=1.03,
         target="<= 1.03 x tokio current_thread"),
    dict(group="get", title="`VAR.get()`, value set in the current context",
         kind="abs", subject="runner", limit=4.0, reference="tokio_task_local_with",
         target="<= 4 ns"),
    dict(group="set_reset", title="`VAR.set(v)` + `VAR.reset(token)`",
         kind="abs", subject="runner", limit=60.0, reference="tokio_sync_scope",
         target="<= 60 ns"),
    dict(group="context_current", title="`Context::current()` with 0, 1 and 100 variables set",
         kind="flat", subjects=["runner_0_vars", "runner_1_vars", "runner_100_vars"],
         flat=["runner_1_vars", "runner_100_vars"], flat_limit=1.10, limit=15.0,
         reference="runner_0_vars",
         target="<= 15 ns each, flat in the number of variables"),
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
    dict(group="tcp_echo",
         title="loopback TCP echo: 50 connections x 10 round trips of 64 bytes",
         kind="ratios", subject="runner",
         limits=[("smol", 1.10), ("tokio_current_thread", 1.25)],
         target="<= 1.10 x smol and <= 1.25 x tokio current_thread"),
    dict(group="fan_out_100k", title="fan-out: spawn 100,000 tiny tasks, then await them all",
         kind="ratio", subject="runner_1_worker", reference="runner", limit=1.20,
         target="`worker_threads(1)` <= 1.2 x no workers"),
    dict(group="close_100k_pending", title="`close` with 100,000 pending tasks",
         kind="ratio", subject="runner", reference="tokio_current_thread", limit=1.0,
         target="<= dropping a tokio current_thread runtime with the same tasks (ratio <= 1.0)"),
    dict(group="handle_spawn_1k",
         title="`Handle::spawn` from another thread, 1,000 tasks, until they have run",
         kind="ratio", subject="runner", reference="tokio_current_thread", limit=1.0,
         target="<= tokio's `Handle::spawn` (ratio <= 1.0)"),
    dict(group="handle_block_on_ready",
         title="`Handle::block_on` of a ready future from another thread",
         kind="ratio", subject="runner", reference="tokio_current_thread", limit=1.0,
         target="<= tokio's `Handle::block_on` (ratio <= 1.0)"),
    dict(group="memory_parked_task", title="memory per parked task",
         kind="memory", subject="runner", future="pending", tasks=100000, limit=100.0,
         target="`runner` <= 100 bytes per task parked on `pending`"),
]


def criterion_dir():
    # Absolute, and so in the environment of the benches too: cargo runs a
    # bench binary in its package's directory (`benches/`), where criterion
    # would read a relative `CARGO_TARGET_DIR` as `benches/<dir>`.
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target")).resolve()
    os.environ["CARGO_TARGET_DIR"] = str(target)
    return target / "criterion"


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
    if kind == "ratios":
        # The table's ratio column is to the first reference.
        case = dict(case, reference=case["limits"][0][0])
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
    elif kind == "ratios":
        for ref, limit in case["limits"]:
            values = per_run(lambda m, ref=ref: m(case["subject"]) / m(ref))
            ratio = median(values)
            text = (f"`{case['subject']}` / `{ref}` = {ratio:.3f} vs <= {limit:.2f}"
                    + (f" ({(ratio / limit - 1) * 100:.1f} % over)" if ratio > limit else "")
                    + f" ({runs_met(values, lambda v, limit=limit: v <= limit)})")
            lines.append("- " + verdict(ratio <= limit, text))
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


MEMORY_LINE = re.compile(r"^memory/(\S+)/(\S+)/(\d+): ([\d.]+) bytes per task$")


def load_memory(root):
    """[{(future, contender, tasks): bytes per task}] for each run"""
    runs = []
    for path in sorted(root.glob("memory-run*.txt")):
        found = {}
        for line in path.read_text().splitlines():
            m = MEMORY_LINE.match(line)
            if m:
                found[(m.group(1), m.group(2), int(m.group(3)))] = float(m.group(4))
        runs.append(found)
    return runs


def memory_table(case, runs):
    keys = sorted({key for run in runs for key in run})
    columns = sorted({(future, tasks) for future, _, tasks in keys},
                     key=lambda c: (c[0] != case["future"], c[1]))
    contenders = [case["subject"]] + sorted({name for _, name, _ in keys} - {case["subject"]})

    def med(key):
        values = [run[key] for run in runs if key in run]
        return median(values) if values else None

    lines = [f"### {case['title']}", "",
             f"Target: {case['target']}.", "",
             "Bytes of heap per task, live while the tasks are parked (handles dropped); "
             f"median over {len(runs)} run(s) of `benches/memory.rs`.", "",
             "| contender | " + " | ".join(f"`{future}`, {tasks:,} tasks" for future, tasks in columns) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for name in contenders:
        cells = []
        for future, tasks in columns:
            value = med((future, name, tasks))
            cells.append("–" if value is None else f"{value:.0f} B")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines.append("")
    key = (case["future"], case["subject"], case["tasks"])
    value = med(key)
    if value is None:
        lines.append(f"No result for `{case['subject']}`.")
    else:
        over = value - case["limit"]
        lines.append(verdict(over <= 0, f"`{case['subject']}` {value:.0f} B per task parked on "
                             f"`{case['future']}` ({case['tasks']:,} tasks) vs {case['target']}"
                             + (f"; {over:.0f} B over" if over > 0 else "")))
    lines.append("")
    return "\n".join(lines)


def count_syscalls(tool):
    """{contender: {syscall: per round trip}} for the TCP echo case, with `tool`."""
    build = subprocess.run(["cargo", "bench", "--bench", "net", "--no-run", "--message-format=json"],
                           capture_output=True, text=True, check=True)
    binary = None
    for line in build.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "net" and msg.get("executable"):
            binary = msg["executable"]
    if binary is None:
        sys.exit("no executable for `cargo bench --bench net`")
    names = ["read", "write", "recvfrom", "sendto", "epoll_ctl", "epoll_wait", "epoll_pwait",
             "epoll_pwait2", "futex", "timerfd_settime", "eventfd2", "poll", "sched_yield"]

    def counts(contender, iterations):
        env = dict(os.environ, RUNNER_BENCH_ECHO=f"{contender}:{iterations}")
        if tool == "perf":
            events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{n}" for n in names]
            out = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(events), binary],
                                 env=env, capture_output=True, text=True, check=True).stderr
            found = {}
            for line in out.splitlines():
                fields = line.split(",")
                if len(fields) > 2 and fields[0].isdigit():
                    event = fields[2]
                    name = "total" if event == "raw_syscalls:sys_enter" else event.split("sys_enter_")[-1]
                    found[name] = int(fields[0])
            return found
        out_file = pathlib.Path(f"/tmp/summarize-strace-{os.getpid()}.txt")
        subprocess.run(["strace", "-f", "-c", "-o", str(out_file), binary], env=env,
                       capture_output=True, check=True)
        found = {}
        for line in out_file.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 5 and fields[0][0].isdigit():
                found["total" if fields[-1] == "total" else fields[-1]] = int(fields[3])
        out_file.unlink()
        return found

    small, large = SYSCALL_ITERATIONS
    result = {}
    for contender in ECHO_CONTENDERS:
        a, b = counts(contender, small), counts(contender, large)
        trips = (large - small) * ECHO_ROUND_TRIPS
        result[contender] = {name: (b.get(name, 0) - a.get(name, 0)) / trips
                             for name in set(a) | set(b)}
    return result


def syscall_table(tool, per_trip):
    shown = sorted({name for calls in per_trip.values() for name, v in calls.items()
                    if name != "total" and v >= 0.05},
                   key=lambda n: -max(calls.get(n, 0) for calls in per_trip.values()))
    how = ("`perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_<name>...` (tracepoints; "
           "the program runs at full speed)" if tool == "perf" else
           "`strace -f -c` (every syscall stops the process, so wake-ups batch differently)")
    small, large = SYSCALL_ITERATIONS
    lines = [f"### TCP echo: syscalls per round trip ({tool})", "",
             f"Counted with {how}, all threads, on `RUNNER_BENCH_ECHO=<contender>:N` runs of "
             f"`benches/net.rs`: (count at N = {large} - count at N = {small}) / "
             f"({large - small} x {ECHO_ROUND_TRIPS} round trips).", "",
             "| contender | all | " + " | ".join(f"`{n}`" for n in shown) + " |",
             "| --- | ---: |" + " ---: |" * len(shown)]
    for contender, calls in per_trip.items():
        lines.append(f"| `{contender}` | {calls.get('total', sum(calls.values())):.2f} | "
                     + " | ".join(f"{calls.get(n, 0):.2f}" for n in shown) + " |")
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
        # A `|` would end the table cell, even inside a code span.
        command = meta["command"].replace("|", "\\|")
        repeat = f", {meta['repeat']}" if "repeat" in meta else ""
        lines.append(f"| command | `{command}`{repeat} |")
    return "\n".join(lines) + "\n"


def cargo_cmd(filter_):
    return CARGO_CMD + ([filter_] if filter_ else [])


def run_benches(root, count, filter_):
    def load():
        return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])
    def out(cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "rustc": out(["rustc", "--version"]),
        "commit": out(["git", "rev-parse", "--short", "HEAD"])
                  + (" + uncommitted changes to the runtime"
                     if out(["git", "status", "--porcelain", "--", *RUNTIME])
                     else " (runtime as of "
                     + out(["git", "log", "-1", "--format=%h", "--", *RUNTIME]) + ")"),
        "cores": os.cpu_count(),
        "command": shlex.join(cargo_cmd(filter_) + ["--save-baseline", "runK"])
                   + " && " + shlex.join(MEMORY_CMD),
        "repeat": f"K = 1..{count}",
        "loads": [],
    }
    for old in root.glob("*/*/run*"):
        if old.is_dir():
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
    for old in root.glob("memory-run*.txt"):
        old.unlink()
    root.mkdir(parents=True, exist_ok=True)
    for k in range(1, count + 1):
        before = load()
        subprocess.run(cargo_cmd(filter_) + ["--save-baseline", f"run{k}"], check=True, stdout=sys.stderr)
        memory = subprocess.run(MEMORY_CMD, check=True, capture_output=True, text=True).stdout
        (root / f"memory-run{k}.txt").write_text(memory)
        meta["loads"].append((before, load()))
    (root / META).write_text(json.dumps(meta, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, metavar="N", help="run the benches N times first")
    parser.add_argument("--write", metavar="FILE", help="replace the tables in FILE")
    parser.add_argument("--filter", metavar="REGEX", help="criterion filter for --run")
    parser.add_argument("--cases", metavar="GROUP,...", help="only these tables")
    parser.add_argument("--markers", metavar="NAME", default="tables",
                        help="write between <!-- NAME:begin --> and <!-- NAME:end -->")
    parser.add_argument("--syscalls", metavar="perf,strace",
                        help="count syscalls per TCP echo round trip with these tools")
    args = parser.parse_args()
    root = criterion_dir()
    if args.run:
        run_benches(root, args.run, args.filter)
    if args.syscalls:
        counted = {tool: count_syscalls(tool) for tool in args.syscalls.split(",")}
        root.mkdir(parents=True, exist_ok=True)
        (root / SYSCALLS).write_text(json.dumps(counted, indent=1))
    results = [load_results(root, baseline) for baseline in baselines(root)]
    memory = load_memory(root)
    cases = [case for case in CASES
             if not args.cases or case["group"] in args.cases.split(",")]
    parts = [meta_block(root)]
    for case in cases:
        if case["kind"] == "memory":
            parts.append(memory_table(case, memory) if memory else
                         f"### {case['title']}\n\nNo results: run `{' '.join(MEMORY_CMD)}` with `--run`.\n")
        elif all(case["group"] in run for run in results):
            parts.append(table(case, [run[case["group"]] for run in results]))
        else:
            parts.append(f"### {case['title']}\n\nNo results for group `{case['group']}`.\n")
    syscalls_path = root / SYSCALLS
    if syscalls_path.exists() and (not args.cases or "tcp_echo" in args.cases.split(",")):
        for tool, per_trip in json.loads(syscalls_path.read_text()).items():
            parts.append(syscall_table(tool, per_trip))
    text = "\n".join(parts)
    if args.write:
        path = pathlib.Path(args.write)
        doc = path.read_text()
        name = re.escape(args.markers)
        new, count = re.subn(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)",
                             lambda m: m.group(1) + "\n" + text + "\n" + m.group(2), doc, flags=re.S)
        if count != 1:
            sys.exit(f"{path}: expected one <!-- {args.markers}:begin --> ... "
                     f"<!-- {args.markers}:end --> block")
        path.write_text(new)
    else:
        print(text)


if __name__ == "__main__":
    main()
