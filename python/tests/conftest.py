"""Shared helpers of the package's tests: where the bundled labs are, and what /proc says.

The tests run from any directory; the labs are the repository's `topologies/`, or
`$NSHOST_TOPOLOGIES` (the unprivileged pass uses a world-readable copy).
"""

from __future__ import annotations

import os
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
    """The namespaces of a process, ``{"net": "net:[4026...]", ...}``."""
    out = {}
    for kind in ("user", "net", "mnt", "pid"):
        try:
            out[kind] = os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError:
            pass
    return out


def live_namespaces() -> set[str]:
    """Every namespace some process this user can see is in."""
    seen = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            seen.update(namespaces_of(int(entry)).values())
    return seen


@pytest.fixture
def small() -> Path:
    return topology("small.yaml")
