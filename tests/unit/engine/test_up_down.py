"""up / down / change detection / scale / orphans / failures against the fakes."""

from __future__ import annotations

import pytest

from pystack.orchestrator.engine import ops
from pystack.orchestrator.engine.ops import DownOptions
from pystack.orchestrator.engine.up import UpError, UpOptions, up
from pystack.runtime.fake import FakeBehaviour
from tests.unit.engine.fakes import Env, edit, project, svc


def demo() -> object:
    return project("demo", svc("db"), svc("web", deps={"db": "service_started"},
                                          ports=()), svc("worker", deps={"web": "service_started"}))


def test_up_creates_and_starts_every_service_in_dependency_order(env: Env) -> None:
    p = demo()
    up(env.stack(p), UpOptions())  # type: ignore[arg-type]
    assert env.statuses() == {"demo-db-1": "running", "demo-web-1": "running",
                              "demo-worker-1": "running"}
    starts = [env.runtime.state(cid).name for m, cid in env.runtime.calls if m == "start"]
    assert starts.index("demo-db-1") < starts.index("demo-web-1") < starts.index("demo-worker-1")
    labels = next(c.labels for c in env.runtime.list_containers() if c.name == "demo-web-1")
    assert labels["com.docker.compose.project"] == "demo"
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert ("demo_default", "Created") in [(e.name, e.status) for e in env.events.history]
    # names resolve between services on the default network
    web = next(c.id for c in env.runtime.list_containers() if c.name == "demo-web-1")
    assert env.network.resolve(web, "db")
    st = env.state.load("demo")
    assert {c.name for c in st.containers} == set(env.statuses())
    assert st.networks == ("demo_default",)


def test_second_up_touches_nothing_and_edit_recreates_only_that_service(env: Env) -> None:
    p = demo()
    up(env.stack(p), UpOptions())  # type: ignore[arg-type]
    before = list(env.runtime.calls)
    up(env.stack(p), UpOptions())  # type: ignore[arg-type]
    assert env.runtime.calls[len(before):] == []
    ids = {c.name: c.id for c in env.runtime.list_containers()}
    p2 = edit(p, "web", environment={"X": "1"})  # type: ignore[arg-type]
    up(env.stack(p2), UpOptions())
    ids2 = {c.name: c.id for c in env.runtime.list_containers()}
    assert ids2["demo-db-1"] == ids["demo-db-1"]
    assert ids2["demo-worker-1"] == ids["demo-worker-1"]
    assert ids2["demo-web-1"] != ids["demo-web-1"]
    assert env.statuses()["demo-web-1"] == "running"


def test_new_image_id_recreates(env: Env) -> None:
    p = project("demo", svc("a"))
    up(env.stack(p), UpOptions())
    first = env.runtime.list_containers()[0].id
    env.images.retag("local/busybox:latest", "v2")
    up(env.stack(p), UpOptions())
    assert env.runtime.list_containers()[0].id != first


def test_force_and_no_recreate(env: Env) -> None:
    p = project("demo", svc("a"))
    up(env.stack(p), UpOptions())
    first = env.runtime.list_containers()[0].id
    up(env.stack(p), UpOptions(force_recreate=True))
    second = env.runtime.list_containers()[0].id
    assert second != first
    up(env.stack(edit(p, "a", environment={"Y": "2"})), UpOptions(no_recreate=True))
    assert env.runtime.list_containers()[0].id == second


def test_scale_up_and_down(env: Env) -> None:
    p = project("demo", svc("a"))
    up(env.stack(p), UpOptions(scale={"a": 3}))
    assert sorted(env.statuses()) == ["demo-a-1", "demo-a-2", "demo-a-3"]
    up(env.stack(p), UpOptions(scale={"a": 1}))
    assert sorted(env.statuses()) == ["demo-a-1"]


def test_orphans_warned_then_removed(env: Env) -> None:
    up(env.stack(project("demo", svc("a"), svc("b"))), UpOptions())
    up(env.stack(project("demo", svc("a"))), UpOptions())
    assert "demo-b-1" in env.statuses()
    assert any("orphan" in e.detail for e in env.events.history if e.kind == "warning")
    up(env.stack(project("demo", svc("a"))), UpOptions(remove_orphans=True))
    assert sorted(env.statuses()) == ["demo-a-1"]


