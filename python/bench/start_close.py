"""The cost of a sandboxed lab from Python: ``nshost.Lab(LAB, sandbox=True)`` started and
closed, median of N, against ``nshost try LAB`` run as a command (the same binary).

    python python/bench/start_close.py [LAB] [N]    # from the repository root

Not a test: it prints the numbers (docs/src/python.md quotes them).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import nshost


def timed(action: object, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return times


def lab_start_close(lab: str) -> None:
    with nshost.Lab(lab, sandbox=True) as running:
        assert running.name


def lab_start_check_close(lab: str) -> None:
    with nshost.Lab(lab, sandbox=True) as running:
        assert running.check().passed


def try_command(binary: str, lab: str) -> None:
    subprocess.run([binary, "try", "--quiet", lab], check=True, capture_output=True)


def main() -> None:
    lab = sys.argv[1] if len(sys.argv) > 1 else "topologies/small.yaml"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    binary = nshost.find_binary()
    print(f"binary: {binary}\nlab: {lab}, {n} runs each (after one warm-up)")
    lab_start_close(lab)
    try_command(binary, lab)
    for name, action in (
        ("nshost.Lab(...) start + close", lambda: lab_start_close(lab)),
        ("nshost.Lab(...) + check + close", lambda: lab_start_check_close(lab)),
        ("nshost try --quiet (a command)", lambda: try_command(binary, lab)),
    ):
        t = timed(action, n)
        print(f"{name:32} median {statistics.median(t):7.1f} ms   min {min(t):7.1f}   max {max(t):7.1f}")


if __name__ == "__main__":
    main()
