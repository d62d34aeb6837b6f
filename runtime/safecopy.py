"""Copying untrusted trees into a volume without ever writing, deleting or chmodding outside it.

`copy_into(layer_dirs, path, dest)` fills a new volume with the image's content at `path`
(Docker's copy-on-first-mount): the directory is found in the union of the image's layers by
runtime/layerview.py (symlinks and `..` resolved inside the image, never on the host;
whiteouts and opaque dirs as overlayfs shows them), and each entry is copied from its own
layer.  `copy_tree(src_fd, dst_fd)` copies a real directory (a container's rootfs at a mount
target) the same way.  Both write only through fds:

- every destination entry is made relative to its parent's fd (mkdirat, openat with
  O_CREAT|O_EXCL|O_NOFOLLOW, symlinkat) and never replaces anything: the volume is new and
  empty, so nothing is deleted;
- owners are set with fchown (or fchownat AT_SYMLINK_NOFOLLOW for symlinks), modes with
  fchmod on the fd just created, times with futimens: a symlink is never followed;
- sources are opened one component at a time with O_NOFOLLOW (and O_NONBLOCK: no FIFO can
  block us), checked with fstat;
- regular files, directories and symlinks are copied (symlinks as they are: they resolve
  inside the container), with their extended attributes (file capabilities, ACLs; not
  overlayfs' own); devices, FIFOs and sockets are not volume content and are skipped.

The directory itself takes the image directory's owner and mode (postgres's data dir stays
0700 postgres).  Setuid bits are kept, as Docker keeps them: the volume store is 0700
(statedirs.py), so no host user can reach them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from pystack.runtime import layerview
from pystack.runtime.errors import ContainerRuntimeError

CHUNK = 1 << 20
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_DIRECTORY


@contextlib.contextmanager
def _closing(fd: int) -> Iterator[int]:
    """`fd`, closed when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


def _xattrs(src: int, dst: int) -> None:
    """The source's extended attributes (file capabilities, ACLs) but overlayfs' own."""
    try:
        names = os.listxattr(src)
    except OSError:
        return
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name))
        except OSError:
            continue                                # a filesystem without that namespace


def _meta(fd: int, st: os.stat_result, src: int | None = None) -> None:
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))        # after chown (which clears setuid)
    if src is not None:
        _xattrs(src, fd)                            # after chown (which clears capabilities)
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_data(src: int, dst: int) -> None:
    while True:
        try:
            n = os.copy_file_range(src, dst, CHUNK)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            break
        if n == 0:
            return
    while chunk := os.read(src, CHUNK):             # the portable way, from where we are
        os.write(dst, chunk)


def _file(src: int, name: str, parent: int) -> None:
    """Copy the open regular file `src` to a new `name` in `parent`."""
    st = os.fstat(src)
    if not stat.S_ISREG(st.st_mode):
        return                                      # it changed under us: not copied
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with _closing(os.open(name, flags, 0o600, dir_fd=parent)) as dst:
        _copy_data(src, dst)
        _meta(dst, st, src)


def _symlink(target: str, name: str, parent: int, st: os.stat_result) -> None:
    os.symlink(target, name, dir_fd=parent)
    os.chown(name, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent, follow_symlinks=False)


def _subdir(name: str, parent: int) -> int:
    os.mkdir(name, 0o700, dir_fd=parent)
    return os.open(name, DIR_FLAGS, dir_fd=parent)


def copy_tree(src: int, dst: int) -> None:
    """Copy the content of the directory open at `src` into the (empty) directory `dst`."""
    for name in sorted(os.listdir(src)):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            try:
                sfd = os.open(name, DIR_FLAGS, dir_fd=src)
            except OSError:
                continue                            # swapped for something else: skipped
            with _closing(sfd), _closing(_subdir(name, dst)) as dfd:
                copy_tree(sfd, dfd)
                _meta(dfd, os.fstat(sfd), sfd)
        elif stat.S_ISLNK(st.st_mode):
            _symlink(os.readlink(name, dir_fd=src), name, dst, st)
        elif stat.S_ISREG(st.st_mode):
            try:
                sfd = os.open(name, READ_FLAGS, dir_fd=src)
            except OSError:
                continue
            with _closing(sfd):
                _file(sfd, name, dst)


def _copy_union(d: layerview.UnionDir, dst: int) -> None:
    for name, (layer, below, st, merged) in layerview.entries(d):
        if merged is not None:
            with _closing(_subdir(name, dst)) as dfd:
                _copy_union(merged, dfd)
                with _closing(layerview.open_in_layer(layer, below, directory=True)) as sfd:
                    _meta(dfd, st, sfd)
            continue
        if stat.S_ISLNK(st.st_mode):
            with _closing(layerview.open_in_layer(layer, below[:-1], directory=True)) as pfd:
                target = os.readlink(below[-1], dir_fd=pfd)
            _symlink(target, name, dst, st)
        elif stat.S_ISREG(st.st_mode):
            with _closing(layerview.open_in_layer(layer, below)) as sfd:
                _file(sfd, name, dst)


def copy_into(layer_dirs: Sequence[str | Path], path: str, dest: str | Path) -> bool:
    """Copy the image's directory `path` (layers given bottom first, as Image.layer_dirs)
    into the empty directory `dest`, which then takes its owner and mode.  False (nothing
    done) when the image has no directory there.  ContainerRuntimeError for a path with `..`
    and for an I/O error (dest is then partly filled; the caller discards the volume)."""
    if not path.startswith("/") or ".." in path.split("/"):
        raise ContainerRuntimeError(f"invalid volume path {path!r}: it must be absolute and "
                                    "must not contain '..'")
    layers = [Path(d) for d in reversed(layer_dirs)]
    try:
        d = layerview.union_dir(layers, path)
        if d is None:
            return False
        with _closing(layerview.open_in_layer(d.layers[0], d.rel, directory=True)) as top, \
                _closing(os.open(dest, DIR_FLAGS)) as dfd:
            _copy_union(d, dfd)
            _meta(dfd, os.fstat(top), top)
    except OSError as e:
        raise ContainerRuntimeError(f"cannot copy the image's {path} into the volume: "
                                    f"{e.strerror or e}") from e
    return True
