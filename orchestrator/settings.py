"""The orchestrator's settings: every PYSTACK_* variable the orchestrator reads, in one frozen
object, with the runtime's rule and defaults (runtime/settings.py `setting`: unset, empty and
blank mean the default); a bad value is an OrchestratorError naming the variable.  Read when
needed, never cached at import (tests set them per run).

    PYSTACK_ROOT          /var/lib/pystack   projects' intent logs, volumes
    PYSTACK_RUN           /run/pystack       project locks
    PYSTACK_LOCK_TIMEOUT  300 (seconds)      how long a command waits for the project's lock

The root and run defaults are the runtime's, so the orchestrator's state and the runtime's
containers always land under the same directories.  net keeps its own copy of the rule
(net/state.py Knobs): it may not import the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pystack.orchestrator.errors import OrchestratorError
from pystack.runtime.settings import DEFAULT_ROOT, DEFAULT_RUN, setting


@dataclass(frozen=True)
class Settings:
    root: Path
    run: Path
    lock_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        raw = setting("PYSTACK_LOCK_TIMEOUT", environ)
        try:
            timeout = float(raw) if raw is not None else 300.0
        except ValueError:
            raise OrchestratorError(f"PYSTACK_LOCK_TIMEOUT={raw!r} is not a number of seconds",
                                    hint="set it to a number of seconds, or unset it") from None
        return cls(root=Path(setting("PYSTACK_ROOT", environ) or DEFAULT_ROOT),
                   run=Path(setting("PYSTACK_RUN", environ) or DEFAULT_RUN),
                   lock_timeout=timeout)


def settings() -> Settings:
    """The orchestrator's settings, from the environment as it is now."""
    return Settings.from_env()
