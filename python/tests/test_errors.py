"""Errors: a missing or invalid lab file raises LabFileError with its code and location,
and every code of a command's error maps to its documented class."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, topology

import nshost
from nshost import errors

INVALID = "name: bad\nhosts:\n  a: {address: 10.0.0.1/33}\n"


def test_missing_file_raises_lab_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(nshost.LabFileError) as caught:
        nshost.Lab(missing)
    e = caught.value
    assert e.code == "nshost::read"
    assert str(missing) in e.message
    assert "No such file" in e.report
    assert str(missing) in e.report


def test_invalid_file_raises_lab_file_error_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID)
    with pytest.raises(nshost.LabFileError) as caught:
        nshost.Lab(bad)
    e = caught.value
    assert e.code == "nshost::invalid"
    assert e.problems[0]["code"] == "nshost::invalid_address"
    assert (e.problems[0]["line"], e.problems[0]["column"]) == (3, 16)
    assert f"{bad}:3:16" in e.report
    assert "is not an IP address with a prefix length" in e.report


def test_invalid_text_on_a_running_lab_leaves_it_running() -> None:
    with nshost.Lab(topology("small.yaml")) as lab:
        with pytest.raises(nshost.LabFileError) as caught:
            lab.apply(INVALID, name="edited.yaml")
        assert "edited.yaml:3:16" in caught.value.report
        assert lab.exec("web1", ["true"]).returncode == 0
        assert lab.check().passed


def test_unknown_node_raises_node_error() -> None:
    with nshost.Lab(topology("small.yaml")) as lab:
        with pytest.raises(nshost.NodeError) as caught:
            lab.exec("nosuch", ["true"])
        assert caught.value.code == "nshost::no_such_node"


def test_no_binary_raises_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "no-nshost"
    with pytest.raises(nshost.Error) as caught:
        nshost.Lab(binary=str(missing))
    assert caught.value.code == "nshost::spawn"
    assert str(missing) in caught.value.message


def test_session_that_dies_raises_session_died(tmp_path: Path) -> None:
    fake = tmp_path / "fake-nshost"
    fake.write_text("#!/bin/sh\necho 'it went wrong' >&2\nexit 7\n")
    fake.chmod(0o755)
    with pytest.raises(nshost.SessionDied) as caught:
        nshost.Lab(binary=str(fake))
    assert "exit status 7" in caught.value.message
    assert "it went wrong" in caught.value.report


def test_a_session_of_another_protocol_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake-nshost"
    fake.write_text('#!/bin/sh\necho \'{"hello": "nshost", "protocol": 99, "pid": 1}\'\nexec sleep 5\n')
    fake.chmod(0o755)
    with pytest.raises(nshost.ProtocolError) as caught:
        nshost.Lab(binary=str(fake))
    assert "protocol 99" in caught.value.message


def test_protocol_error_response_maps_to_protocol_error() -> None:
    with nshost.Lab() as lab:
        with pytest.raises(nshost.ProtocolError) as caught:
            lab._live().request("no-such-op")
        assert caught.value.code == "nshost::protocol"
        lab.apply(topology("small.yaml"))  # the session goes on
        assert lab.exec("web1", ["true"]).returncode == 0


def command_codes() -> list[str]:
    """The codes of commands' errors, from the book's page of codes: `read` and after."""
    page = (ROOT / "docs/src/reference/codes/README.md").read_text()
    codes = re.findall(r"^\| \[`nshost::([a-z_:]+)`\]", page, re.M)
    return codes[codes.index("read") :]


def test_every_command_code_has_its_documented_class() -> None:
    classified = {name for names in errors.CLASSES.values() for name in names} | errors.PLAIN
    unmapped = [c for c in command_codes() if c not in classified and not c.startswith("import::")]
    assert not unmapped, f"add these codes to nshost.errors.CLASSES or PLAIN: {unmapped}"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("nshost::read", nshost.LabFileError),
        ("nshost::yaml_syntax", nshost.LabFileError),
        ("nshost::unknown_field", nshost.LabFileError),
        ("nshost::invalid", nshost.LabFileError),
        ("nshost::sandbox", nshost.SandboxError),
        ("nshost::no_user_namespaces", nshost.SandboxError),
        ("nshost::kernel", nshost.KernelError),
        ("nshost::not_permitted", nshost.KernelError),
        ("nshost::no_such_node", nshost.NodeError),
        ("nshost::exec", nshost.ExecError),
        ("nshost::protocol", nshost.ProtocolError),
        ("nshost::session_died", nshost.SessionDied),
        ("nshost::bug", nshost.Error),
        ("nshost::import::read", nshost.Error),
    ],
)
def test_class_of(code: str, cls: type) -> None:
    assert nshost.class_of(code) is cls
    assert issubclass(cls, nshost.Error)


def test_a_session_that_cannot_make_its_sandbox_raises_sandbox_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake-nshost"
    fake.write_text(
        "#!/bin/sh\nprintf 'nshost::no_user_namespaces\\n\\n  \\342\\234\\227 user namespaces are off\\n' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    with pytest.raises(nshost.SandboxError) as caught:
        nshost.Lab(binary=str(fake))
    assert caught.value.code == "nshost::no_user_namespaces"
    assert "user namespaces are off" in caught.value.report
