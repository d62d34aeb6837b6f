"""One scenario against both the LinuxRuntime and the FakeRuntime the orchestrator's unit tests
use: the same states, the same answers and the same error classes, so the fake does not lie
(the runtime's twin of tests/integration/net/test_contract.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.runtime.api import Runtime
from pystack.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from pystack.runtime.fake import FakeRuntime
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import ContainerSpec
from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

pytestmark = pytest.mark.root

# SIGTERM ends it with 143 at once (a shell as PID 1 ignores SIGTERM without a trap).
COMMAND = ("sh", "-c", "trap 'exit 143' TERM; sleep 1000 & wait")


@pytest.fixture(params=["linux", "fake"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    rt: Runtime = LinuxRuntime() if request.param == "linux" else FakeRuntime()
    try:
        yield rt
    finally:
        for st in rt.list_containers():
            rt.delete(st.id, force=True)
        if isinstance(rt, LinuxRuntime):
            rt.close()


def spec_of(rootfs: Path, name: str) -> ContainerSpec:
    return ContainerSpec(id=secrets.token_hex(32), name=name,
                         image=ImageConfig(cmd=tuple(IMAGE_CMD), env=tuple(IMAGE_ENV)),
                         image_id="sha256:" + "0" * 64, lower_dirs=(str(rootfs),),
                         command=COMMAND, network_mode="none", stop_grace_period=5.0,
                         labels={"contract": "yes"})


def test_same_behaviour(runtime: Runtime, busybox_rootfs: Path) -> None:
    rt = runtime
    rt.prewarm()
    name = "ct-" + secrets.token_hex(3)
    spec = spec_of(busybox_rootfs, name)
    st = rt.create(spec)
    assert (st.id, st.name, st.status, st.pid, st.labels["contract"]) == \
        (spec.id, name, "created", 0, "yes")
    assert rt.spec(spec.id) == spec
    assert [s.id for s in rt.list_containers() if s.id == spec.id] == [spec.id]
    with pytest.raises(ContainerRuntimeError):
        rt.pause(spec.id)                                   # not running yet

    st = rt.start(spec.id)
    assert st.status == "running" and st.pid > 0 and st.started_at
    assert rt.state(spec.id).status == "running"
    assert rt.namespace_path(spec.id, "ipc") == f"/proc/{st.pid}/ns/ipc"
    rt.pause(spec.id)
    assert rt.state(spec.id).status == "paused"
    rt.pause(spec.id)                                       # paused again: no error
    assert rt.state(spec.id).status == "paused"
    rt.unpause(spec.id)
    assert rt.state(spec.id).status == "running"
    rt.unpause(spec.id)                                     # running: left as it is
    assert rt.state(spec.id).status == "running"
    with pytest.raises(ContainerRuntimeError):
        rt.delete(spec.id)                                  # running, no force

    st = rt.stop(spec.id)
    assert (st.status, st.exit_code, st.pid) == ("exited", 143, 0)
    assert rt.wait(spec.id, timeout=5).status == "exited"
    assert rt.stop(spec.id).status == "exited"              # stopping a stopped one is fine
    with pytest.raises(ContainerRuntimeError):
        rt.kill(spec.id)                                    # not running

    rt.delete(spec.id)
    assert spec.id not in {s.id for s in rt.list_containers()}
    for call in (rt.state, rt.start, rt.spec):
        with pytest.raises(ContainerNotFoundError):
            call(spec.id)
    rt.delete(spec.id, force=True)                          # gone already: no error with force