def test_unhealthy_dependency_blocks_dependents_others_stay_up(env: Env) -> None:
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="unhealthy", logs=("db boom",))
    p = project("demo", svc("db", health=True), svc("web", deps={"db": "service_healthy"}),
                svc("other"))
    with pytest.raises(UpError) as ei:
        up(env.stack(p), UpOptions())
    assert "demo-db-1 is unhealthy" in ei.value.message
    assert "db boom" in ei.value.message
    assert env.statuses()["demo-web-1"] == "created"      # created, never started
    assert env.statuses()["demo-other-1"] == "running"
    assert env.statuses()["demo-db-1"] == "running"
    # As Compose: its line stays `Created` (no ✔ Started, no Skipped).
    assert [e.status for e in env.events.history if e.name == "demo-web-1"] == \
        ["Creating", "Created"]


def test_healthy_gate_and_completed_successfully(env: Env) -> None:
    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(health="healthy")
    env.runtime.behaviour["demo-job-1"] = FakeBehaviour(exit_code=0)
    env.runtime.behaviour["demo-bad-1"] = FakeBehaviour(exit_code=3)
    p = project("demo", svc("db", health=True), svc("job"), svc("bad"),
                svc("web", deps={"db": "service_healthy",
                                 "job": "service_completed_successfully"}),
                svc("after_bad", deps={"bad": "service_completed_successfully"}))
    with pytest.raises(UpError) as ei:
        up(env.stack(p), UpOptions())
    assert "service bad didn't complete successfully: exit 3" in ei.value.message
    st = env.statuses()
    assert st["demo-web-1"] == "running"
    assert st["demo-after_bad-1"] == "created"


def test_optional_dependency_does_not_block(env: Env) -> None:
    from pystack.orchestrator.config.model import DependsOn

    env.runtime.behaviour["demo-db-1"] = FakeBehaviour(fail_start="no way")
    p = project("demo", svc("db"), svc("web", deps={
        "db": DependsOn(condition="service_started", required=False)}))
    with pytest.raises(UpError):
        up(env.stack(p), UpOptions())
    assert env.statuses()["demo-web-1"] == "running"


def test_missing_image_is_a_clear_error_and_creates_nothing(env: Env) -> None:
    p = project("demo", svc("a", image="nope/nothing:1"))
    with pytest.raises(Exception) as ei:
        up(env.stack(p), UpOptions())
    assert "service a: image nope/nothing:1" in str(ei.value)
    assert env.runtime.list_containers() == []
    assert env.network.list_networks() == []


def test_down_removes_everything_including_oneoffs_and_ghosts(env: Env) -> None:
    from pystack.orchestrator.engine.state import ContainerRecord

    p = demo()
    up(env.stack(p), UpOptions())  # type: ignore[arg-type]
    # a record of a create that was interrupted (no runtime container)
    env.state.add_container("demo", ContainerRecord("f" * 64, "demo-x-1", "x", 1))
    env.network.create_sandbox("f" * 64, __import__("pystack.net.api").net.api.DnsConfig())
    ops.down(env.stack(p), DownOptions())  # type: ignore[arg-type]
    assert env.runtime.list_containers() == []
    assert env.network.list_networks() == []
    assert env.network.sandbox("f" * 64) is None
    assert env.state.projects() == []
    # a second down is a no-op
    ops.down(env.stack(p), DownOptions())  # type: ignore[arg-type]


def test_down_without_project_file_works_from_state(env: Env) -> None:
    up(env.stack(demo()), UpOptions())  # type: ignore[arg-type]
    ops.down(env.stack(None), DownOptions())
    assert env.runtime.list_containers() == []


