"""State file and lock, the planner's decisions, and the parallel walker's ordering."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pystack.orchestrator.cli.exit_codes import exit_code
from pystack.orchestrator.engine.execute import Dependency, walk
from pystack.orchestrator.engine.plan import Desired, Existing, make_plan
from pystack.orchestrator.engine.state import ContainerRecord, ProjectLock, StateStore
from pystack.orchestrator.errors import LockTimeoutError, OrchestratorError


def test_state_round_trip_and_concurrent_adds(tmp_path: Path) -> None:
    st = StateStore(tmp_path)
    assert st.load("p").containers == ()

    def add(i: int) -> None:
        st.add_container("p", ContainerRecord(f"{i:064x}", f"p-s-{i}", "s", i))

    ts = [threading.Thread(target=add, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    st.add_network("p", "p_default")
    st.add_network("p", "p_default")
    loaded = StateStore(tmp_path).load("p")
    assert len(loaded.containers) == 20
    assert loaded.networks == ("p_default",)
    st.drop_container("p", f"{3:064x}")
    assert len(st.load("p").containers) == 19
    assert st.projects() == ["p"]
    st.remove("p")
    assert st.projects() == []


def test_lock_serializes_one_project_not_two(tmp_path: Path) -> None:
    order: list[str] = []

    def hold(name: str, tag: str, secs: float) -> None:
        with ProjectLock(name, run=tmp_path):
            order.append(f"{tag}+")
            time.sleep(secs)
            order.append(f"{tag}-")

    a = threading.Thread(target=hold, args=("one", "a", 0.3))
    a.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    with ProjectLock("two", run=tmp_path):       # another project: no wait
        assert time.monotonic() - t0 < 0.1
    hold("one", "b", 0)                          # same project: waits for a
    a.join()
    assert order == ["a+", "a-", "b+", "b-"]
    # flock is per open file: a second open in this process conflicts too
    with (ProjectLock("one", run=tmp_path), pytest.raises(LockTimeoutError) as ei,
          ProjectLock("one", timeout=0.1, run=tmp_path)):
        pass
    assert exit_code(ei.value) == 5


def ex(service: str, number: int, h: str = "h", status: str = "running") -> Existing:
    return Existing(f"{service}{number}".ljust(64, "0"), f"p-{service}-{number}", service,
                    number, status, h)


def test_plan_decisions() -> None:
    desired = {"a": Desired(2, "h"), "b": Desired(1, "new"), "c": Desired(1, "h")}
    existing = [ex("a", 1), ex("a", 3, status="exited"), ex("b", 1), ex("c", 1, status="exited"),
                ex("gone", 1)]
    plan = make_plan("p", desired, existing)
    acts = {(s.service, s.number): s.action for s in plan.steps}
    assert acts == {("a", 1): "keep", ("a", 3): "start", ("b", 1): "recreate",
                    ("c", 1): "start"}
    assert [o.service for o in plan.orphans] == ["gone"]
    plan = make_plan("p", {"a": Desired(1, "h")}, [ex("a", 1), ex("a", 2), ex("a", 3)])
    assert [(s.action, s.number) for s in plan.steps] == [
        ("remove", 3), ("remove", 2), ("keep", 1)]
    plan = make_plan("p", {"a": Desired(3, "h")}, [ex("a", 2)])
    assert [(s.action, s.number, s.name) for s in plan.steps] == [
        ("keep", 2, "p-a-2"), ("create", 1, "p-a-1"), ("create", 3, "p-a-3")]
    plan = make_plan("p", {"a": Desired(1, "x")}, [ex("a", 1)], no_recreate=True)
    assert plan.steps[0].action == "keep"
    plan = make_plan("p", {"a": Desired(1, "h")}, [ex("a", 1)], force_recreate=True)
    assert plan.steps[0].action == "recreate"
    plan = make_plan("p", {"a": Desired(1, "h")}, [ex("a", 1, status="dead")],
                     no_recreate=True)
    assert (plan.steps[0].action, plan.steps[0].reason) == ("recreate", "dead")
    plan = make_plan("p", {"a": Desired(1, "h")}, [], names={"a": "custom"})
    assert plan.steps[0].name == "custom"


def test_walk_starts_each_node_as_soon_as_its_own_deps_are_done() -> None:
    started: dict[str, float] = {}
    t0 = time.monotonic()

    def run(n: str) -> None:
        started[n] = time.monotonic() - t0
        time.sleep({"slow": 0.4, "fast": 0.05}.get(n, 0.0))

    deps = {"after_fast": [Dependency("fast")], "after_slow": [Dependency("slow")],
            "both": [Dependency("fast"), Dependency("slow")]}
    res = walk(["slow", "fast", "after_fast", "after_slow", "both"], deps, run)
    assert all(r.status == "done" for r in res.values())
    assert started["after_fast"] < 0.3             # did not wait for "slow"
    assert started["after_slow"] >= 0.4 and started["both"] >= 0.4


def test_walk_failure_skips_dependents_and_conditions_memoised() -> None:
    waits: list[str] = []

    def run(n: str) -> None:
        if n == "bad":
            raise OrchestratorError("boom")

    def wait(d: Dependency) -> None:
        waits.append(d.service)
        if d.service == "sick":
            raise OrchestratorError("sick is unhealthy")

    deps = {"x": [Dependency("bad")], "y": [Dependency("bad", required=False)],
            "z": [Dependency("sick", "service_healthy")],
            "w": [Dependency("sick", "service_healthy")],
            "v": [Dependency("z")]}
    res = walk(["bad", "x", "y", "sick", "z", "w", "v"], deps, run, wait)
    assert res["bad"].status == "failed" and res["bad"].error == "boom"
    assert res["x"].status == "skipped" and "dependency bad failed" in res["x"].error
    assert res["y"].status == "done"
    assert res["z"].status == res["w"].status == "skipped"
    assert res["z"].error == "sick is unhealthy"
    assert res["v"].status == "skipped"
    assert waits == ["sick"]                        # one wait, shared by z and w


def test_walk_reverse_stops_dependents_first() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def run(n: str) -> None:
        with lock:
            order.append(n)

    walk(["db", "web", "worker"], {"web": [Dependency("db")], "worker": [Dependency("web")]},
         run, reverse=True)
    assert order == ["worker", "web", "db"]
