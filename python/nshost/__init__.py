"""nshost from Python: build a network lab in a sandbox, use it, tear it down.

    import nshost
    with nshost.Lab("topologies/small.yaml", sandbox=True) as lab:
        r = lab.exec("web1", ["ip", "-br", "addr"])
        assert r.returncode == 0 and "10.1.1.10" in r.stdout
        assert lab.check().passed

Each :class:`Lab` drives one ``nshost session`` process over a socket pair (the session
protocol, docs/src/protocol.md). The pytest plugin (``nshost.pytest_plugin``, registered
by the package's entry point) gives tests the ``nshost_lab`` fixture.
"""

from ._session import ENV_BIN, PROTOCOLS, find_binary
from .errors import (
    CLASSES,
    Error,
    ExecError,
    KernelError,
    LabFileError,
    NodeError,
    ProtocolError,
    SandboxError,
    SessionDied,
    class_of,
)
from .lab import Check, CheckResult, ExecResult, Lab

__all__ = [
    "CLASSES",
    "ENV_BIN",
    "PROTOCOLS",
    "Check",
    "CheckResult",
    "Error",
    "ExecError",
    "ExecResult",
    "KernelError",
    "Lab",
    "LabFileError",
    "NodeError",
    "ProtocolError",
    "SandboxError",
    "SessionDied",
    "class_of",
    "find_binary",
]

__version__ = "0.1.0"
