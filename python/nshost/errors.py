"""The errors nshost raises: one class per family of codes, each carrying the code.

Every error of the session (a response with ``"ok": false``) becomes an instance of
:class:`Error` or of one of its subclasses, chosen by its code (:data:`CLASSES` lists the
codes of each class; a code named in none is a lab file's problem when nshost reports it
for a lab file, so :class:`LabFileError`, and otherwise a plain :class:`Error`).
"""

from __future__ import annotations

from typing import Any


class Error(Exception):
    """An error nshost reported: its code, one-line message and full located report."""

    code: str
    message: str
    report: str
    body: dict[str, Any]

    def __init__(
        self,
        code: str,
        message: str,
        report: str = "",
        body: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.report = report or message
        self.body = body or {}
        super().__init__(f"{code}: {message}" if not report else f"{code}: {message}\n\n{report}")

    @property
    def problems(self) -> list[dict[str, Any]]:
        """The lab file's problems (code, message, file, line, column ...), if any."""
        error = self.body.get("error", self.body)
        problems = error.get("problems") if isinstance(error, dict) else None
        return list(problems or [])


class LabFileError(Error):
    """The lab file cannot be read, parsed or validated (a missing file included)."""


class SandboxError(Error):
    """nshost cannot make its sandbox (no user namespaces on this machine, for one)."""


class KernelError(Error):
    """The kernel refused or failed a request, or denied it (run as root), or an apply failed."""


class NodeError(Error):
    """No such lab, node or process, or the lab is not applied."""


class ExecError(Error):
    """Entering a node or running a command in it failed."""


class ProtocolError(Error):
    """The session and this client do not understand each other (``nshost::protocol``)."""


class SessionDied(Error):
    """The session process ended without answering (its standard error is the report)."""


#: The codes each subclass stands for. ``nshost::protocol`` and the client's own
#: ``nshost::session_died`` are raised by the client too.
CLASSES: dict[type[Error], frozenset[str]] = {
    LabFileError: frozenset({"read", "invalid", "warnings", "not_a_lab_file"}),
    SandboxError: frozenset({"sandbox", "no_user_namespaces"}),
    KernelError: frozenset(
        {
            "kernel",
            "not_permitted",
            "apply_failed",
            "verify",
            "conflict",
            "stray_entry",
            "record",
            "lock",
            "busy",
            "services",
            "workload",
        }
    ),
    NodeError: frozenset({"no_such_lab", "no_such_node", "ambiguous_node", "no_such_process", "not_applied"}),
    ExecError: frozenset({"exec", "spawn"}),
    ProtocolError: frozenset({"protocol"}),
    SessionDied: frozenset({"session_died"}),
}

#: Codes of commands' errors that have no subclass of their own: a plain :class:`Error`.
PLAIN: frozenset[str] = frozenset(
    {
        "write",
        "watched",
        "watch",
        "setuid",
        "bad_env_dir",
        "site_needed",
        "no_sites",
        "stale_plan",
        "bad_plan",
        "plan_version",
        "plan_bad_name",
        "plan_outside_lab",
        "pool",
        "bug",
        "check",
        "bad_check",
        "graphviz_missing",
        "graphviz_failed",
    }
)

_BY_NAME: dict[str, type[Error]] = {name: cls for cls, names in CLASSES.items() for name in names}


def class_of(code: str) -> type[Error]:
    """The class of an error of this code (``nshost::NAME``, or ``NAME`` alone).

    A code in :data:`CLASSES` gets its class; one in :data:`PLAIN` (or any ``import::``
    code) a plain :class:`Error`; any other code is one of a lab file's problems (a
    parse, schema or validation code), so :class:`LabFileError`.
    """
    name = code.removeprefix("nshost::")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in PLAIN or name.startswith("import::") or not name:
        return Error
    return LabFileError


def from_response(error: dict[str, Any]) -> Error:
    """The exception for a response's ``error`` object."""
    code = str(error.get("code") or "nshost::bug")
    cls = class_of(code)
    return cls(
        code,
        str(error.get("message", "")),
        str(error.get("report", "")),
        error.get("body") if isinstance(error.get("body"), dict) else None,
    )
