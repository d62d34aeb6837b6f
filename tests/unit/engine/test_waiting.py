"""engine/waiting.py against scripted container states and a fake clock: a crash loop, an
exit, `unhealthy` and a timeout end the wait with the reason and the last log lines; a
restartable container without a healthcheck must stay up SETTLE seconds."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from pystack.orchestrator.engine.events import Emitter
from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.up import UpError, UpOptions, up
from pystack.orchestrator.engine.waiting import SETTLE, go_duration, wait_ready
from pystack.runtime.api import ContainerState, Health
from pystack.runtime.fake import FakeBehaviour
from tests.unit.engine.fakes import Env, project, svc


def st(status: str, restarts: int = 0, code: int | None = None, health: str | None = None,
       started: str = "t0") -> ContainerState:
    return ContainerState(id="c1", name="demo-web-1", status=status,  # type: ignore[arg-type]
                          exit_code=code, restart_count=restarts, started_at=started,
                          health=Health(status=health) if health else None)  # type: ignore[arg-type]


@dataclass
class Scripted:
    """A stack whose one container goes through `states` (the last one stays); every look
    at it moves the fake clock on by `step` seconds."""

    states: list[ContainerState]
    restart: str = "no"
    healthcheck: bool = False
    step: float = 0.25
    now: float = 0.0
    emit: Emitter = field(default_factory=Emitter)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.b = SimpleNamespace(runtime=self)

    def state(self, cid: str) -> ContainerState:
        self.now += self.step
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def spec(self, cid: str) -> Any:
        return SimpleNamespace(restart=SimpleNamespace(name=self.restart))

    def has_healthcheck(self, cid: str) -> bool:
        return self.healthcheck

    def last_logs(self, cid: str) -> str:
        return "\n  last log lines:\n    boom\n"

    def clock(self) -> float:
        return self.now

    def statuses(self) -> list[str]:
        return [f"{e.status}:{e.detail}" if e.detail else e.status for e in self.emit.history]


TARGET = Existing(id="c1", name="demo-web-1", service="web", number=1, status="running",
                  config_hash="")


def run(s: Scripted, timeout: float | None = None, need_health: bool = False) -> Any:
    return wait_ready(s, [TARGET], timeout, need_health=need_health,  # type: ignore[arg-type]
                      clock=s.clock, poll=0)


def test_a_crash_loop_is_reported_with_the_restarts_and_the_logs() -> None:
    s = Scripted([st("running"), st("restarting", 0, 3), st("running", 1),
                  st("restarting", 1, 3), st("restarting", 2, 3), st("running", 2),
                  st("running", 3)], restart="always")     # running again: the code is kept
    failed = run(s)
    assert failed["demo-web-1"].kind == "failed"
    assert failed["demo-web-1"].why == ("container demo-web-1 is in a crash loop: restarted "
                                        "3 times, last exit code 3\n  last log lines:\n"
                                        "    boom\n")
    assert s.statuses() == ["Waiting", "Restarting:restarted 1 time",
                            "Restarting:restarted 2 times",
                            "Error:crash loop (3 restarts, exit code 3)"]


def test_a_restartable_container_without_healthcheck_must_stay_up() -> None:
    s = Scripted([st("running")], restart="always")
    assert run(s) == {}
    assert s.now >= SETTLE                              # not ready at the first look
    assert s.statuses() == ["Waiting", "Healthy"]
    s = Scripted([st("running")], restart="no")
    assert run(s) == {} and s.now == 0.25               # Compose's rule: running is ready


def test_an_exit_fails_with_the_name_and_code_and_an_exit_0_is_done() -> None:
    s = Scripted([st("running", health="starting"), st("exited", code=3)], healthcheck=True)
    assert run(s)["demo-web-1"].why.startswith("container demo-web-1 exited (3)\n")
    assert s.statuses() == ["Waiting", "Error:exited (3)"]
    s = Scripted([st("running"), st("exited", code=0)])
    s.states.insert(0, st("created"))
    assert run(s) == {}
    assert s.statuses() == ["Waiting", "Healthy"]
    s = Scripted([st("exited", code=0)])
    assert run(s) == {} and s.statuses() == ["Waiting", "Exited"]
    # A dependency's wait (service_healthy) is not satisfied by an exit 0.
    s = Scripted([st("exited", code=0)], healthcheck=True)
    assert run(s, need_health=True)["demo-web-1"].why.startswith(
        "container demo-web-1 exited (0)")


def test_unhealthy_timeout_and_no_healthcheck() -> None:
    s = Scripted([st("running", health="starting"), st("running", health="unhealthy")],
                 healthcheck=True)
    assert run(s)["demo-web-1"].why.startswith("container demo-web-1 is unhealthy")
    s = Scripted([st("running", health="starting")], healthcheck=True)
    f = run(s, timeout=2)["demo-web-1"]
    assert (f.kind, f.why.splitlines()[0]) == ("timeout",
                                               "container demo-web-1 is running, health starting")
    assert 2 <= s.now <= 2.5
    assert s.statuses()[-1] == "Error:timed out"
    s = Scripted([st("running")])
    f = run(s, need_health=True)["demo-web-1"]
    assert f.kind == "no-healthcheck" and s.statuses() == []


def test_ctrl_c_ends_the_wait() -> None:
    s = Scripted([st("running", health="starting")], healthcheck=True)
    s.cancelled.set()
    assert run(s)["demo-web-1"].kind == "interrupted"


@pytest.mark.parametrize("seconds, text", [(2, "2s"), (2.5, "2.5s"), (90, "1m30s"),
                                           (60, "1m"), (0.5, "0.5s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_up_wait_timeout_says_application_not_healthy(env: Env) -> None:
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="starting")
    env.runtime.behaviour["demo-job-1"] = FakeBehaviour(exit_code=0)
    p = project("demo", svc("db", health=True), svc("web"), svc("job"))
    with pytest.raises(UpError) as e:
        up(env.stack(p), UpOptions(wait=True, wait_timeout=0.2))  # type: ignore[arg-type]
    assert e.value.message.startswith("service db: application not healthy after 0.2s: "
                                      "container demo-db-1 is running, health starting")
    assert "service web" not in e.value.message and "service job" not in e.value.message
    env.runtime.behaviour["demo-web-1"] = FakeBehaviour(exit_code=4, logs=("web died",))
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="healthy")
    with pytest.raises(UpError) as e:
        up(env.stack(p), UpOptions(wait=True, force_recreate=True))  # type: ignore[arg-type]
    assert "service web: container demo-web-1 exited (4)" in e.value.message
    assert "web died" in e.value.message
