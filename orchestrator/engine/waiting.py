"""Waiting for containers to be ready: `up --wait` (every started container) and
`depends_on: {condition: service_healthy}` (a dependency's containers).

Ready is Compose's rule: healthy when the container has a healthcheck, else running.  What
Compose leaves to a silent wait until the timeout ends here at once, with the reason:

- it exited and no restart is coming: `container demo-web-1 exited (3)` (for `up --wait`, an
  exit 0 of a container without a restart policy is done: a one-shot job; Compose fails it
  unless a dependent asks for service_completed_successfully);
- it reports unhealthy: `container demo-web-1 is unhealthy`;
- it is in a crash loop: its restart policy restarted it CRASH_LOOP times since the wait
  began: `container demo-web-1 is in a crash loop: restarted 3 times, last exit code 3`;
- its shim died (unsupervised): nobody can tell its health or exit any more.
The messages carry the container's last log lines.  A container without a healthcheck whose
restart policy can restart it counts as running only after SETTLE seconds of one run (else a
crash loop would pass during one of its short runs).  The timeout covers the whole wait:
`application not healthy after 2s` (Compose's words) with what each container still was.

The loop polls the runtime's state every `poll` seconds on the stack's cancel event (Ctrl-C
ends it at once); the clock and the poll are parameters for the unit tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pystack.runtime.api import ContainerState

if TYPE_CHECKING:
    from pystack.orchestrator.engine.plan import Existing
    from pystack.orchestrator.engine.stack import Stack

CRASH_LOOP = 3                          # restarts during the wait that make a crash loop
SETTLE = 1.0                            # seconds of one run that make a restartable container up


@dataclass
class Watched:
    """One container being waited on."""

    name: str
    id: str
    service: str
    health: bool                        # it has a healthcheck
    restarts: bool                      # its restart policy can restart it
    exit_ok: bool = False               # an exit 0 is done (`up --wait` of a one-shot)
    baseline: int = -1                  # restart count when the wait began (-1: not yet seen)
    run: tuple[str, int, float] | None = None   # (started_at, restart count, first seen)
    shown_restarts: int = 0
    last_exit: int | None = None        # the last exit code seen (a running one has none)


@dataclass(frozen=True)
class Verdict:
    state: str                          # wait | ready | failed
    why: str = ""                       # the message (failed)
    short: str = ""                     # the progress line's detail


WAIT = Verdict("wait")


@dataclass(frozen=True)
class Failure:
    kind: str                           # failed | timeout | interrupted | no-healthcheck
    why: str                            # `container x exited (3)` + its last log lines


def judge(w: Watched, st: ContainerState, now: float) -> Verdict:
    """What one look at the container's state says (pure: unit-tested)."""
    if w.baseline < 0:
        w.baseline = st.restart_count
    restarted = st.restart_count - w.baseline
    if st.exit_code is not None:
        w.last_exit = st.exit_code
    if not st.supervised and st.status in ("running", "restarting", "paused"):
        from pystack.orchestrator.engine.stack import unsupervised

        return Verdict("failed", unsupervised(w.name), "unsupervised")
    if restarted >= CRASH_LOOP:
        code = "" if w.last_exit is None else f", last exit code {w.last_exit}"
        return Verdict("failed", f"container {w.name} is in a crash loop: restarted "
                       f"{restarted} times{code}",
                       f"crash loop ({restarted} restarts{code.replace(', last', ',')})")
    if st.status in ("exited", "dead"):
        if w.exit_ok and st.exit_code == 0:
            return Verdict("ready", short="Exited")
        return Verdict("failed", f"container {w.name} exited ({st.exit_code})",
                       f"exited ({st.exit_code})")
    health = st.health.status if st.health else None
    if w.health:
        if health == "healthy" and st.status == "running":
            return Verdict("ready")
        if health == "unhealthy":
            return Verdict("failed", f"container {w.name} is unhealthy", "is unhealthy")
        return WAIT
    if st.status != "running":
        w.run = None
        return WAIT
    if not w.restarts:
        return Verdict("ready")
    here = (st.started_at, st.restart_count)
    if w.run is None or w.run[:2] != here:
        w.run = (*here, now)
    return Verdict("ready") if now - w.run[2] >= SETTLE else WAIT


def what_it_is(st: ContainerState | None) -> str:
    """`starting` / `restarting` ... for the timeout message."""
    if st is None:
        return "unknown"
    if st.status == "running" and st.health:
        return f"running, health {st.health.status}"
    return st.status


def go_duration(seconds: float) -> str:
    """Go's time.Duration text for whole and fractional seconds: 2s, 2.5s, 1m30s."""
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:g}s" if rest or not minutes else ""
    return f"{int(minutes)}m{text}" if minutes else text


def wait_ready(stack: Stack, targets: Sequence[Existing], timeout: float | None, *,
               need_health: bool = False, clock: Callable[[], float] = time.monotonic,
               poll: float | None = None) -> dict[str, Failure]:
    """Wait until every target is ready or failed; return {container name: Failure} of
    those that are not ready (a timeout: `container x is restarting`).  `need_health`: a
    dependency's wait (service_healthy) asks for a healthcheck."""
    from pystack.orchestrator.engine.stack import POLL

    rt = stack.b.runtime
    watched = []
    for e in targets:
        spec = rt.spec(e.id)
        restarts = spec.restart.name != "no"
        watched.append(Watched(e.name, e.id, e.service, stack.has_healthcheck(e.id),
                               restarts, exit_ok=not need_health and not restarts))
    failed: dict[str, Failure] = {}
    for w in watched:
        if need_health and not w.health:
            failed[w.name] = Failure("no-healthcheck",
                                     f"container {w.name} has no healthcheck configured")
    pending = [w for w in watched if w.name not in failed]
    for w in pending:
        stack.emit("container", w.name, "Waiting", service=w.service)
    deadline = None if timeout is None else clock() + timeout
    last: dict[str, ContainerState] = {}
    while pending:
        now = clock()
        for w in list(pending):
            st = rt.state(w.id)
            last[w.name] = st
            v = judge(w, st, now)
            restarted = st.restart_count - w.baseline
            if v.state == "wait" and restarted > w.shown_restarts:
                w.shown_restarts = restarted
                times = "1 time" if restarted == 1 else f"{restarted} times"
                stack.emit("container", w.name, "Restarting", f"restarted {times}",
                           service=w.service)
            if v.state == "ready":
                stack.emit("container", w.name, v.short or "Healthy", service=w.service)
                pending.remove(w)
            elif v.state == "failed":
                stack.emit("container", w.name, "Error", v.short, service=w.service)
                failed[w.name] = Failure("failed", v.why + stack.last_logs(w.id))
                pending.remove(w)
        if not pending:
            break
        if deadline is not None and clock() >= deadline:
            for w in pending:
                stack.emit("container", w.name, "Error", "timed out", service=w.service)
                failed[w.name] = Failure("timeout", f"container {w.name} is "
                                         f"{what_it_is(last.get(w.name))}"
                                         + stack.last_logs(w.id))
            break
        if stack.cancelled.wait(POLL if poll is None else poll):
            for w in pending:
                failed[w.name] = Failure("interrupted", f"container {w.name}: interrupted")
            break
    return failed
