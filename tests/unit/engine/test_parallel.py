"""The engine's fan-outs (engine/parallel.py and the dependency walk): pystack errors of every
tree are collected per item, anything else is a bug that reaches the caller with its type and
traceback, after every thread has ended."""

from __future__ import annotations

import threading

import pytest

from pystack.net.errors import NetError
from pystack.orchestrator.engine.execute import Result, walk
from pystack.orchestrator.engine.parallel import failures, parallel, values
from pystack.orchestrator.errors import OrchestratorError
from pystack.runtime.errors import ContainerRuntimeError


def test_results_and_errors_of_every_tree_are_collected_per_item() -> None:
    def fn(i: int) -> int:
        if i == 1:
            raise OrchestratorError("one")
        if i == 2:
            raise ContainerRuntimeError("two")
        if i == 3:
            raise NetError("three")
        return i * 10

    got = parallel([0, 1, 2, 3, 4], fn)
    assert list(got) == [0, 1, 2, 3, 4]
    assert got[0] == 0 and got[4] == 40
    assert {i: e.message for i, e in failures(got).items()} == {1: "one", 2: "two", 3: "three"}
    with pytest.raises(OrchestratorError, match=r"^one$"):
        values(got)
    assert values(parallel([5, 6], fn)) == {5: 50, 6: 60}


def test_a_bug_is_raised_in_the_caller_after_every_thread_ended() -> None:
    failing = threading.Event()
    ended: list[int] = []

    def fn(i: int) -> None:
        if i == 0:
            failing.set()
            raise KeyError("x")
        assert failing.wait(5)                      # still running when the bug happened
        ended.append(i)

    with pytest.raises(KeyError):
        parallel([0, 1, 2], fn)
    assert sorted(ended) == [1, 2]                  # the others were not abandoned


def test_limit_bounds_how_many_run_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    def fn(i: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait()                                 # two at a time meet here
        with lock:
            running -= 1

    parallel(range(6), fn, limit=2)
    assert most == 2


def test_walk_collects_pystack_errors_and_reraises_bugs() -> None:
    def run(n: str) -> None:
        if n == "a":
            raise OrchestratorError("a broke")

    res = walk(["a", "b"], {}, run)
    assert res == {"a": Result("failed", "a broke"), "b": Result("done")}

    def buggy(n: str) -> None:
        if n == "a":
            raise TypeError("bug")

    with pytest.raises(TypeError, match="bug"):
        walk(["a", "b"], {}, buggy)
