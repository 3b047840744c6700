"""Run the notebook-7 browser tests again and again while other processes keep the CPUs busy.

    python benchmarks/browser/repeat_under_load.py --runs 20 --busy 2 [--out results.txt]

A browser test that waits on time instead of on the event it needs passes on a quiet machine and
fails on a busy one; this is the check that it does not. Each run is a fresh
``pytest benchmarks/browser/test_notebook07_browser.py`` (its own JupyterLab, kernel and Chromium)
while ``--busy`` processes spin on the CPUs (pure Python loops, one core each). Prints one line per
run (result, seconds, load average, the failed tests) and a summary; exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from cinlab.files import check_output, write_bytes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TEST_FILE = HERE / "test_notebook07_browser.py"
SPIN = "while True:\n    pass\n"


def one_run(timeout: float) -> tuple[str, float, list[str], str]:
    """One pytest run of the browser tests: (result, seconds, failed test ids, pytest's last line)."""
    command = [sys.executable, "-m", "pytest", str(TEST_FILE), "-m", "browser", "-q", "-p", "no:cacheprovider", "-rfE"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, [], f"no result in {timeout:.0f} s"
    seconds = time.perf_counter() - start
    failed = re.findall(r"^(?:FAILED|ERROR) \S+::(\S+)", done.stdout, flags=re.MULTILINE)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    last = lines[-1].strip("= ") if lines else done.stderr.strip()[-200:]
    # pytest exits 0 when every test was skipped (no Chromium): that run checked nothing.
    result = "FAILED" if done.returncode else ("passed" if " passed" in last else "skipped")
    return result, seconds, failed, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="how many full runs of the browser tests (default 20)")
    parser.add_argument("--busy", type=int, default=2, help="CPU-spinning background processes (default 2)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (default 1800)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args(argv)
    if args.out is not None:
        try:
            check_output(args.out, args.overwrite)  # before an hour of runs, not after
        except OSError as err:
            parser.error(str(err))

    header = (
        f"# {args.runs} runs of {TEST_FILE.relative_to(ROOT)} with {args.busy} busy background processes;"
        f" {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {date.today()}"
    )
    lines = [header, f"{'run':>3}  {'result':7} {'seconds':>7}  {'load (1 min) start -> end':26}  failed"]
    print("\n".join(lines), flush=True)
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    outcomes = []
    try:
        for run in range(1, args.runs + 1):
            load_start = os.getloadavg()[0]
            result, seconds, failed, last = one_run(args.timeout)
            outcomes.append(result)
            line = (
                f"{run:>3}  {result:7} {seconds:7.0f}  {load_start:5.1f} -> {os.getloadavg()[0]:<17.1f}"
                f"  {', '.join(failed) or '-'}  ({last})"
            )
            lines.append(line)
            print(line, flush=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    failures = sum(result != "passed" for result in outcomes)
    summary = f"# {len(outcomes) - failures} of {len(outcomes)} runs passed, {failures} did not"
    lines.append(summary)
    print(summary)
    if args.out is not None:
        write_bytes(args.out, ("\n".join(lines) + "\n").encode(), overwrite=args.overwrite)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
