"""Attack: image content that makes `up` write, delete, chmod or read host files while a new
volume is filled from the image (issue 9 item 1).  Each image is crafted as an attacker would
(symlinks in a lower layer, content and whiteouts above them, `..` in a VOLUME); the host
directory it aims at must be exactly as it was, and no host file may reach a volume."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.security.fsattack import (
    SLEEP,
    Projects,
    d,
    f,
    files_containing,
    host_dir,
    link,
    load_image,
    state,
)
from tests.integration.stack.conftest import Project
from tests.support import images
from tests.support.images import Member

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def base_layer(busybox_rootfs: Path) -> bytes:
    return images.dir_tar(busybox_rootfs)


@pytest.fixture
def projects(tmp_path: Path) -> Iterator[Projects]:
    ps = Projects(tmp_path)
    yield ps
    ps.close()


def stack(image: str, ps: Projects) -> Project:
    return ps.make(f"services:\n  app:\n    image: {image}\n    command: {SLEEP}\n")


def volumes_root() -> Path:
    return Path(os.environ["PYSTACK_ROOT"]) / "volumes"


def test_layer_content_under_a_symlinked_dir_never_touches_the_host(
        tmp_path: Path, base_layer: bytes, projects: Projects) -> None:
    """Layer 1: /data/x -> HOSTDIR.  Layer 2: /data/x a 0777 dir with pwned.txt and a
    whiteout of deleteme.txt.  Before the fix `up` created pwned.txt in HOSTDIR, deleted
    deleteme.txt and chmodded HOSTDIR 0777."""
    target = host_dir(tmp_path)
    before = state(target)
    ref = f"local/evil-copy-{secrets.token_hex(3)}:latest"
    load_image(tmp_path, ref, base_layer, [
        [d("data/"), link("data/x", str(target))],
        [d("data/"), d("data/x/", mode=0o777), f("data/x/pwned.txt", b"pwned\n"),
         Member("data/x/.wh.deleteme.txt")],
    ], {"Volumes": {"/data": {}}})
    p = stack(ref, projects)
    p.run("up", "-d")
    assert state(target) == before
    assert not (target / "pwned.txt").exists()
    assert (target / "deleteme.txt").read_text() == "keep me\n"
    # the volume shows what the image shows: layer 2's directory, not the host's
    r = p.run("exec", "-T", "app", "sh", "-c", "ls -A /data/x; stat -c %a /data/x")
    assert r.stdout == "pwned.txt\n777\n"


def test_volume_on_a_symlink_to_a_host_dir_copies_nothing_of_the_host(
        tmp_path: Path, base_layer: bytes, projects: Projects) -> None:
    """VOLUME /data where /data is a symlink to HOSTDIR (and one with `..` climbing to it):
    before the fix the host's files (a 0600 secret included) were copied into the volume."""
    target = host_dir(tmp_path)
    before = state(target)
    ref = f"local/evil-link-{secrets.token_hex(3)}:latest"
    load_image(tmp_path, ref, base_layer, [[link("data", str(target))]],
               {"Volumes": {"/data": {}}})
    p = stack(ref, projects)
    p.run("up", "-d")
    assert state(target) == before
    assert files_containing(volumes_root(), b"TOPSECRET") == []
    r = p.run("exec", "-T", "app", "sh", "-c", "cat /data/secret.txt || echo absent")
    assert "TOPSECRET" not in r.stdout and "absent" in r.stdout


def test_volume_path_climbing_with_dotdot_is_refused(
        tmp_path: Path, base_layer: bytes, projects: Projects) -> None:
    target = host_dir(tmp_path)
    before = state(target)
    ref = f"local/evil-dotdot-{secrets.token_hex(3)}:latest"
    load_image(tmp_path, ref, base_layer, [],
               {"Volumes": {"/../../../.." + str(target): {}}})
    p = stack(ref, projects)
    r = p.run("up", "-d", check=False)
    assert r.returncode != 0
    assert "must not contain '..'" in r.stderr
    assert "Traceback" not in r.stderr
    assert state(target) == before
    assert files_containing(volumes_root(), b"TOPSECRET") == []


def test_new_volume_takes_the_image_dirs_content_owner_and_mode(
        tmp_path: Path, base_layer: bytes, projects: Projects) -> None:
    """Issue 11: a new named volume on an image dir is that dir (postgres's 0700 data dir
    owned by postgres); an existing non-empty volume is not refilled; nocopy copies nothing."""
    ref = f"local/pgdir-{secrets.token_hex(3)}:latest"
    load_image(tmp_path, ref, base_layer, [
        [d("var/"), d("var/lib/"), d("var/lib/pg/", mode=0o700, uid=100, gid=102),
         f("var/lib/pg/PG_VERSION", b"15\n", mode=0o600, uid=100, gid=102),
         d("srv/", mode=0o750, uid=7, gid=8), f("srv/seed", b"seed\n")],
    ])
    p = projects.make(f"""
services:
  app:
    image: {ref}
    command: {SLEEP}
    volumes:
      - pgdata:/var/lib/pg
      - type: volume
        source: plain
        target: /srv
        volume: {{nocopy: true}}
volumes:
  pgdata: {{}}
  plain: {{}}
""")
    p.run("up", "-d")
    sh = "stat -c '%u:%g %a' /var/lib/pg /var/lib/pg/PG_VERSION /srv; ls -A /srv"
    assert p.run("exec", "-T", "app", "sh", "-c", sh).stdout == (
        "100:102 700\n100:102 600\n0:0 755\n")
    vol = volumes_root() / f"{p.name}_pgdata" / "_data"
    (vol / "PG_VERSION").write_text("16\n")
    (vol / "extra").write_text("mine\n")
    p.run("up", "-d", "--force-recreate")
    assert (vol / "PG_VERSION").read_text() == "16\n"        # not refilled
    assert sorted(os.listdir(vol)) == ["PG_VERSION", "extra"]
