"""Pull and push against a real registry (Debian's docker-registry on 127.0.0.1), checked
with an independent client (skopeo) in both directions, with and without auth."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pystack.runtime.errors import ImageError
from pystack.runtime.image.store import ImageStore
from tests.integration.image.conftest import Registry, docker_config
from tests.support import images

pytestmark = [pytest.mark.root, pytest.mark.registry]


def skopeo(*args: str) -> str:
    exe = shutil.which("skopeo")
    if exe is None:
        pytest.skip("skopeo is not installed")
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_push_with_pystack_check_with_skopeo(store: ImageStore, registry: Registry,
                                             bb_image: images.Built, tmp_path: Path) -> None:
    (img,) = store.load(images.docker_save(bb_image, tmp_path / "s.tar", ["bb:1"]))
    ref = registry.ref("pushed/bb:1")
    store.tag("bb:1", ref)
    events: list[tuple[str, str]] = []
    digest = store.push(ref, progress=lambda d, s, done, total: events.append((d, s)))
    assert ("pushed" in {s for _, s in events})
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert info["Digest"] == digest
    assert info["Layers"] == [images.sha(b) for b in bb_image.layers]
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}"))
    assert raw["config"]["digest"] == img.id
    # skopeo copies it out again: the config (= image id) survived the round trip.
    out = tmp_path / "oci"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:x")
    index = json.loads((out / "index.json").read_text())
    manifest = json.loads((out / "blobs" / "sha256" /
                           index["manifests"][0]["digest"][7:]).read_text())
    assert manifest["config"]["digest"] == img.id
    assert store.get(ref).digest == digest
    assert store.push(ref) == digest                 # again: every blob exists already


def test_push_with_skopeo_pull_with_pystack(store: ImageStore, registry: Registry,
                                            bb_layer: bytes, tmp_path: Path) -> None:
    extra = images.crafted_tar([images.Member("etc/motd", data=b"hi\n"),
                                images.Member("www/.wh.index.html")])
    built = images.build([bb_layer, extra], "gzip")
    layout = images.oci_layout(built, tmp_path / "layout", "v2")
    ref = registry.ref("skopeo/bb:v2")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v2", f"docker://{ref}")
    seen: set[str] = set()
    img = store.pull(ref, progress=lambda d, s, done, total: seen.add(s))
    assert img.id == built.config_digest
    assert img.names == (ref,)
    assert {"downloading", "done"} <= seen
    assert len(img.layer_dirs) == 2
    top = img.layer_dirs[1]
    assert (top / "etc" / "motd").read_bytes() == b"hi\n"
    st = (top / "www" / "index.html").lstat()
    assert (st.st_mode >> 12, st.st_rdev) == (0o02, 0)            # an overlay whiteout
    # by digest, and again (everything present: nothing downloaded)
    by_digest = f"{registry.host}/skopeo/bb@{img.digest}"
    seen.clear()
    assert store.pull(by_digest, progress=lambda d, s, done, total: seen.add(s)).id == img.id
    assert "downloading" not in seen
    assert store.get(by_digest).id == img.id


def test_pull_picks_linux_amd64_from_an_index(store: ImageStore, registry: Registry,
                                              bb_image: images.Built, tmp_path: Path) -> None:
    layout = images.oci_layout(bb_image, tmp_path / "multi", "m",
                               index_platforms=[("linux", "arm64"), ("linux", "amd64")])
    ref = registry.ref("multi/bb:m")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:m", f"docker://{ref}")
    img = store.pull(ref)
    assert img.id == bb_image.config_digest


def test_auth_registry(store: ImageStore, auth_registry: Registry, bb_image: images.Built,
                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (img,) = store.load(images.docker_save(bb_image, tmp_path / "s.tar", ["bb:1"]))
    ref = auth_registry.ref("private/bb:1")
    store.tag("bb:1", ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    with pytest.raises(ImageError, match="requires authentication"):
        store.push(ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "bad", auth_registry.host,
                                                          "tester", "wrong")))
    with pytest.raises(ImageError, match="wrong user name or password"):
        store.push(ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "ok", auth_registry.host,
                                                          "tester", "s3cret")))
    digest = store.push(ref)
    other = ImageStore(tmp_path / "other")
    pulled = other.pull(ref)
    assert pulled.id == img.id and pulled.digest == digest
    info = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", "tester:s3cret",
                             f"docker://{ref}"))
    assert info["Digest"] == digest


def test_token_auth_registry(store: ImageStore, token_registry: Registry,
                             bb_image: images.Built, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    (img,) = store.load(images.docker_save(bb_image, tmp_path / "s.tar", ["bb:1"]))
    ref = token_registry.ref("tokens/bb:1")
    store.tag("bb:1", ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    with pytest.raises(ImageError, match="requires authentication"):
        store.push(ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(
        tmp_path / "bad", token_registry.host, "tester", "wrong")))
    with pytest.raises(ImageError, match="token server refused the credentials"):
        store.push(ref)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(
        tmp_path / "ok", token_registry.host, "tester", "s3cret")))
    digest = store.push(ref)
    pulled = ImageStore(tmp_path / "other").pull(ref)
    assert pulled.id == img.id and pulled.digest == digest
