"""The orchestrator's exception tree.  Only the CLI turns these into messages and exit codes.

Exit codes (documented in README.md):
  0  success
  1  an operation failed (a container, network or image step)
  2  usage error (bad flags; raised by click)
  3  the stack file is invalid (every problem is listed)
  4  a named object does not exist (service, container, image)
  5  the project is locked by another pystack process and waiting timed out
"""

from __future__ import annotations


class PystackError(Exception):
    """Base of every error pystack reports to the user (any package)."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class OrchestratorError(PystackError):
    """Something went wrong while planning or running a stack."""


class ConfigError(OrchestratorError):
    """The stack file cannot be loaded; `problems` holds every message, each with file:line:col."""

    exit_code = 3

    def __init__(self, problems: list[str], hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems), hint)


class NotFoundError(OrchestratorError):
    exit_code = 4


class LockTimeoutError(OrchestratorError):
    exit_code = 5
