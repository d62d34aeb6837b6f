"""The state roots (PYSTACK_ROOT, PYSTACK_RUN) are root's alone: 0700, owned by us, checked
and mended on every start.

Everything under them is reachable only through them: image layers and containers' upper
dirs (where a container may have written a setuid-root binary or a 0666 device node),
volumes, secrets, shim sockets, locks.  Docker keeps /var/lib/docker 0710 and /run/docker
0700; pystack needs no group access, so both roots are 0700.  The mode is set explicitly
(mkdir then fchmod: the umask never decides), and an existing root is checked: a directory
owned by another user is refused (that user could rename anything in it), a symlink is
followed only when root owns the link, and wider modes are narrowed to 0700.  Containers
do not need the path: overlayfs reads its layers with the mounter's credentials and a bind
mount shows its own root whatever the modes above it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.settings import settings

MODE = 0o700


def secure_dir(path: Path, what: str) -> None:
    """Make `path` (and missing parents) exist as a directory of ours with mode 0700."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, MODE)
    except FileExistsError:
        pass
    try:
        lst = os.lstat(path)
        if stat.S_ISLNK(lst.st_mode) and lst.st_uid != os.geteuid():
            raise ContainerRuntimeError(
                f"{what} {path} is a symbolic link owned by uid {lst.st_uid}: refusing it",
                hint=f"remove it, or point {what} at a directory of root's")
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise ContainerRuntimeError(f"{what} {path}: {e.strerror}",
                                    hint=f"point {what} at a directory") from e
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise ContainerRuntimeError(
                f"{what} {path} is owned by uid {st.st_uid}, not by us: refusing to keep "
                "state there", hint=f"chown it to root, or point {what} elsewhere")
        if stat.S_IMODE(st.st_mode) != MODE:
            os.fchmod(fd, MODE)
    finally:
        os.close(fd)


def secure_roots() -> None:
    """PYSTACK_ROOT and PYSTACK_RUN as they are set now, made private (see above)."""
    s = settings()
    secure_dir(s.root, "PYSTACK_ROOT")
    secure_dir(s.run, "PYSTACK_RUN")


def write_private(path: Path, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Write `path` atomically with exactly `mode` and owner (a temp file made 0600 with
    O_EXCL|O_NOFOLLOW, chowned and chmodded on its fd, then renamed over)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if (uid, gid) != (os.geteuid(), os.getegid()):
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)
