"""The image commands end to end (a real `pystack` process, a store per test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.image.conftest import Registry
from tests.support import images

pytestmark = pytest.mark.root


def run(root: Path, *args: str, ok: bool = True,
        stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSTACK_ROOT": str(root)}
    with open(stdin or os.devnull, "rb") as f:
        r = subprocess.run([str(Path(sys.executable).parent / "pystack"), *args], stdin=f,
                           capture_output=True, env=env, timeout=120)
    r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())
    if ok:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def test_import_images_inspect_rmi_prune(root: Path, busybox_tar: Path) -> None:
    image_id = run(root, "image", "import", "-c", 'CMD ["/bin/sh"]', "-c", "EXPOSE 80",
                   str(busybox_tar), "me/bb:1").stdout.strip()
    assert image_id.startswith("sha256:")
    table = run(root, "images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert table[1].split()[:3] == ["me/bb", "1", image_id[7:19]]
    row = json.loads(run(root, "images", "--format", "json").stdout)
    assert row["ID"] == image_id and row["Size"] > 1_000_000
    (info,) = json.loads(run(root, "image", "inspect", "me/bb:1").stdout)
    assert info["Config"]["Cmd"] == ["/bin/sh"] and info["Config"]["ExposedPorts"] == {
        "80/tcp": {}}
    run(root, "image", "tag", "me/bb:1", "me/bb:2")
    assert run(root, "image", "ls", "me/bb:2", "-q").stdout.split() == [image_id[7:19]]
    assert run(root, "rmi", "me/bb:1").stdout.strip() == "Untagged: me/bb:1"
    assert run(root, "image", "rm", "me/bb:2").stdout.splitlines() == [
        "Untagged: me/bb:2", f"Deleted: {image_id}"]
    assert run(root, "image", "prune").stdout.strip() == "Total reclaimed space: 0B"


def test_errors_are_messages(root: Path, busybox_tar: Path) -> None:
    r = run(root, "rmi", "nothing:here", ok=False)
    assert (r.returncode, r.stderr.splitlines()[0]) == (4, "error: no such image: nothing:here")
    r = run(root, "image", "load", "-i", str(busybox_tar), ok=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "neither a `docker save` tarball nor an OCI image layout" in r.stderr
    r = run(root, "pull", "127.0.0.1:1/x", ok=False)
    assert r.returncode == 1
    assert "error: cannot reach registry 127.0.0.1:1: Connection refused" in r.stderr
    r = run(root, "image", "import", "-c", "RUN rm -rf /", str(busybox_tar), ok=False)
    assert "unsupported --change 'RUN rm -rf /'" in r.stderr
    assert not (root / "images" / "imagedb").exists() or not any(
        (root / "images" / "imagedb").iterdir())


@pytest.mark.registry
def test_load_push_pull(root: Path, registry: Registry, bb_image: images.Built,
                        tmp_path: Path) -> None:
    ref = registry.ref("cli/bb:1")
    src = images.docker_save(bb_image, tmp_path / "s.tar", [ref])
    assert run(root, "image", "load", stdin=src).stdout.strip() == f"Loaded image: {ref}"
    assert list((root / "images" / "tmp").iterdir()) == []
    pushed = run(root, "push", ref)
    digest = pushed.stdout.strip().rsplit(" ", 1)[1]
    other = tmp_path / "other"
    r = run(other, "--progress", "plain", "pull", ref)
    assert r.stdout.splitlines() == [f"Digest: {digest}", f"Image ID: {bb_image.config_digest}",
                                     ref]
    assert "Pulled" in r.stderr
    (info,) = json.loads(run(other, "image", "inspect", ref).stdout)
    assert info["RepoDigests"] == [f"{registry.host}/cli/bb@{digest}"]
