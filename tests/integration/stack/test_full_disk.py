"""A full PYSTACK_ROOT filesystem (issue 15, item 4): a small tmpfs made by the test is the
state root; the stack comes up, the disk is filled to the last byte, and then `up -d` fails
with a clear error (no traceback), `stop` and `down -v` work the first time, within the
grace period plus a little, and no `.state.json.*.tmp` is left anywhere."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project
from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

pytestmark = pytest.mark.root

STACK = """
services:
  a:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do echo tick; sleep 0.05; done"]
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD", "true"]
      interval: 0.1s
  b:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    stop_grace_period: 2s
"""


@pytest.fixture
def small_root(tmp_path: Path, busybox_tar: Path) -> Iterator[Path]:
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.image.store import ImageStore

    mnt = tmp_path / "root"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0711", "tmpfs", str(mnt)],
                   check=True)
    try:
        ImageStore(mnt / "images").import_rootfs(
            busybox_tar, "local/busybox:latest",
            ImageConfig(env=tuple(IMAGE_ENV), cmd=tuple(IMAGE_CMD)))
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(d: Path) -> Path:
    """Fill the filesystem of `d` to the last byte."""
    filler = d / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    return filler


def _tmp_files(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*.tmp")]


def test_full_state_root(tmp_path: Path, small_root: Path) -> None:
    d = tmp_path / "proj"
    d.mkdir()
    p = Project(d, STACK)
    env = dict(os.environ, NO_COLOR="1", PYSTACK_ROOT=str(small_root))

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(p.argv(*args), capture_output=True, text=True, timeout=timeout,
                              env=env)

    try:
        r = run("up", "-d", "--wait")
        assert r.returncode == 0, r.stderr
        filler = _fill(small_root)
        time.sleep(0.5)                   # the shims go on logging / probing into a full disk
        # A new container cannot be made: a clear error, no traceback.
        p.write(STACK + """  c:
    image: local/busybox:latest
    command: ["true"]
""")
        r = run("up", "-d")
        assert r.returncode != 0
        assert "Traceback" not in r.stderr, r.stderr
        assert "No space left on device" in r.stderr, r.stderr
        assert _tmp_files(small_root) == []
        # stop works, the first time, within the grace period and a little.
        t0 = time.monotonic()
        r = run("stop")
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert took < 2 + 3, took
        assert "Traceback" not in r.stderr
        # ...and so does down -v, with the disk still full.
        t0 = time.monotonic()
        r = run("down", "-v")
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert took < 2 + 3, took
        assert _tmp_files(small_root) == []
        assert sorted(os.listdir(small_root / "containers")) == []
        assert not (small_root / "projects" / p.name).exists()
        filler.unlink()
    finally:
        run("down", "-v", timeout=120)


def test_runtime_create_on_a_full_disk_is_a_clear_error(small_root: Path,
                                                        busybox_rootfs: Path) -> None:
    import secrets

    from pystack.runtime.errors import ContainerRuntimeError
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.linux_runtime import LinuxRuntime
    from pystack.runtime.spec import ContainerSpec

    (small_root / "containers").mkdir(exist_ok=True)
    filler = _fill(small_root)
    rt = LinuxRuntime(small_root)
    spec = ContainerSpec(id=secrets.token_hex(32), name="t-" + secrets.token_hex(4),
                         image=ImageConfig(cmd=tuple(IMAGE_CMD), env=tuple(IMAGE_ENV)),
                         image_id="sha256:" + "0" * 64, lower_dirs=(str(busybox_rootfs),),
                         network_mode="none", labels={"x": "y" * 8192})
    try:
        with pytest.raises(ContainerRuntimeError) as e:
            rt.create(spec)
        assert "No space left on device" in e.value.message
        assert os.listdir(small_root / "containers") == []
        assert _tmp_files(small_root) == []
    finally:
        rt.close()
        filler.unlink()
