"""Shared pieces of the filesystem attack tests: crafted images loaded into the session's
store, a host directory the attack aims at (and its snapshot), stack projects."""

from __future__ import annotations

import tarfile
from collections.abc import Sequence
from pathlib import Path

from tests.integration.stack.conftest import Project
from tests.support import images
from tests.support.busybox import IMAGE_CMD, IMAGE_ENV
from tests.support.images import Member

SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
BUSYBOX = "local/busybox:latest"


def d(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Member:
    return Member(name, tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid)


def f(name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0) -> Member:
    return Member(name, data=data, mode=mode, uid=uid, gid=gid)


def link(name: str, target: str) -> Member:
    return Member(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def load_image(tmp: Path, ref: str, base_layer: bytes, layers: Sequence[Sequence[Member]],
               config: dict[str, object] | None = None) -> str:
    """An image of the busybox layer plus crafted `layers`, loaded as `ref`."""
    from pystack.runtime.image.store import ImageStore

    tars = [base_layer, *(images.crafted_tar(m) for m in layers)]
    built = images.build(tars, "", extra={"StopSignal": "SIGTERM", **(config or {})})
    archive = images.docker_save(built, tmp / f"{ref.replace('/', '_').replace(':', '_')}.tar",
                                 tags=(ref,))
    ImageStore().load(archive)
    return ref


def host_dir(tmp: Path) -> Path:
    """A host directory an attacker would love: a file to delete, a root-only secret."""
    target = tmp / "hostdir"
    target.mkdir(mode=0o700)
    (target / "deleteme.txt").write_text("keep me\n")
    secret = target / "secret.txt"
    secret.write_text("TOPSECRET\n")
    secret.chmod(0o600)
    return target


def state(root: Path) -> dict[str, tuple[int, int, int]]:
    """What 'nothing changed' compares: every entry's mode, size and mtime."""
    return images.snapshot(root)


def files_containing(root: Path, needle: bytes) -> list[str]:
    """Regular files below `root` (no symlink followed) whose content has `needle`."""
    out = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes():
            out.append(str(p))
    return out


class Projects:
    """Stack projects made in one test, each brought `down -v` at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.made: list[Project] = []

    def make(self, text: str) -> Project:
        pdir = self.tmp / f"p{len(self.made)}"
        pdir.mkdir()
        p = Project(pdir, text)
        self.made.append(p)
        return p

    def close(self) -> None:
        for p in self.made:
            p.run("down", "-v", check=False, timeout=120)


def busybox(busybox_tar: Path) -> str:
    """The busybox image as local/busybox:latest (what the stack tests use)."""
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.image.store import ImageStore

    ImageStore().import_rootfs(busybox_tar, BUSYBOX,
                               ImageConfig(env=tuple(IMAGE_ENV), cmd=tuple(IMAGE_CMD)))
    return BUSYBOX