def test_stop_start_restart_kill_pause(env: Env) -> None:
    p = demo()
    st = env.stack(p)  # type: ignore[arg-type]
    up(st, UpOptions())
    ops.stop(st, ["web"])
    assert env.statuses()["demo-web-1"] == "exited"
    ops.start(st)
    assert env.statuses()["demo-web-1"] == "running"
    ops.pause(st, ["db"])
    assert env.statuses()["demo-db-1"] == "paused"
    ops.unpause(st, ["db"])
    ops.kill(st, ["worker"], "KILL")
    assert env.statuses()["demo-worker-1"] == "exited"
    with pytest.raises(Exception, match="cannot remove running"):
        ops.rm(st, ["db"])
    assert ops.rm(st, ["worker"]) == ["demo-worker-1"]
    ops.restart(st, ["db"])
    assert env.statuses()["demo-db-1"] == "running"


def test_port_taken_changes_nothing(env: Env) -> None:
    from pystack.net.errors import PortInUseError
    from pystack.orchestrator.config.model import PortMapping

    env.network.taken_ports.add((18080, "tcp"))
    p = project("demo", svc("db"), svc("web", ports=(PortMapping(80, "18080"),)))
    with pytest.raises(PortInUseError):
        up(env.stack(p), UpOptions())
    assert env.runtime.list_containers() == []
    assert env.network.list_networks() == []
    assert env.state.projects() == []


def test_restart_true_dependency_recreated_restarts_dependent(env: Env) -> None:
    from pystack.orchestrator.config.model import DependsOn

    p = project("demo", svc("db"), svc("web", deps={"db": DependsOn(restart=True)}),
                svc("other", deps={"db": "service_started"}))
    up(env.stack(p), UpOptions())
    web = next(c.id for c in env.runtime.list_containers() if c.name == "demo-web-1")
    n = len(env.runtime.calls)
    up(env.stack(edit(p, "db", environment={"V": "2"})), UpOptions())
    later = env.runtime.calls[n:]
    assert ("stop", web) in later and ("start", web) in later
    other = next(c.id for c in env.runtime.list_containers() if c.name == "demo-other-1")
    assert ("stop", other) not in later


def test_extra_hosts_host_gateway_is_the_network_gateway(env: Env) -> None:
    p = project("demo", svc("a", extra_hosts=(("host.docker.internal", "host-gateway"),
                                              ("x", "1.2.3.4"))))
    up(env.stack(p), UpOptions())
    dns = next(args[1] for name, args in env.network.calls if name == "create_sandbox")
    gw = env.network.list_networks()[0].gateway
    assert dns.extra_hosts == (("host.docker.internal", gw), ("x", "1.2.3.4"))  # type: ignore[attr-defined]


def test_rm_v_removes_anonymous_volumes_only(env: Env, tmp_path: object) -> None:
    from pystack.orchestrator.config.model import Volume, VolumeMount
    from pystack.orchestrator.engine.volumes import volumes_dir

    p = project("demo", svc("a", volumes=(VolumeMount("volume", "/anon"),
                                          VolumeMount("volume", "/named", "keep"))))
    from dataclasses import replace

    p = replace(p, volumes={"keep": Volume("keep", "demo_keep")})
    st = env.stack(p)
    up(st, UpOptions())
    names = sorted(d.name for d in volumes_dir().iterdir())
    assert names[0] == "demo_anon_a_1_" + names[0].rsplit("_", 1)[1] and names[1] == "demo_keep"
    ops.stop(st)
    ops.rm(st, volumes=True)
    assert sorted(d.name for d in volumes_dir().iterdir()) == ["demo_keep"]


def test_down_keeps_orphans_unless_asked(env: Env) -> None:
    """Compose v2: `down` warns about orphans and keeps them (and their network);
    `down --remove-orphans` removes them too."""
    up(env.stack(project("demo", svc("a"), svc("b"))), UpOptions())
    p = project("demo", svc("a"))
    ops.down(env.stack(p), DownOptions())
    assert env.statuses() == {"demo-b-1": "running"}
    assert any("orphan" in e.detail and "demo-b-1" in e.detail
               for e in env.events.history if e.kind == "warning")
    assert [n.name for n in env.network.list_networks()] == ["demo_default"]
    assert [c.name for c in env.state.load("demo").containers] == ["demo-b-1"]
    ops.down(env.stack(p), DownOptions(remove_orphans=True))
    assert env.runtime.list_containers() == []
    assert env.network.list_networks() == []
    assert env.state.projects() == []
