"""Crash safety and concurrency: a writer killed mid-unpack leaves nothing that is later
trusted; two writers adding the same image at once both succeed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pystack.runtime.image.store import ImageStore
from tests.support import images
from tests.support.images import Member

pytestmark = pytest.mark.root


def test_killed_import_leaves_nothing(store: ImageStore, tmp_path: Path,
                                      busybox_tar: Path) -> None:
    big = tmp_path / "big.tar"
    big.write_bytes(images.crafted_tar(
        [Member(f"d{i % 40}/f{i}", data=bytes(8192)) for i in range(6000)]))
    code = ("import sys; from pathlib import Path; "
            "from pystack.runtime.image.store import ImageStore; "
            "ImageStore(Path(sys.argv[1])).import_rootfs(Path(sys.argv[2]), 'big:1')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(store.root), str(big)])
    try:
        deadline = time.monotonic() + 30
        tmp = store.root / "tmp"
        while time.monotonic() < deadline:
            if tmp.is_dir() and any((p / "diff").is_dir() for p in tmp.iterdir()):
                break
            time.sleep(0.005)
        else:
            pytest.fail("the import never started unpacking")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [p.name for p in (store.root / "layers").iterdir()] == ["l"]
    assert not store.exists("big:1") and store.list() == []
    assert any((store.root / "tmp").iterdir())              # the dead writer's leftovers
    store.import_rootfs(busybox_tar, "bb:1")                # the next writer cleans them
    assert list((store.root / "tmp").iterdir()) == []
    assert [i.names for i in store.list()] == [("docker.io/library/bb:1",)]


def test_concurrent_loads_of_one_image(store: ImageStore, bb_image: images.Built,
                                       tmp_path: Path) -> None:
    src = images.docker_save(bb_image, tmp_path / "s.tar", ["bb:1"])
    results: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            results.extend(i.id for i in ImageStore(store.root).load(src))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [bb_image.config_digest] * 3
    (img,) = store.list()
    assert (img.layer_dirs[0] / "bin" / "busybox").is_file()
    assert len(list((store.root / "layers").iterdir())) == 2     # one layer + l/
