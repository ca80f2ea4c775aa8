"""The bundled labs built in sandboxes through `nshost.Lab`: exec, check, edit, re-apply,
and nothing left behind once closed."""

from __future__ import annotations

import os
import socket
import time

import pytest
from conftest import descendants, holders, namespaces_of, topology

import nshost

# Each bundled lab the sandbox can build, a node of it and an address that node has.
BUNDLED = [
    ("small.yaml", "web1", "10.1.1.10/24"),
    ("two-sites.yaml", None, None),
    ("full.yaml", "pc", "10.10.0.20/24"),
    ("enterprise.yaml", None, None),
    ("ospf.yaml", "r1", None),
]


def first_node(status: dict) -> str:
    nodes = status["status"].get("nodes") or []
    assert nodes, f"the status names no node: {status}"
    node = nodes[0]
    return node["name"] if isinstance(node, dict) else str(node)


@pytest.mark.parametrize(("lab_file", "node", "address"), BUNDLED, ids=[b[0] for b in BUNDLED])
def test_bundled_lab_builds_execs_and_checks(lab_file: str, node: str | None, address: str | None) -> None:
    with nshost.Lab(topology(lab_file), sandbox=True) as lab:
        status = lab.status()
        node = node or first_node(status)
        r = lab.exec(node, ["ip", "-br", "addr"])
        assert r.returncode == 0, r.stderr
        assert "lo " in r.stdout or r.stdout.startswith("lo")
        if address:
            assert address in r.stdout
        checks = lab.check(wait=20)
        assert checks.checks, "the lab has checks (declared or derived)"
        if lab_file != "full.yaml":
            assert checks.passed, str(checks)
        text = lab.status_text()
        assert lab.name and lab.name in text


def test_full_lab_failures_carry_their_detail() -> None:
    # full.yaml's derived checks include two that its own firewall and impairments defeat.
    with nshost.Lab(topology("full.yaml")) as lab:
        result = lab.check()
        assert not result.passed
        assert result.failures
        for failure in result.failures:
            assert failure.detail.startswith("FAILED: ")
            assert failure.outcome.get("result"), failure
        assert "failed" in str(result)


def test_exec_input_exit_codes_stderr_and_timeout(small) -> None:
    with nshost.Lab(small) as lab:
        r = lab.exec("web1", ["cat"], input="hello\n")
        assert (r.returncode, r.stdout) == (0, "hello\n")
        r = lab.exec("web1", ["sh", "-c", "echo oops >&2; exit 3"])
        assert (r.returncode, r.stdout, r.stderr) == (3, "", "oops\n")
        started = time.monotonic()
        r = lab.exec("web1", ["sleep", "30"], timeout=0.5)
        assert r.timed_out and r.returncode != 0
        assert time.monotonic() - started < 20
        r = lab.exec("pc1", ["no-such-program"])
        assert r.returncode == 127 and "no-such-program" in r.stderr


def test_edit_and_reapply(small) -> None:
    text = small.read_text()
    edited = text.replace(
        "  pc2: {address: 10.2.2.10/24}", "  pc2: {address: 10.2.2.10/24}\n  pc3: {address: 10.2.2.11/24}"
    )
    assert edited != text
    with nshost.Lab(small) as lab:
        with pytest.raises(nshost.NodeError):
            lab.exec("pc3", ["true"])
        lab.apply(edited)
        r = lab.exec("pc3", ["ip", "-br", "addr"])
        assert "10.2.2.11/24" in r.stdout
        assert lab.check().passed
        plan = lab.plan()
        assert not plan.get("changes"), plan
        # Back to the file: pc3 goes.
        lab.apply(small)
        with pytest.raises(nshost.NodeError):
            lab.exec("pc3", ["true"])
        assert lab.check().passed


def test_socket_made_in_a_node() -> None:
    with nshost.Lab(topology("small.yaml")) as lab:
        server = lab.socket("web1", socket.AF_INET, socket.SOCK_DGRAM)
        client = lab.socket("pc1", "inet", "dgram")
        with server, client:
            server.bind(("10.1.1.10", 5353))
            server.settimeout(10)
            client.sendto(b"ping", ("10.1.1.10", 5353))
            data, peer = server.recvfrom(100)
            assert (data, peer[0]) == (b"ping", "10.2.1.10")


def test_nothing_left_after_close(small) -> None:
    before = set(descendants(os.getpid()))
    lab = nshost.Lab(small)
    pid = lab.pid
    namespaces = namespaces_of(pid)
    assert namespaces and namespaces["net"] != namespaces_of(os.getpid())["net"]
    assert set(descendants(os.getpid())) - before, "the session runs as a child of the test"
    lab.exec("web1", ["true"])
    result = lab.close()
    assert result is not None and result["destroyed"] == ["small"], result
    assert not os.path.exists(f"/proc/{pid}"), "the session's pid is gone"
    assert set(descendants(os.getpid())) - before == set(), "no process of the test is left"
    assert holders(namespaces) == {}, "no process is left in the sandbox's namespaces"
    assert lab.close() is None
    with pytest.raises(nshost.SessionDied):
        lab.status()


def test_killed_session_leaves_nothing(small) -> None:
    before = set(descendants(os.getpid()))
    lab = nshost.Lab(small)
    namespaces = namespaces_of(lab.pid)
    lab.kill()
    assert set(descendants(os.getpid())) - before == set()
    assert holders(namespaces) == {}


def test_collected_lab_is_closed(small) -> None:
    before = set(descendants(os.getpid()))
    lab = nshost.Lab(small)
    pid = lab.pid
    del lab
    assert not os.path.exists(f"/proc/{pid}")
    assert set(descendants(os.getpid())) - before == set()
