"""The builder's exception tree: every build failure is a BuildError, located when it can be.

`where` is "Dockerfile:LINE" (the file as the user named it); the message then reads
`Dockerfile:12: COPY: what is wrong`, and `hint` says how to fix it when we know.
"""

from __future__ import annotations

from pystack.runtime.errors import ContainerRuntimeError


class BuildError(ContainerRuntimeError):
    """A Dockerfile, context or build step problem."""

    def __init__(self, message: str, hint: str | None = None, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message, hint)
        self.where = where


class StepFailedError(BuildError):
    """A RUN step exited non-zero: its exit code and the last lines of its output."""

    def __init__(self, message: str, exit_code: int, tail: tuple[str, ...],
                 where: str | None = None) -> None:
        super().__init__(message, None, where)
        self.step_exit_code = exit_code
        self.tail = tail
