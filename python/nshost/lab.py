"""``nshost.Lab``: a lab built and driven through one ``nshost session``."""

from __future__ import annotations

import atexit
import base64
import os
import socket as _socket
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ._session import Session, argv_list

LabSource = str | os.PathLike[str]

_DOMAINS: dict[int, str] = {
    _socket.AF_INET: "inet",
    _socket.AF_INET6: "inet6",
    _socket.AF_UNIX: "unix",
}
_TYPES: dict[int, str] = {
    _socket.SOCK_STREAM: "stream",
    _socket.SOCK_DGRAM: "dgram",
    _socket.SOCK_RAW: "raw",
}

# Every session still open, closed at exit (a Lab that was never closed nor collected).
_OPEN: weakref.WeakSet[Lab] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for lab in list(_OPEN):
        lab.close()


def lab_arguments(lab: LabSource, name: str | None = None, dir: LabSource | None = None) -> dict[str, Any]:
    """The protocol's arguments for a lab: ``file`` for a path, ``text`` for YAML text.

    A :class:`os.PathLike` is a path; a ``str`` holding a line break is YAML text; any
    other ``str`` is a path.
    """
    if isinstance(lab, str) and "\n" in lab:
        arguments: dict[str, Any] = {"text": lab}
        if name is not None:
            arguments["name"] = name
        if dir is not None:
            arguments["dir"] = str(Path(dir).absolute())
        return arguments
    return {"file": os.fspath(lab)}


