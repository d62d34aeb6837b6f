"""Fixtures of the runtime tests: a LinuxRuntime on the session's PYSTACK_ROOT, and `make`,
which builds a ContainerSpec on the busybox rootfs and deletes every container at teardown."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pystack.runtime.api import ContainerState
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import ContainerSpec
from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

Make = Callable[..., ContainerSpec]


@pytest.fixture
def rt() -> Iterator[LinuxRuntime]:
    runtime = LinuxRuntime()
    yield runtime
    for st in runtime.list_containers():
        runtime.delete(st.id, force=True)
    runtime.close()


@pytest.fixture
def make(rt: LinuxRuntime, busybox_rootfs: Path) -> Make:
    def _make(*command: str, **kw: Any) -> ContainerSpec:
        image = kw.pop("image", ImageConfig(cmd=tuple(IMAGE_CMD), env=tuple(IMAGE_ENV)))
        kw.setdefault("network_mode", "none")
        kw.setdefault("stop_grace_period", 2.0)
        spec = ContainerSpec(id=secrets.token_hex(32), name=kw.pop("name", None)
                             or "t-" + secrets.token_hex(4), image=image,
                             image_id="sha256:" + "0" * 64,
                             lower_dirs=kw.pop("lower_dirs", (str(busybox_rootfs),)),
                             command=command or None, **kw)
        rt.create(spec)
        return spec
    return _make


def run(rt: LinuxRuntime, spec: ContainerSpec, timeout: float = 20) -> tuple[ContainerState, str]:
    """Start, wait, and return the final state and the combined log text."""
    rt.start(spec.id)
    st = rt.wait(spec.id, timeout=timeout)
    return st, "".join(e.line for e in rt.logs(spec.id))
