"""The package as an unprivileged user: as root, the whole suite runs again as `nobody`
(setpriv) on a world-readable copy; as anyone else, a script drives a lab as that user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
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
    # It must also run itself again as nobody (pyenv's, under /root, starts but cannot).
    again = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import json'], check=True)"
    probe = subprocess.run([*NOBODY, python, "-c", again], check=False, capture_output=True)
    return probe.returncode == 0


def test_unprivileged_user_builds_edits_and_tears_down() -> None:
    """As the current user when not root; as root, a copy of the package and its tests'
    whole suite runs as nobody (below), this one included."""
    if os.geteuid() == 0:
        whole_suite_as_nobody()
        return
    with tempfile.TemporaryDirectory(prefix="nshost-py-unprivileged-") as tmp:
        lab = shutil.copy(topology("small.yaml"), Path(tmp) / "small.yaml")
        (Path(tmp) / "check.py").write_text(SCRIPT)
        out = subprocess.run(
            [os.environ.get("NSHOST_TEST_PYTHON", sys.executable), str(Path(tmp) / "check.py"), str(lab)],
            check=False,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"unprivileged: ok, uid {os.geteuid()}" in out.stdout


LABS = ["small.yaml", "full.yaml", "two-sites.yaml", "enterprise.yaml", "ospf.yaml", "ospf/bird.conf"]


def whole_suite_as_nobody() -> None:
    """Copies the installed packages (nshost, pytest and theirs), the binary, these tests,
    the bundled labs and the codes' page into a world-readable directory, and runs the
    suite there as nobody, with an interpreter nobody can run."""
    candidates = [
        sys.executable,
        getattr(sys, "_base_executable", ""),
        "/usr/bin/python3",
        shutil.which("python3") or "",
    ]
    pythons = [p for p in dict.fromkeys(os.path.realpath(c) for c in candidates if c) if runs_as_nobody(p)]
    assert pythons, f"no Python that nobody can run among {candidates}"
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="nshost-py-nobody-") as tmp:
        dir = Path(tmp)
        # pytest's site-packages (with nshost's dist-info: the plugin's entry point), and the
        # nshost package this run imports (the installed one, or a source tree's).
        site = Path(pytest.__file__).resolve().parents[1]
        skip = shutil.ignore_patterns("__pycache__", "pip", "pip-*", "setuptools*", "_distutils_hack")
        shutil.copytree(site, dir / "site", ignore=skip)
        package = Path(nshost.__file__).resolve().parent
        shutil.copytree(package, dir / "site" / "nshost", ignore=skip, dirs_exist_ok=True)
        binary = shutil.copy(nshost.find_binary(), dir / "nshost-bin")
        shutil.copytree(here, dir / "python" / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        for lab in LABS:
            (dir / "topologies" / lab).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(topology(lab), dir / "topologies" / lab)
        codes = Path("docs/src/reference/codes/README.md")
        (dir / codes).parent.mkdir(parents=True)
        shutil.copy(here.parents[1] / codes, dir / codes)
        for path in [dir, *dir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or path.name == "nshost-bin" else 0o644)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(dir / "site"),
            "NSHOST_BIN": str(binary),
            "HOME": str(dir),
            "NSHOST_TEST_PYTHON": pythons[0],
        }
        out = subprocess.run(
            [*NOBODY, pythons[0], "-m", "pytest", "python/tests", "-p", "no:cacheprovider", "-q"],
            check=False,
            cwd=dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stdout[-20000:] + out.stderr[-5000:]
        assert " passed" in out.stdout and " failed" not in out.stdout
