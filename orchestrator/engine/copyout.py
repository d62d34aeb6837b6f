"""`cp SERVICE:PATH HOSTPATH`: unpack the tar stream a container produced onto the host.

The stream is untrusted (the container's `tar` may be anything): members are applied one by
one below a directory fd, each path component opened with O_NOFOLLOW, so no name, symlink or
hardlink in the stream reaches outside the destination:
  - absolute names are taken relative to it, `..` is refused;
  - a member whose parent is a symlink or not a directory is refused;
  - symlinks are created as they are and never followed afterwards;
  - a hardlink must name an earlier member (resolved the same way);
  - device nodes and fifos are skipped; setuid/setgid bits are dropped; files belong to the
    caller (as Docker's `cp` does), modes and mtimes are kept.
Python 3.11.2's tarfile has no extraction filters, and its extract() follows symlinks.
"""

from __future__ import annotations

import errno
import os
import tarfile
from pathlib import Path
from typing import IO

from pystack.orchestrator.errors import OrchestratorError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _parts(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OrchestratorError(f"cp: the archive member {name!r} contains '..': refused")
    return parts


def _step(fd: int, name: str, create: bool) -> int:
    try:
        try:
            return os.open(name, _DIR, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=fd)
            return os.open(name, _DIR, dir_fd=fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OrchestratorError(f"cp: an archive member goes through {name!r}, which is a "
                                    "symlink or not a directory: refused") from e
        raise


def _parent(root: int, parts: list[str], create: bool = True) -> int:
    fd = os.dup(root)
    try:
        for p in parts[:-1]:
            nfd = _step(fd, p, create)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _clear(pfd: int, name: str, keep_dir: bool) -> bool:
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if keep_dir and (st.st_mode & 0o170000) == 0o040000:
        return True
    if (st.st_mode & 0o170000) == 0o040000:
        raise OrchestratorError(f"cp: cannot overwrite the directory {name!r} with a file")
    os.unlink(name, dir_fd=pfd)
    return False


def _apply(tar: tarfile.TarFile, m: tarfile.TarInfo, root: int, parts: list[str]) -> None:
    if not parts:
        return
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        return                                   # devices, fifos: not copied out
    pfd = _parent(root, parts)
    base = parts[-1]
    try:
        kept = _clear(pfd, base, keep_dir=m.isdir())
        mode = m.mode & 0o1777
        if m.isdir():
            if not kept:
                os.mkdir(base, 0o700, dir_fd=pfd)
            os.chmod(base, mode, dir_fd=pfd, follow_symlinks=False)
        elif m.isreg():
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                src = tar.extractfile(m)
                while src is not None and (chunk := src.read(1 << 16)):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                os.fchmod(fd, mode)
                os.utime(fd, (m.mtime, m.mtime))
            finally:
                os.close(fd)
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=pfd)
        else:
            target = _parts(m.linkname)
            tfd = -1
            try:
                if not target:
                    raise FileNotFoundError
                tfd = _parent(root, target, create=False)
                os.link(target[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd,
                        follow_symlinks=False)
            except FileNotFoundError as e:
                raise OrchestratorError(f"cp: hardlink {m.name!r} -> {m.linkname!r} names no "
                                        "earlier member: refused") from e
            finally:
                if tfd >= 0:
                    os.close(tfd)
    finally:
        os.close(pfd)


def extract(stream: IO[bytes], target: Path) -> None:
    """Unpack `stream` to `target`: into it when it is a directory, else as it (the top
    member renamed: a file, or a directory)."""
    into_dir = target.is_dir()
    top: list[str] | None = None
    root = -1
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                parts = _parts(m.name)
                if top is None:
                    top = parts
                    if not into_dir:
                        target.parent.mkdir(parents=True, exist_ok=True)
                    root = os.open(target if into_dir else target.parent,
                                   os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                if not into_dir:
                    if parts[:len(top)] != top:
                        raise OrchestratorError(f"cp: the archive member {m.name!r} is not "
                                                "under its first member: refused")
                    parts = [target.name, *parts[len(top):]]
                    if m.islnk():               # renamed like the members it names
                        link = _parts(m.linkname)
                        if link[:len(top)] != top:
                            raise OrchestratorError(f"cp: hardlink {m.name!r} -> "
                                                    f"{m.linkname!r} leaves the copy: refused")
                        m.linkname = "/".join([target.name, *link[len(top):]])
                _apply(tar, m, root, parts)
    except tarfile.TarError as e:
        raise OrchestratorError(f"cp: the container sent a broken archive: {e}") from e
    except OSError as e:
        raise OrchestratorError(f"cp: cannot write {target}: {e.strerror or e}") from e
    finally:
        if root >= 0:
            os.close(root)
