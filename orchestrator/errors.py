"""The orchestrator's exception tree; its root is `PystackError`.

Each package has its own tree with one documented root: `PystackError` here,
`pystack.runtime.errors.ContainerRuntimeError` and `pystack.net.errors.NetError`.  Every root
carries `message` and `hint` (how to fix it, when known).  No error chooses its exit code:
the CLI maps exception types to exit codes in ONE table (orchestrator/cli/exit_codes.py, the
README's "Exit codes"), and only the CLI prints or exits.

    PystackError
      OrchestratorError            planning or running a stack failed            (exit 1)
        UsageError                 a flag's or argument's value pystack cannot use  (exit 2)
        ConfigError                the stack file is invalid, every problem listed (exit 3)
          NoConfigFileError        no stack file was named and none was found      (exit 3)
        NotFoundError              a named object does not exist                  (exit 4)
        LockTimeoutError           the project is locked by another pystack       (exit 5)
"""

from __future__ import annotations

from pystack.net.errors import NetError
from pystack.runtime.errors import ContainerRuntimeError


class PystackError(Exception):
    """Root of the orchestrator's errors (runtime and net have roots of their own)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class OrchestratorError(PystackError):
    """Something went wrong while planning or running a stack."""


class UsageError(OrchestratorError):
    """The command line asks for something pystack cannot do (`--format '{{.Nope}}'`, a time
    it cannot read, `cp` without exactly one SERVICE:PATH): reported as click reports a bad
    flag, `Error: ...` after the usage line, exit 2."""


class ConfigError(OrchestratorError):
    """The stack file cannot be loaded; `problems` holds every message, each with file:line:col."""

    def __init__(self, problems: list[str], hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems), hint)


class NoConfigFileError(ConfigError):
    """No stack file was named (-f, COMPOSE_FILE) and none was found from the working
    directory up.  Commands that can act on the recorded state (`down -p NAME`) catch it."""


class NotFoundError(OrchestratorError):
    """A named service, container, image or network does not exist."""


class LockTimeoutError(OrchestratorError):
    """Another pystack process holds the project's lock and waiting for it timed out."""


# The roots of the three trees: what pystack reports as a message (the CLI) or collects as a
# failure (engine/parallel.py).  Any other exception is a bug, and goes up with its traceback.
KNOWN: tuple[type[PystackError], type[ContainerRuntimeError], type[NetError]] = (
    PystackError, ContainerRuntimeError, NetError)
KnownError = PystackError | ContainerRuntimeError | NetError