@dataclass(frozen=True)
class ExecResult:
    """A command's end in a node, as :class:`subprocess.CompletedProcess` has it.

    ``returncode`` is the exit code, or minus the signal that killed it; ``stdout`` and
    ``stderr`` are text (UTF-8, undecodable bytes replaced), ``stdout_bytes`` and
    ``stderr_bytes`` the bytes.
    """

    node: str
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = field(repr=False)
    stderr_bytes: bytes = field(repr=False)
    signal: int | None = None
    timed_out: bool = False

    def check_returncode(self) -> None:
        """Raises :class:`AssertionError` with the output when the command failed."""
        if self.returncode != 0 or self.timed_out:
            raise AssertionError(
                f"{self.argv} in {self.node} exited {self.returncode}"
                f"{' (timed out)' if self.timed_out else ''}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            )


@dataclass(frozen=True)
class Check:
    """One check's result: where from, to what, what it expected and what happened."""

    source_node: str
    to: str
    destination: str
    probe: str
    port: int | None
    expect: str
    outcome: dict[str, Any]
    passed: bool

    @property
    def detail(self) -> str:
        """The check and its outcome, on one line."""
        what = self.probe if self.port is None else f"{self.probe}/{self.port}"
        outcome = self.outcome.get("result", "?")
        extra = self.outcome.get("error") or self.outcome.get("from") or ""
        ms = self.outcome.get("ms")
        got = f"{outcome}{' ' + str(extra) if extra else ''}{f' in {ms:.1f} ms' if isinstance(ms, (int, float)) else ''}"
        verdict = "ok" if self.passed else "FAILED"
        return f"{verdict}: {self.source_node} -> {self.to} ({self.destination}) {what}, expected {self.expect}, got {got}"


@dataclass(frozen=True)
class CheckResult:
    """The checks of a lab: ``passed`` when every one held; ``failures`` those that did not."""

    passed: bool
    checks: list[Check]
    document: dict[str, Any] = field(repr=False)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        counts = f"{len(self.checks) - len(self.failures)} passed, {len(self.failures)} failed"
        return "\n".join([c.detail for c in self.checks] + [counts])

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> CheckResult:
        checks = [
            Check(
                source_node=str(c.get("from", "")),
                to=str(c.get("to", "")),
                destination=str(c.get("destination", "")),
                probe=str(c.get("probe", "")),
                port=c.get("port"),
                expect=str(c.get("expect", "")),
                outcome=dict(c.get("outcome") or {}),
                passed=bool(c.get("passed")),
            )
            for c in document.get("checks", [])
        ]
        return cls(
            passed=int(document.get("failed", 0)) == 0 and all(c.passed for c in checks),
            checks=checks,
            document=document,
        )


class Lab:
    """A lab built by a session of its own; a context manager.

    ``Lab(lab)`` starts ``nshost session --sandbox`` (``sandbox=False``: ``nshost
    session``, on this machine, as root) and applies ``lab``: a path, or YAML text (a
    ``str`` with a line break). ``Lab()`` applies nothing yet. :meth:`close` (or leaving
    the ``with`` block, or the object being collected, or the interpreter's exit) ends the
    session, which destroys every lab it applied.
    """

    def __init__(
        self,
        lab: LabSource | None = None,
        sandbox: bool = True,
        *,
        binary: str | None = None,
        cwd: LabSource | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self._session: Session | None = None
        self._session = Session(sandbox, binary=binary, cwd=cwd, env=dict(env) if env is not None else None)
        self._current: dict[str, Any] | None = None
        self.applied: dict[str, Any] | None = None
        _OPEN.add(self)
        if lab is not None:
            try:
                self.apply(lab)
            except BaseException:
                self.close()
                raise

    # -- the session ------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The session process's pid (as this process sees it)."""
        return self._live().pid

    @property
    def name(self) -> str | None:
        """The current lab's name, once applied."""
        if self.applied is None:
            return None
        plan = self.applied.get("plan")
        name = self.applied.get("lab") or (plan.get("lab") if isinstance(plan, dict) else None)
        return str(name) if name else None

    @property
    def session_stderr(self) -> str:
        """What the session wrote on its standard error (its diagnostics)."""
        return "" if self._session is None else self._session.stderr

    def _live(self) -> Session:
        if self._session is None or self._session.closed:
            from .errors import SessionDied

            raise SessionDied("nshost::session_died", "the lab is closed")
        return self._session

    def _request(self, op: str, **arguments: Any) -> dict[str, Any]:
        result, fd = self._live().request(op, **arguments)
        if fd is not None:
            os.close(fd)
        return result

    # -- labs -------------------------------------------------------------------------

    def apply(
        self, lab: LabSource, *, name: str | None = None, dir: LabSource | None = None
    ) -> dict[str, Any]:
        """Applies a lab (a path or YAML text): builds it, or reconciles the running lab to
        it. Returns the document ``nshost apply --output json`` prints."""
        arguments = lab_arguments(lab, name, dir)
        result = self._request("apply", **arguments)
        self._current = arguments
        self.applied = result
        return result

    def plan(
        self, lab: LabSource | None = None, *, name: str | None = None, dir: LabSource | None = None
    ) -> dict[str, Any]:
        """The plan from the kernel to ``lab`` (default: the lab last applied), as ``nshost
        plan --output json`` prints it."""
        if lab is None:
            if self._current is None:
                raise ValueError("plan() needs a lab: none was applied yet")
            arguments = self._current
        else:
            arguments = lab_arguments(lab, name, dir)
        return self._request("plan", **arguments)

    def status(self) -> dict[str, Any]:
        """The current lab's status, as ``nshost status --output json`` prints it."""
        return self._request("status")

    def status_text(self) -> str:
        """The current lab's status, the table for people."""
        return str(self._request("status", format="text").get("text", ""))

    def check(self, wait: float | None = None) -> CheckResult:
        """Runs the lab's checks; with ``wait`` (seconds), retries until they pass or that
        much time has passed."""
        arguments: dict[str, Any] = {}
        if wait is not None:
            arguments["wait_ms"] = int(wait * 1000)
        return CheckResult.from_document(self._request("check", **arguments))

    def check_text(self, wait: float | None = None) -> str:
        """The checks' report for people."""
        arguments: dict[str, Any] = {"format": "text"}
        if wait is not None:
            arguments["wait_ms"] = int(wait * 1000)
        return str(self._request("check", **arguments).get("text", ""))

    def destroy(self) -> dict[str, Any]:
        """Destroys the current lab (the session goes on); the document ``nshost destroy
        --output json`` prints."""
        result = self._request("destroy")
        self._current = None
        self.applied = None
        return result

    # -- nodes ------------------------------------------------------------------------

    def exec(
        self,
        node: str,
        argv: str | Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Runs a command in a node, as ``nshost exec NODE -- ARGV`` does; waits for it."""
        words = argv_list(argv)
        arguments: dict[str, Any] = {"node": node, "argv": words}
        if input is not None:
            data = input.encode() if isinstance(input, str) else bytes(input)
            arguments["stdin_base64"] = base64.b64encode(data).decode()
        if timeout is not None:
            arguments["timeout_ms"] = int(timeout * 1000)
        if env is not None:
            arguments["env"] = dict(env)
        r = self._request("exec", **arguments)
        out = base64.b64decode(r.get("stdout_base64") or "")
        err = base64.b64decode(r.get("stderr_base64") or "")
        code = r.get("code")
        signal = r.get("signal")
        returncode = int(code) if code is not None else -int(signal or 0) or -1
        return ExecResult(
            node=node,
            argv=words,
            returncode=returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            stdout_bytes=out,
            stderr_bytes=err,
            signal=signal,
            timed_out=bool(r.get("timed_out")),
        )

    def logs(self, node: str) -> str:
        """What ``nshost logs NODE`` prints: the node's processes' output."""
        return str(self._request("logs", node=node).get("text", ""))

    def socket(
        self,
        node: str,
        family: int | str = _socket.AF_INET,
        type: int | str = _socket.SOCK_STREAM,
        proto: int = 0,
    ) -> _socket.socket:
        """A socket made inside ``node``'s network namespace (it stays there, whatever this
        process's namespace is): bind, connect, send as in the node."""
        domain = family if isinstance(family, str) else _DOMAINS[family]
        kind = type if isinstance(type, str) else _TYPES[type]
        arguments: dict[str, Any] = {"node": node, "domain": domain, "type": kind}
        if proto:
            arguments["protocol"] = proto
        result, fd = self._live().request("socket", **arguments)
        if fd is None:
            from .errors import ProtocolError

            raise ProtocolError("nshost::protocol", f"the socket response carried no descriptor: {result}")
        return _socket.socket(fileno=fd)

    def netns(self, node: str) -> int:
        """A descriptor of ``node``'s network namespace (for ``setns``, on a thread of its
        own; needs ``CAP_SYS_ADMIN`` in this process's user namespace). The caller closes it."""
        result, fd = self._live().request("netns", node=node)
        if fd is None:
            from .errors import ProtocolError

            raise ProtocolError("nshost::protocol", f"the netns response carried no descriptor: {result}")
        return fd

    # -- the end ----------------------------------------------------------------------

    def close(self) -> dict[str, Any] | None:
        """Ends the session: every lab it applied is destroyed, every process it started
        stopped. Returns the shutdown's result (``None`` if already closed)."""
        session, self._session = self._session, None
        _OPEN.discard(self)
        if session is None:
            return None
        return session.shutdown()

    def kill(self) -> None:
        """Ends the session with ``SIGKILL`` (a sandbox dies with it)."""
        session, self._session = self._session, None
        _OPEN.discard(self)
        if session is not None:
            session.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._session is None else f"session pid {self._session.pid}"
        return f"<nshost.Lab {self.name or '(none applied)'} sandbox={self.sandbox} {state}>"
