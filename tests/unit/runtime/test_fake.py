"""FakeRuntime follows the Runtime protocol's status machine and errors."""

from __future__ import annotations

import io
import threading

import pytest

from pystack.runtime.api import Runtime
from pystack.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from pystack.runtime.fake import FakeBehaviour, FakeRuntime
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.spec import ContainerSpec, ExecSpec


def _spec(name: str = "demo-web-1", n: int = 1) -> ContainerSpec:
    return ContainerSpec(id=f"{n:064x}", name=name, image=ImageConfig(cmd=("sh",)),
                         image_id="sha256:" + "0" * 64, lower_dirs=("/x",))


def test_is_a_runtime() -> None:
    rt: Runtime = FakeRuntime()
    assert rt.list_containers() == []


def test_lifecycle() -> None:
    rt = FakeRuntime()
    s = _spec()
    assert rt.create(s).status == "created"
    assert rt.start(s.id).status == "running"
    rt.pause(s.id)
    assert rt.state(s.id).status == "paused"
    rt.unpause(s.id)
    with pytest.raises(ContainerRuntimeError, match="cannot delete running"):
        rt.delete(s.id)
    st = rt.stop(s.id)
    assert (st.status, st.exit_code) == ("exited", 143)
    rt.delete(s.id)
    with pytest.raises(ContainerNotFoundError):
        rt.state(s.id)
    assert [c[0] for c in rt.calls] == ["create", "start", "pause", "unpause", "delete",
                                        "stop", "delete"]


def test_duplicate_name_and_lookup_by_name() -> None:
    rt = FakeRuntime()
    rt.create(_spec())
    with pytest.raises(ContainerRuntimeError, match="already in use"):
        rt.create(_spec(n=2))
    assert rt.state("demo-web-1").id == _spec().id


def test_behaviour_exit_and_failures() -> None:
    rt = FakeRuntime()
    rt.behaviour["job"] = FakeBehaviour(exit_code=3, logs=("hello",))
    rt.behaviour["bad"] = FakeBehaviour(fail_start="boom")
    j, b = _spec("job", 1), _spec("bad", 2)
    rt.create(j)
    rt.create(b)
    assert rt.start(j.id).exit_code == 3
    assert [e.line for e in rt.logs(j.id)] == ["hello\n"]
    with pytest.raises(ContainerRuntimeError, match="boom"):
        rt.start(b.id)


def test_wait_wakes_on_exit_and_health() -> None:
    rt = FakeRuntime()
    rt.behaviour["demo-web-1"] = FakeBehaviour(health="starting", exec_output=b"x",
                                               exec_exit_code=5)
    s = _spec()
    rt.create(s)
    rt.start(s.id)
    h = rt.state(s.id).health
    assert h is not None and h.status == "starting"
    rt.set_health(s.id, "healthy")
    out = io.BytesIO()
    assert rt.exec(s.id, ExecSpec(argv=("true",)), stdout=out) == 5
    assert out.getvalue() == b"x"
    threading.Timer(0.05, rt.exit, args=(s.id, 7)).start()
    assert rt.wait(s.id, timeout=5).exit_code == 7
    with pytest.raises(ContainerRuntimeError, match="not running"):
        rt.kill(s.id)


def test_exec_into_a_paused_container_says_so() -> None:
    rt = FakeRuntime()
    s = _spec()
    rt.create(s)
    rt.start(s.id)
    rt.pause(s.id)
    with pytest.raises(ContainerRuntimeError, match="is paused") as exc:
        rt.exec(s.id, ExecSpec(argv=("true",)))
    assert exc.value.hint == "unpause the container before exec"
    rt.unpause(s.id)
    assert rt.exec(s.id, ExecSpec(argv=("true",))) == 0
