"""A container whose shim died (issue 15, item 1) against the fakes: a wait on its health
ends at once with a clear error, `up --wait` reports it, and the next `up` recreates it
(--no-recreate keeps it)."""

from __future__ import annotations

import threading
import time

import pytest

from pystack.orchestrator.engine.up import UpError, UpOptions, up
from pystack.runtime.fake import FakeBehaviour
from tests.unit.engine.fakes import Env, project, svc


def _gated() -> object:
    return project("demo", svc("db", health=True), svc("web", deps={"db": "service_healthy"}))


def _id(env: Env, name: str) -> str:
    return next(c.id for c in env.runtime.list_containers() if c.name == name)


def test_shim_lost_while_a_dependent_waits_then_up_recreates(env: Env) -> None:
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="starting")
    p = _gated()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            up(env.stack(p), UpOptions())  # type: ignore[arg-type]
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 10
    while "demo-db-1" not in env.seen("Waiting"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    old = _id(env, "demo-db-1")
    env.runtime.lose_shim(old)
    t.join(5)
    assert not t.is_alive(), "up still waits on a container nobody supervises"
    (err,) = errors
    assert isinstance(err, UpError)
    assert "demo-db-1 is unsupervised: its shim died" in err.message
    assert env.statuses()["demo-web-1"] == "created"    # never started
    # --no-recreate keeps it (and its wait fails again, at once)...
    with pytest.raises(UpError):
        up(env.stack(p), UpOptions(no_recreate=True))  # type: ignore[arg-type]
    assert _id(env, "demo-db-1") == old
    # ...a plain up recreates it, and the dependent starts.
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="healthy")
    up(env.stack(p), UpOptions())  # type: ignore[arg-type]
    assert _id(env, "demo-db-1") != old
    assert env.statuses() == {"demo-db-1": "running", "demo-web-1": "running"}
    assert "demo-db-1" in env.seen("Recreate")


def test_up_wait_reports_an_unsupervised_container(env: Env) -> None:
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="healthy")
    p = _gated()
    up(env.stack(p), UpOptions(wait=True))  # type: ignore[arg-type]
    env.runtime.lose_shim(_id(env, "demo-web-1"))
    with pytest.raises(UpError) as e:
        up(env.stack(p), UpOptions(wait=True, no_recreate=True))  # type: ignore[arg-type]
    assert "service web: container demo-web-1 is unsupervised" in e.value.message
