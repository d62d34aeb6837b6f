"""Shareable /dev/shm: a tmpfs on the host for a container whose IPC namespace others join.

Docker's `ipc: shareable` / `container:X` model: the donor's /dev/shm is not a tmpfs of its
own mount namespace (no other container could bind it: a bind mount cannot cross mount
namespaces) but a tmpfs mounted on the host, `$PYSTACK_RUN/shm/<owner id>`, that the donor
and every container joining its IPC namespace bind at /dev/shm (a spec `Mount`, applied over
the private /dev/shm the rootfs makes).  So a POSIX shared-memory object one of them makes
in /dev/shm is seen by the others, as the System V objects of the shared namespace are.

The tmpfs is nosuid, nodev, noexec, mode 1777 (Docker's /dev/shm), sized by the donor's
`shm_size` (64 MiB by default); its directory sits in a 0700 root-owned dir.  It outlives
the donor's restarts and is unmounted (`release`) when the donor is removed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pystack.runtime import linux as L
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.settings import settings
from pystack.runtime.statedirs import secure_dir

DEFAULT_SIZE = 64 << 20
_OWNER = re.compile(r"[0-9a-f]{12,64}")
_FLAGS = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC


def _dir() -> Path:
    return settings().run / "shm"


def _path(owner: str) -> Path:
    if not _OWNER.fullmatch(owner):
        raise ContainerRuntimeError(f"invalid container id {owner!r} for a shared /dev/shm")
    return _dir() / owner


def _mounted(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


class SharedMemory:
    """The host-side /dev/shm tmpfs of containers whose IPC namespace is shared."""

    def ensure(self, owner: str, size: int | None = None) -> str:
        """The path of `owner`'s shared /dev/shm, mounted now if it is not yet."""
        path = _path(owner)
        if _mounted(path):
            return str(path)
        secure_dir(_dir(), "the shared /dev/shm directory")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        if os.path.islink(path) or not path.is_dir():
            raise ContainerRuntimeError(f"{path} is not a directory of ours")
        L.mount("shm", str(path), "tmpfs", _FLAGS,
                f"mode=1777,size={size if size and size > 0 else DEFAULT_SIZE}")
        return str(path)

    def lookup(self, owner: str) -> str | None:
        """The path of `owner`'s shared /dev/shm, or None when it has none."""
        path = _path(owner)
        return str(path) if _mounted(path) else None

    def release(self, owner: str) -> None:
        """Unmount and remove `owner`'s shared /dev/shm (nothing when it has none).  A
        container still running keeps its own bind of it until it ends."""
        path = _path(owner)
        if _mounted(path):
            L.umount2(str(path), L.MNT_DETACH)
        try:
            os.rmdir(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
