"""Docker's restart policy, as the shim applies it when the container's PID 1 exits.

- `no`: never; `always` and `unless-stopped`: always; `on-failure[:N]`: on a non-zero exit,
  at most N times (no N: without limit).  A stop or kill asked by the user never restarts.
- Backoff: 100 ms before the first restart, doubled each time up to one minute, back to
  100 ms when the run lasted at least 10 s.
- A restart that fails to start counts as an exit (exit code 128, or 126/127), and the policy
  decides again: Docker keeps trying.

`should_restart` and `next_delay` are pure (unit-tested); `Restarter` is the mixin of shim.Shim
that records the exit and schedules the restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.launch import EXIT_SETUP
from pystack.runtime.logs import now_rfc3339
from pystack.runtime.spec import RestartPolicy

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0


def should_restart(policy: RestartPolicy, code: int, restart_count: int,
                   stopping: bool) -> bool:
    if stopping or policy.name == "no":
        return False
    if policy.name == "on-failure":
        if code == 0:
            return False
        return policy.max_retries is None or policy.max_retries <= 0 or \
            restart_count < policy.max_retries
    return True


def next_delay(backoff: float, ran: float) -> tuple[float, float]:
    """(the delay before this restart, the backoff to keep for the next one)."""
    delay = BACKOFF_START if ran >= BACKOFF_RESET_AFTER else backoff
    return delay, min(delay * 2, BACKOFF_MAX)


class Restarter:
    """The shim's side of the policy (a mixin of shim.Shim)."""

    policy: RestartPolicy
    stopping: bool
    backoff: float
    st: dict[str, Any]

    def save(self, **changes: Any) -> None:
        raise NotImplementedError

    def timer(self, delay: float, fn: Callable[[], None]) -> None:
        raise NotImplementedError

    def run_once(self) -> tuple[int, str] | None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def after_exit(self, code: int, ran: float, **fields: Any) -> None:
        """Record the exit and apply the restart policy, in ONE state write: a reader never
        sees "exited" for a container that is about to restart."""
        restart = should_restart(self.policy, code, int(self.st.get("restart_count", 0)),
                                 self.stopping)
        self.save(status="restarting" if restart else "exited", pid=0, exit_code=code,
                  finished_at=now_rfc3339(), **fields)
        if not restart:
            self.finish()
            return
        delay, self.backoff = next_delay(self.backoff, ran)
        self.timer(delay, self.restart)

    def restart(self) -> None:
        if self.stopping:
            self.finish()
            return
        self.st["restart_count"] = int(self.st.get("restart_count", 0)) + 1
        try:
            failure = self.run_once()
        except (ContainerRuntimeError, OSError) as e:
            failure = (EXIT_SETUP, str(e))
        if failure is not None:
            code, message = failure
            self.after_exit(code, 0.0, error=message)
