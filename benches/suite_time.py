#!/usr/bin/env python3
"""Wall time of the three 200-test binaries (per-test runners, one shared
runner, #[tokio::test]), median of N runs each, interleaved:

    python3 benches/suite_time.py --runs 15

Builds them with `cargo test --release --no-run` first and prints a
markdown table for BENCHMARKS.md.
"""

import argparse
import json
import statistics
import subprocess
import time

SUITES = ["suite_per_test", "suite_shared", "suite_tokio"]


def build():
    """Builds the test binaries; returns {suite: executable path}."""
    command = ["cargo", "test", "--release", "--no-run", "--message-format=json"]
    for suite in SUITES:
        command += ["--bench", suite]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    paths = {}
    for line in output.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            name = message["target"]["name"]
            if name in SUITES:
                paths[name] = message["executable"]
    return paths


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    paths = build()
    times = {suite: [] for suite in SUITES}
    for _ in range(args.runs):
        for suite in SUITES:
            start = time.perf_counter()
            subprocess.run([paths[suite], "-q"], check=True, capture_output=True)
            times[suite].append((time.perf_counter() - start) * 1000)
    reference = statistics.median(times["suite_tokio"])
    print("| 200 tiny I/O tests | wall time (median of %d) | vs `#[tokio::test]` |" % args.runs)
    print("| --- | ---: | ---: |")
    labels = {
        "suite_per_test": "`#[runner::test]`, a runner per test",
        "suite_shared": "`#[runner::test(shared)]`, one server",
        "suite_tokio": "`#[tokio::test]`, a runtime per test",
    }
    for suite in SUITES:
        median = statistics.median(times[suite])
        print("| %s | %.1f ms | %.2fx |" % (labels[suite], median, median / reference))


if __name__ == "__main__":
    main()
