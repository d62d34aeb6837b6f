"""Attack: a container plants a symlink in a shared volume, and another container mounts that
volume's `subpath` through it (issue 9 item 2).  Before the fix, `ln -s / /data/sub` in
container a gave container b the host's / read-write at /host.  The runtime now opens the
subpath below the volume with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and mounts that fd."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.security.fsattack import SLEEP, Projects, busybox
from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

A = f"""
services:
  a:
    image: local/busybox:latest
    command: {SLEEP}
    volumes: ["data:/data"]
volumes:
  data: {{}}
"""

B = """
  b:
    image: local/busybox:latest
    command: {sleep}
    volumes:
      - type: volume
        source: data
        target: /host
        volume: {{subpath: {sub}}}
"""


@pytest.fixture
def make_project(tmp_path: Path, busybox_tar: Path) -> Iterator[Callable[[str], Project]]:
    busybox(busybox_tar)
    ps = Projects(tmp_path)
    yield ps.make
    ps.close()


def with_b(sub: str) -> str:
    head, _, tail = A.partition("volumes:\n  data")
    return head + B.format(sleep=SLEEP, sub=sub).lstrip("\n") + "volumes:\n  data" + tail


@pytest.mark.parametrize(("plant", "sub", "why"), [
    ("ln -s / /data/sub", "sub", "is or goes through a symbolic link"),
    ("mkdir -p /data/d && ln -s / /data/d/up", "d/up/etc", "is or goes through a symbolic link"),
    ("mkdir -p /data/real", "../../../../../..", "leaves the volume"),
])
def test_subpath_through_a_planted_symlink_is_refused(
        make_project: Callable[[str], Project], tmp_path: Path,
        plant: str, sub: str, why: str) -> None:
    marker = tmp_path / f"host-{secrets.token_hex(4)}"
    p = make_project(A)
    p.run("up", "-d")
    p.run("exec", "-T", "a", "sh", "-c", plant)
    p.write(with_b(sub))
    r = p.run("up", "-d", check=False)
    # b gets nothing of the host: either refused at start, or (never) a view of the host
    if r.returncode == 0:
        p.run("exec", "-T", "b", "sh", "-c", f"touch /host{marker} /host/tmp/{marker.name}",
              check=False)
    assert not marker.exists() and not Path("/tmp", marker.name).exists()
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"volume subpath '{sub}' {why}" in r.stderr
    assert "Traceback" not in r.stderr


def test_subpath_to_a_real_dir_works(make_project: Callable[[str], Project]) -> None:
    p = make_project(A)
    p.run("up", "-d")
    p.run("exec", "-T", "a", "sh", "-c", "mkdir -p /data/sub/in && echo hi > /data/sub/in/f")
    p.write(with_b("sub/in"))
    p.run("up", "-d")
    assert p.run("exec", "-T", "b", "cat", "/host/f").stdout == "hi\n"
    p.run("exec", "-T", "b", "sh", "-c", "echo back > /host/g")
    assert p.run("exec", "-T", "a", "cat", "/data/sub/in/g").stdout == "back\n"
