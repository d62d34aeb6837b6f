"""The engine's one fan-out primitive (besides the dependency walk, execute.py).

`parallel(items, fn)` runs `fn(item)` for every item on its own thread (at most `limit` at a
time) and returns, per item, its result or the pystack error it raised (any of the three
trees, errors.KNOWN).  Anything else is a bug: it is not turned into a string; once every
thread has ended it is raised again in the caller, with its traceback, as compose 1.29's
`parallel_execute` re-raises what it does not know.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar, cast

from pystack.orchestrator.errors import KNOWN, KnownError

T = TypeVar("T", bound=Hashable)
R = TypeVar("R")


def parallel(items: Iterable[T], fn: Callable[[T], R], *, limit: int | None = None,
             name: str = "parallel") -> dict[T, R | KnownError]:
    """Per item (in the given order): fn's result, or the pystack error it raised.  One item
    runs on the caller's thread.  Re-raises the first bug after all threads are done."""
    todo = list(dict.fromkeys(items))
    out: dict[T, R | KnownError] = {}
    bugs: list[BaseException] = []
    gate = threading.BoundedSemaphore(limit) if limit else None

    def one(item: T) -> None:
        if gate is not None:
            gate.acquire()
        try:
            out[item] = fn(item)
        except KNOWN as e:
            out[item] = e
        except BaseException as e:      # a bug: raised again in the caller
            bugs.append(e)
        finally:
            if gate is not None:
                gate.release()

    if len(todo) == 1:
        one(todo[0])
    else:
        threads = [threading.Thread(target=one, args=(i,), daemon=True, name=f"{name}-{k}")
                   for k, i in enumerate(todo)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if bugs:
        raise bugs[0]
    return {i: out[i] for i in todo if i in out}


def failures(results: dict[T, R | KnownError]) -> dict[T, KnownError]:
    """The items whose function raised a pystack error."""
    return {i: r for i, r in results.items() if isinstance(r, KNOWN)}


def values(results: dict[T, R | KnownError]) -> dict[T, R]:
    """Every item's result; raises the first item's pystack error if any failed."""
    out: dict[T, R] = {}
    for i, r in results.items():
        if isinstance(r, KNOWN):
            raise r
        out[i] = cast(R, r)        # not an error: checked above
    return out
