"""Bad input: one clear ImageError each, and the store exactly as before."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.orchestrator.cli.exit_codes import exit_code
from pystack.runtime.errors import ImageError, ImageNotFoundError
from pystack.runtime.image.registry import RegistryClient
from pystack.runtime.image.store import ImageStore
from tests.integration.image.conftest import Registry, _free_port
from tests.support import images

pytestmark = pytest.mark.root


@pytest.fixture
def loaded(store: ImageStore, bb_image: images.Built, tmp_path: Path) -> ImageStore:
    store.load(images.docker_save(bb_image, tmp_path / "bb.tar", ["bb:1"]))
    return store


def unchanged(store: ImageStore, action: Callable[[], object], error: type[Exception],
              match: str) -> ImageError:
    before = images.store_listing(store.root)
    with pytest.raises(error, match=match) as info:
        action()
    assert images.store_listing(store.root) == before
    assert isinstance(info.value, ImageError)
    return info.value


def skopeo_copy(src: str, dest: str, all_: bool = False) -> None:
    exe = shutil.which("skopeo")
    if exe is None:
        pytest.skip("skopeo is not installed")
    args = [exe, "copy", "--dest-tls-verify=false", *(["--all"] if all_ else []), src, dest]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def test_unknown_local_image(loaded: ImageStore) -> None:
    e = unchanged(loaded, lambda: loaded.get("nothing:here"), ImageNotFoundError,
                  "no such image: nothing:here")
    assert exit_code(e) == 4


def test_invalid_reference(loaded: ImageStore) -> None:
    unchanged(loaded, lambda: loaded.pull("Bad Name"), ImageError, "invalid reference format")


@pytest.mark.registry
def test_unknown_remote_image(loaded: ImageStore, registry: Registry) -> None:
    e = unchanged(loaded, lambda: loaded.pull(registry.ref("no/such:1")), ImageNotFoundError,
                  "not found in registry")
    assert exit_code(e) == 4


def test_unreachable_registry(loaded: ImageStore) -> None:
    unchanged(loaded, lambda: loaded.pull(f"127.0.0.1:{_free_port()}/x:1"), ImageError,
              "cannot reach registry 127.0.0.1:[0-9]+: Connection refused")


@pytest.mark.registry
def test_corrupt_blob(loaded: ImageStore, registry: Registry, bb_layer: bytes,
                      tmp_path: Path) -> None:
    extra = images.crafted_tar([images.Member("corrupt-me", data=b"A" * 4096)])
    built = images.build([bb_layer, extra], "")
    ref = registry.ref("corrupt/img:1")
    pusher = ImageStore(tmp_path / "pusher")
    pusher.load(images.oci_layout(built, tmp_path / "l", ref))
    pusher.push(ref)                           # layers stay uncompressed, as loaded
    digest = images.sha(built.layers[1])
    data = (registry.storage / "docker/registry/v2/blobs/sha256" / digest[7:9] / digest[7:]
            / "data")
    data.write_bytes(data.read_bytes().replace(b"A" * 4096, b"B" * 4096))
    unchanged(loaded, lambda: loaded.pull(ref), ImageError,
              f"blob digest mismatch: expected {digest}")


@pytest.mark.registry
def test_unsupported_media_type(loaded: ImageStore, registry: Registry,
                                tmp_path: Path) -> None:
    client = RegistryClient(registry.host, "artifact/helm", push=True)
    cfg = tmp_path / "cfg"
    cfg.write_bytes(b"{}")
    client.upload_blob(cfg, images.sha(b"{}"))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": images.OCI_MANIFEST, "config": {
        "mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": images.sha(b"{}"),
        "size": 2}, "layers": []}).encode()
    client.put_manifest("1", manifest, images.OCI_MANIFEST)
    unchanged(loaded, lambda: loaded.pull(registry.ref("artifact/helm:1")), ImageError,
              "unsupported config media type 'application/vnd.cncf.helm.config.v1\\+json'")


@pytest.mark.registry
def test_unsupported_layer_media_type(loaded: ImageStore, bb_layer: bytes,
                                      tmp_path: Path) -> None:
    built = images.build([bb_layer], "gzip", layer_type="application/vnd.example.weird")
    layout = images.oci_layout(built, tmp_path / "l", "example.com/weird:1")
    unchanged(loaded, lambda: loaded.load(layout), ImageError,
              "unsupported layer media type 'application/vnd.example.weird'")


@pytest.mark.registry
def test_wrong_platform_index(loaded: ImageStore, registry: Registry, bb_image: images.Built,
                              tmp_path: Path) -> None:
    layout = images.oci_layout(bb_image, tmp_path / "l", "x",
                               index_platforms=[("linux", "arm64"), ("windows", "amd64")])
    ref = registry.ref("arm/only:1")
    skopeo_copy(f"oci:{layout}:x", f"docker://{ref}", all_=True)
    unchanged(loaded, lambda: loaded.pull(ref), ImageError,
              "has no linux/amd64 image \\(it has: linux/arm64, windows/amd64\\)")


def test_wrong_platform_config(loaded: ImageStore, bb_layer: bytes, tmp_path: Path) -> None:
    built = images.build([bb_layer], "gzip", arch="arm64")
    src = images.docker_save(built, tmp_path / "arm.tar", ["arm:1"])
    unchanged(loaded, lambda: loaded.load(src), ImageError, "is for platform linux/arm64")


@pytest.mark.parametrize("legacy", [True, False])
def test_truncated_tarball(loaded: ImageStore, bb_image: images.Built, tmp_path: Path,
                           legacy: bool) -> None:
    src = images.docker_save(bb_image, tmp_path / "t.tar", ["t:1"], legacy=legacy)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    unchanged(loaded, lambda: loaded.load(src), ImageError, "truncated|corrupt|no manifest|has no")


def test_not_an_image(loaded: ImageStore, busybox_tar: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00garbage" * 100)
    unchanged(loaded, lambda: loaded.load(junk), ImageError, "not a readable tar archive")
    unchanged(loaded, lambda: loaded.load(busybox_tar), ImageError,
              "neither a `docker save` tarball nor an OCI image layout")
    unchanged(loaded, lambda: loaded.load(tmp_path / "missing.tar"), ImageError,
              "no such file or directory")


def test_diff_id_mismatch(loaded: ImageStore, bb_layer: bytes, tmp_path: Path) -> None:
    built = images.build([bb_layer], "gzip")
    wrong = images.config_json(["sha256:" + "1" * 64])
    built = images.Built(wrong, built.manifest, built.layers, built.diff_ids)
    src = images.docker_save(built, tmp_path / "d.tar", ["d:1"])
    unchanged(loaded, lambda: loaded.load(src), ImageError, "layer diff ID mismatch")


@pytest.mark.registry
def test_network_errors_touch_nothing(registry: Registry, bb_image: images.Built,
                                      tmp_path: Path, busybox_tar: Path) -> None:
    fresh = ImageStore(tmp_path / "fresh" / "images")
    layout = images.oci_layout(bb_image, tmp_path / "l", "x",
                               index_platforms=[("linux", "arm64")])
    skopeo_copy(f"oci:{layout}:x", f"docker://{registry.ref('arm64/only:1')}", all_=True)
    for ref, error in ((registry.ref("no/such:1"), ImageNotFoundError),
                       (f"127.0.0.1:{_free_port()}/x:1", ImageError),
                       (registry.ref("arm64/only:1"), ImageError)):
        with pytest.raises(error):
            fresh.pull(ref)
    with pytest.raises(ImageError, match="no such file"):
        fresh.load(tmp_path / "missing.tar")
    with pytest.raises(ImageError, match="cannot read"):
        fresh.import_rootfs(tmp_path / "missing.tar", "x:1")
    assert not (tmp_path / "fresh").exists()


def test_bad_layer_among_several(loaded: ImageStore, bb_layer: bytes, tmp_path: Path) -> None:
    layers = [bb_layer, *(images.crafted_tar([images.Member(f"f{i}", data=b"x")])
                          for i in range(3))]
    built = images.build(layers, "gzip")
    wrong = images.config_json([*built.diff_ids[:2], "sha256:" + "2" * 64, built.diff_ids[3]])
    src = images.docker_save(images.Built(wrong, built.manifest, built.layers, built.diff_ids),
                             tmp_path / "m.tar", ["m:1"])
    unchanged(loaded, lambda: loaded.load(src), ImageError, "layer diff ID mismatch")
