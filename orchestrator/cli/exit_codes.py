"""THE exit-code table: exception type -> exit code, for every package's errors.

No error carries its own exit code; this table is the only place that decides, and README.md's
"Exit codes" table is this table.  The first matching row wins, so subclasses come before
their bases; an error of any package's tree that matches no row is an operation that failed
(1).  The error modules are tiny: importing them keeps `pystack --help` fast.

    0  success
    1  an operation failed (a container, network or image step)     any other known error
    2  usage error (bad flags, values pystack cannot use)            click, UsageError
    3  the stack file is invalid (every problem listed)              ConfigError
    4  a named object does not exist                                 *NotFoundError
    5  the project is locked by another pystack process              LockTimeoutError
"""

from __future__ import annotations

from functools import cache

from pystack.net.errors import NetworkNotFoundError, SandboxNotFoundError
from pystack.orchestrator.errors import (
    KNOWN,
    ConfigError,
    LockTimeoutError,
    NotFoundError,
    UsageError,
)
from pystack.runtime.errors import ContainerNotFoundError, ImageNotFoundError

FAILED = 1
USAGE = 2

__all__ = ["FAILED", "KNOWN", "USAGE", "exit_code", "table"]


@cache
def table() -> tuple[tuple[type[Exception], int], ...]:
    return (
        (UsageError, USAGE),
        (ConfigError, 3),
        (NotFoundError, 4),
        (ImageNotFoundError, 4),
        (ContainerNotFoundError, 4),
        (NetworkNotFoundError, 4),
        (SandboxNotFoundError, 4),
        (LockTimeoutError, 5),
    )


def exit_code(exc: BaseException) -> int:
    """The exit code of a known error (1 unless the table says otherwise)."""
    return next((code for kind, code in table() if isinstance(exc, kind)), FAILED)
