"""Shared helpers of the package's tests: where the bundled labs are, and what /proc says.

The tests run from any directory; the labs are the repository's `topologies/`, or
`$NSHOST_TOPOLOGIES` (the unprivileged pass uses a world-readable copy).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def topologies() -> Path:
    return Path(os.environ.get("NSHOST_TOPOLOGIES") or ROOT / "topologies")


def topology(name: str) -> Path:
    return topologies() / name


def descendants(pid: int) -> list[int]:
    """Every live process whose chain of parents reaches ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: read after its end.
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        parents[int(entry)] = int(fields[1])
    found = []
    for p in parents:
        q = p
        while q in parents and q not in (0, 1):
            q = parents[q]
            if q == pid:
                found.append(p)
                break
    return found


def namespaces_of(pid: int) -> dict[str, str]:
    """The namespaces of a process, ``{"net": "net:[4026...]", ...}`` (``pid_for_children``:
    the pid namespace its children are in)."""
    out = {}
    for kind in ("user", "net", "mnt", "pid_for_children"):
        try:
            out[kind] = os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError:
            pass
    return out


def holders(namespaces: dict[str, str], wait: float = 10.0) -> dict[int, str]:
    """The processes (pid: command line) still in any of ``namespaces``, after waiting up
    to ``wait`` seconds for them to go (a killed sandbox's init ends a moment after it)."""
    wanted = set(namespaces.values())
    deadline = time.monotonic() + wait
    while True:
        found = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and wanted & set(namespaces_of(int(entry)).values()):
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        found[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def small() -> Path:
    return topology("small.yaml")
