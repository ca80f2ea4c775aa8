"""The package as an unprivileged user: as root, a copy of the package, the binary and a
lab (world-readable) is driven as `nobody` (setpriv); as anyone else, as that user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import topology

import nshost

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]

SCRIPT = r"""
import os, sys
import nshost

def children():
    mine = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                mine.append(int(entry))
    return mine

assert os.geteuid() != 0, "this part runs unprivileged"
lab_file = sys.argv[1]
with nshost.Lab(lab_file, sandbox=True) as lab:
    pid = lab.pid
    r = lab.exec("web1", ["ip", "-br", "addr"])
    assert r.returncode == 0 and "10.1.1.10/24" in r.stdout, r
    assert lab.check().passed
    text = open(lab_file).read().replace(
        "  pc2: {address: 10.2.2.10/24}",
        "  pc2: {address: 10.2.2.10/24}\n  pc3: {address: 10.2.2.11/24}",
    )
    lab.apply(text)
    assert "10.2.2.11/24" in lab.exec("pc3", ["ip", "-br", "addr"]).stdout
    assert lab.check().passed
    try:
        nshost.Lab("missing.yaml")
    except nshost.LabFileError as e:
        assert e.code == "nshost::read", e
    else:
        raise AssertionError("a missing file did not raise")
assert not os.path.exists(f"/proc/{pid}")
assert children() == [], children()
print("unprivileged: ok, uid", os.geteuid())
"""


def runs_as_nobody(python: str) -> bool:
    probe = subprocess.run(NOBODY + [python, "-c", "import json, socket"], capture_output=True)
    return probe.returncode == 0


def test_unprivileged_user_builds_edits_and_tears_down() -> None:
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="nshost-py-unprivileged-") as tmp:
        dir = Path(tmp)
        dir.chmod(0o755)
        shutil.copytree(
            Path(nshost.__file__).parent, dir / "nshost", ignore=shutil.ignore_patterns("__pycache__")
        )
        binary = shutil.copy(nshost.find_binary(), dir / "nshost-bin")
        lab = shutil.copy(topology("small.yaml"), dir / "small.yaml")
        (dir / "check.py").write_text(SCRIPT)
        for path in dir.rglob("*"):
            path.chmod(0o755 if path.is_dir() or path.name == "nshost-bin" else 0o644)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(dir),
            "NSHOST_BIN": str(binary),
            "HOME": str(dir),
        }
        if root:
            candidates = [
                sys.executable,
                getattr(sys, "_base_executable", ""),
                "/usr/bin/python3",
                shutil.which("python3") or "",
            ]
            pythons = [
                p for p in dict.fromkeys(os.path.realpath(c) for c in candidates if c) if runs_as_nobody(p)
            ]
            assert pythons, f"no Python that nobody can run among {candidates}"
            argv = NOBODY + [pythons[0]]
        else:
            argv = [sys.executable]
        out = subprocess.run(
            argv + [str(dir / "check.py"), str(lab)],
            cwd=dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "unprivileged: ok, uid" in out.stdout
        assert root is False or "uid 65534" in out.stdout
