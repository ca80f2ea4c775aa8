"""One `nshost session` process and the JSON lines exchanged with it.

The session's standard input and output are one end of a Unix socket pair (so a response
can carry a file descriptor, ``SCM_RIGHTS``); its standard error is read by a thread and
kept (the last 64 KiB), to explain a session that dies. Requests are sent one at a time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import Error, ProtocolError, SessionDied, class_of, from_response

#: The protocol versions this client speaks.
PROTOCOLS = (1,)

#: The environment variable naming the nshost binary to run.
ENV_BIN = "NSHOST_BIN"

_STDERR_KEEP = 64 * 1024


def find_binary() -> str:
    """The nshost binary: ``$NSHOST_BIN``, else the one installed with this package (the
    environment's scripts directory), else ``nshost`` on ``PATH``."""
    env = os.environ.get(ENV_BIN)
    if env:
        return env
    candidates = [Path(sysconfig.get_path("scripts")) / "nshost"]
    candidates.append(Path(sys.executable).parent / "nshost")
    user = sysconfig.get_path("scripts", f"{os.name}_user")
    if user:
        candidates.append(Path(user) / "nshost")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nshost")
    if found:
        return found
    raise Error(
        "nshost::spawn",
        "cannot find the nshost binary: set NSHOST_BIN, or install the package with pip "
        "(its wheel ships the binary), or put nshost on PATH",
    )


class Session:
    """A running ``nshost session``: :meth:`request` sends one request and returns its
    result (and the file descriptor that came with it, if any)."""

    def __init__(
        self,
        sandbox: bool,
        *,
        binary: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.binary = binary or find_binary()
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [self.binary, "session"] + (["--sandbox"] if sandbox else [])
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                close_fds=True,
            )
        except OSError as e:
            self._sock.close()
            raise Error("nshost::spawn", f"cannot run {self.binary}: {e}") from e
        finally:
            theirs.close()
        self._stderr = bytearray()
        self._stderr_thread = threading.Thread(
            target=self._read_stderr, name="nshost-session-stderr", daemon=True
        )
        self._stderr_thread.start()
        self._buffer = b""
        self._fds: list[int] = []
        self._next_id = 1
        self._lock = threading.Lock()
        self.closed = False
        self.hello: dict[str, Any] = {}
        hello = self._read_line()
        if hello.get("hello") != "nshost":
            if hello.get("ok") is False and isinstance(hello.get("error"), dict):
                self.kill()
                raise from_response(hello["error"])
            self.kill()
            raise ProtocolError("nshost::protocol", f"the session's first line is not a hello: {hello}")
        if hello.get("protocol") not in PROTOCOLS:
            self.kill()
            raise ProtocolError(
                "nshost::protocol",
                f"the session speaks protocol {hello.get('protocol')}, this client {PROTOCOLS}",
            )
        self.hello = hello
        self.pid: int = int(hello.get("pid") or self.process.pid)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        fd = self.process.stderr.fileno()
        for chunk in iter(lambda: os.read(fd, 4096), b""):
            self._stderr += chunk
            if len(self._stderr) > _STDERR_KEEP:
                del self._stderr[: len(self._stderr) - _STDERR_KEEP]

    @property
    def stderr(self) -> str:
        """What the session wrote on its standard error so far (the last 64 KiB)."""
        return self._stderr.decode("utf-8", "replace")

    def _died(self) -> Error:
        """The error for a session that closed its end: its diagnostics, with their code."""
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr_thread.join(timeout=5)
        self.closed = True
        text = self.stderr.strip()
        # A session that cannot start (no sandbox here, say) says why with a code.
        found = None if self.hello else re.search(r"nshost::[a-z_:]+", text)
        if found and class_of(found.group(0)) is not Error:
            first = next((line.strip(" ×") for line in text.splitlines()[1:] if line.strip()), text)
            return class_of(found.group(0))(found.group(0), first, text)
        return SessionDied(
            "nshost::session_died",
            f"the nshost session (pid {self.process.pid}) ended, exit status {code}",
            text,
        )

    def _read_line(self) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._sock, 65536, 16)
            except OSError:
                data, fds = b"", []
            self._fds.extend(fds)
            if not data:
                raise self._died()
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            value = json.loads(line)
        except ValueError as e:
            raise ProtocolError(
                "nshost::protocol", f"the session sent a line that is not JSON: {line[:200]!r}"
            ) from e
        if not isinstance(value, dict):
            raise ProtocolError(
                "nshost::protocol", f"the session sent a line that is not an object: {line[:200]!r}"
            )
        return value

    def request(self, op: str, **arguments: Any) -> tuple[dict[str, Any], int | None]:
        """Sends ``op`` with its arguments; returns the result and the descriptor that came
        with it (``None`` if none). Raises the :class:`Error` the session answered with."""
        with self._lock:
            if self.closed:
                raise SessionDied("nshost::session_died", "the session is closed")
            ident = self._next_id
            self._next_id += 1
            line = json.dumps({"id": ident, "op": op, **arguments}) + "\n"
            try:
                self._sock.sendall(line.encode())
            except OSError:
                raise self._died() from None
            response = self._read_line()
            fds, self._fds = self._fds, []
            fd = fds[0] if fds else None
            for extra in fds[1:]:
                os.close(extra)
            if response.get("id") != ident:
                if fd is not None:
                    os.close(fd)
                raise ProtocolError(
                    "nshost::protocol", f"a response to request {ident} carries id {response.get('id')}"
                )
            if response.get("ok"):
                result = response.get("result")
                return (result if isinstance(result, dict) else {"value": result}), fd
            if fd is not None:
                os.close(fd)
            error = response.get("error")
            raise from_response(
                error if isinstance(error, dict) else {"code": "nshost::protocol", "message": str(response)}
            )

    def shutdown(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """Asks the session to destroy everything and exit; waits for it. ``None`` if it
        was already gone."""
        if self.closed:
            return None
        result: dict[str, Any] | None = None
        try:
            result, _ = self.request("shutdown")
        except SessionDied:
            pass  # already gone: nothing to shut down
        finally:
            self.closed = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._stderr_thread.join(timeout=5)
            if self.process.stderr is not None:
                self.process.stderr.close()
        return result

    def kill(self) -> None:
        """Ends the session at once (``SIGKILL``): with a sandbox, the kernel tears down
        everything in it; without one, labs applied on the machine stay."""
        self.closed = True
        try:
            self._sock.close()
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self._stderr_thread.join(timeout=5)
            if self.process.stderr is not None:
                self.process.stderr.close()


def argv_list(argv: str | Sequence[str]) -> list[str]:
    """A command as a list of strings (a string is one word, the program, as subprocess)."""
    if isinstance(argv, str):
        return [argv]
    return [os.fspath(a) for a in argv]
