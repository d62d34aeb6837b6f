"""The store with real unpacking: import, load in every local format, get/list/tag/rmi/prune."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pystack.runtime.errors import ImageError, ImageNotFoundError
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.image.store import ImageStore, overlay_lowerdirs
from tests.support import images

pytestmark = pytest.mark.root


def test_import_rootfs_then_get(store: ImageStore, busybox_tar: Path) -> None:
    cfg = ImageConfig(cmd=("/bin/sh",), env=("A=1",), exposed_ports=("80/tcp",))
    img = store.import_rootfs(busybox_tar, "local/bb:1", cfg)
    assert img.names == ("docker.io/local/bb:1",)
    assert img.config.cmd == ("/bin/sh",) and img.config.env == ("A=1",)
    got = store.get("local/bb:1")
    assert got.id == img.id
    (layer,) = got.layer_dirs
    assert (layer / "bin" / "busybox").is_file()
    assert os.readlink(layer / "bin" / "sh") == "busybox"
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    assert got.size > 1_000_000
    assert store.get(img.id[7:19]).id == img.id       # id prefix
    base, short = overlay_lowerdirs(got.layer_dirs)
    assert base == store.root / "layers" and short[0].startswith("l/")
    assert (base / short[0] / "bin" / "busybox").is_file()


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
@pytest.mark.parametrize("form", ["save-legacy", "save-oci", "layout", "archive"])
def test_load_every_format(store: ImageStore, bb_layer: bytes, tmp_path: Path,
                           form: str, compression: str) -> None:
    built = images.build([bb_layer], compression)
    if form.startswith("save"):
        src = images.docker_save(built, tmp_path / "save.tar", ["bb:x"],
                                 legacy=form == "save-legacy")
    else:
        src = images.oci_layout(built, tmp_path / "layout", "example.com/bb:x")
        if form == "archive":
            src = images.oci_archive(src, tmp_path / "oci.tar", gzip_it=compression == "gzip")
    (img,) = store.load(src)
    assert img.id == built.config_digest
    want = "docker.io/library/bb:x" if form.startswith("save") else "example.com/bb:x"
    assert img.names == (want,)
    assert (img.layer_dirs[0] / "bin" / "busybox").is_file()
    assert img.config.stop_signal == "SIGQUIT" and img.config.labels == {"test": "yes"}


def test_layers_shared_and_unpacked_once(store: ImageStore, bb_image: images.Built,
                                         tmp_path: Path) -> None:
    a = store.load(images.docker_save(bb_image, tmp_path / "a.tar", ["a:1"]))[0]
    layer = a.layer_dirs[0]
    marker = os.stat(layer).st_ino
    b = store.load(images.docker_save(bb_image, tmp_path / "b.tar", ["b:1"]))[0]
    assert b.layer_dirs == a.layer_dirs and os.stat(layer).st_ino == marker
    assert sorted(store.get("a:1").names) == ["docker.io/library/a:1", "docker.io/library/b:1"]


def test_tag_rmi_prune(store: ImageStore, bb_image: images.Built, tmp_path: Path) -> None:
    (img,) = store.load(images.docker_save(bb_image, tmp_path / "a.tar", ["a:1"]))
    store.tag("a:1", "other/name:2")
    assert store.remove("a:1") == ["Untagged: a:1"]
    assert store.exists("other/name:2") and not store.exists("a:1")
    with pytest.raises(ImageError, match="being used by a container"):
        store.remove("other/name:2", in_use=lambda i: i == img.id)
    assert store.remove("other/name:2") == ["Untagged: other/name:2", f"Deleted: {img.id}"]
    assert list((store.root / "layers").iterdir()) == [store.root / "layers" / "l"]
    assert list((store.root / "blobs" / "sha256").iterdir()) == []
    with pytest.raises(ImageNotFoundError):
        store.get("other/name:2")
    store.load(images.docker_save(bb_image, tmp_path / "b.tar", []))
    report = store.prune()
    assert report.images == (img.id,) and report.reclaimed > 1_000_000
    assert store.list() == []
