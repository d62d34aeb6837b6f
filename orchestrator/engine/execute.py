"""The parallel dependency walker.

`walk` runs one action per node (a service) on its own thread.  A node starts as soon as each
of its own dependencies has run and meets its condition (`service_started`, `service_healthy`,
`service_completed_successfully`); it does not wait for unrelated nodes or for whole
"generations".  A dependency that failed (or whose condition cannot be met) stops the nodes that
require it (they are reported as skipped, with the reason); `required: false` dependencies
never block.  `reverse=True` walks the other way (dependents first), for stop and down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pystack.orchestrator.engine.parallel import parallel
from pystack.orchestrator.errors import KNOWN, OrchestratorError

Condition = Literal["service_started", "service_healthy", "service_completed_successfully"]


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: Condition = "service_started"
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class Result:
    status: Literal["done", "failed", "skipped"]
    error: str = ""


class ConditionFailed(OrchestratorError):
    """A dependency ran but does not meet the condition its dependent asked for."""


def walk(nodes: Iterable[str], deps: Mapping[str, Sequence[Dependency]],
         run: Callable[[str], None],
         wait: Callable[[Dependency], None] | None = None, *,
         reverse: bool = False,
         on_skip: Callable[[str, str], None] | None = None) -> dict[str, Result]:
    """Run `run(node)` for every node, in parallel along the graph.  `wait(dep)` blocks until a
    finished dependency meets its condition, raising when it cannot (memoised per condition).
    Returns each node's result; never raises for a node's failure (a pystack error).  Any other
    exception is a bug: it is raised again here once every thread has ended."""
    todo = list(dict.fromkeys(nodes))
    inside = set(todo)
    before: dict[str, list[Dependency]] = {n: [] for n in todo}
    if reverse:
        for n in todo:
            for d in deps.get(n, ()):
                if d.service in inside and d.service != n:
                    before[d.service].append(Dependency(n))
    else:
        for n in todo:
            before[n] = [d for d in deps.get(n, ()) if d.service in inside and d.service != n]

    finished = {n: threading.Event() for n in todo}
    results: dict[str, Result] = {}
    lock = threading.Lock()
    cond_done: dict[tuple[str, str], threading.Event] = {}
    cond_err: dict[tuple[str, str], str] = {}
    bugs: list[BaseException] = []

    def check(d: Dependency) -> str:
        """'' when the condition holds, else why not."""
        if wait is None or reverse or d.condition == "service_started":
            return ""
        key = (d.service, d.condition)
        with lock:
            ev = cond_done.get(key)
            owner = ev is None
            if ev is None:
                ev = cond_done[key] = threading.Event()
        if owner:
            try:
                wait(d)
            except KNOWN as e:
                cond_err[key] = e.message
            except BaseException as e:
                bugs.append(e)
                cond_err[key] = f"internal error: {type(e).__name__}"
            finally:
                ev.set()
        ev.wait()
        return cond_err.get(key, "")

    def work(n: str) -> None:
        try:
            for d in before[n]:
                finished[d.service].wait()
                r = results[d.service]
                if r.status != "done":
                    # Stopping goes on regardless; starting needs required dependencies.
                    if d.required and not reverse:
                        reason = f"dependency {d.service} {r.status}"
                        results[n] = Result("skipped", reason)
                        if on_skip:
                            on_skip(n, reason)
                        return
                    continue
                why = check(d)
                if why and d.required:
                    results[n] = Result("skipped", why)
                    if on_skip:
                        on_skip(n, why)
                    return
            try:
                run(n)
                results[n] = Result("done")
            except KNOWN as e:
                results[n] = Result("failed", e.message)
            except BaseException as e:
                bugs.append(e)
                results[n] = Result("failed", f"internal error: {type(e).__name__}")
        finally:
            finished[n].set()

    parallel(todo, work, name="walk")   # one thread per node; `work` catches everything
    if bugs:
        raise bugs[0]
    return results


def wait_workers(timeout: float = 10.0) -> None:
    """After an interrupt: wait for the walk's threads (named "walk-...") still running."""
    import time

    deadline = time.monotonic() + timeout
    for t in threading.enumerate():
        if t.name.startswith("walk-") and t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))
