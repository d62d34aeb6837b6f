"""Resolving and mounting paths that untrusted parties can change, without ever leaving a root.

Image content and container processes are untrusted (docs/security.md): a volume's content, a
rootfs under construction whose directories are shared with a running container, a layer's
symlinks.  A path string handed to mount(2) or open(2) is resolved by the kernel at that
moment and follows whatever symlink a racing process just planted (CVE-2021-30465).  So:

- `open_beneath(dirfd, rel)`: an O_PATH fd of `rel` strictly below `dirfd`, refusing `..`,
  absolute paths and every symlink on the way (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
  RESOLVE_NO_MAGICLINKS, or an O_NOFOLLOW walk where openat2 is missing): a volume `subpath`;
- `open_in_root(rootfd, rel, make)`: an O_PATH fd of `rel` resolved as a chroot would
  (absolute symlinks restart at the root, `..` stops there), walked one component at a time
  with O_NOFOLLOW relative to the previous fd, creating what is missing: mount targets;
- `bind(source_fd, target_fd, ...)`: open_tree + mount_setattr + move_mount, fd to fd, so
  what was resolved is exactly what gets mounted, with no path re-resolved in between (a
  shared or slave bind keeps its peer group through mount(2) on /proc/self/fd/N, checked);
- `mount_at(fd, ...)`: mount(2) of a new filesystem onto /proc/self/fd/N (the fd's dentry).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable

from pystack.runtime import linux as L
from pystack.runtime.errors import ContainerRuntimeError

MAX_LINKS = 40

SYS_OPENAT2 = 437                   # the same number on x86_64 and aarch64
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

OPEN_TREE_CLONE = 0x1
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8

PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_sys = L.LIBC.syscall
_openat2_missing = False


def parts_of(rel: str) -> list[str]:
    return [p for p in rel.split("/") if p not in ("", ".")]


def _oserror(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """The openat2(2) syscall; OSError on failure (ENOSYS on kernels before 5.6)."""
    how = _OpenHow(flags, 0, resolve)
    fd = int(_sys(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), os.fsencode(path),
                  ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))))
    if fd < 0:
        raise _oserror(f"openat2 {path}")
    return fd


def _walk_nofollow(dirfd: int, parts: list[str]) -> int:
    """openat2's RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS by hand: each component opened with
    O_NOFOLLOW from the previous fd; a symlink anywhere fails with ELOOP."""
    fd = os.dup(dirfd)
    try:
        for part in parts:
            nxt = os.open(part, PATH_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, f"{part} is a symbolic link")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_beneath(dirfd: int, rel: str) -> int:
    """An O_PATH fd of `rel` below `dirfd`: no `..`, no absolute path, no symlink anywhere.
    OSError (ELOOP for a symlink, ENOENT, EXDEV/EINVAL for an escape) when it is refused."""
    global _openat2_missing
    if rel.startswith("/") or ".." in rel.split("/"):
        raise OSError(errno.EXDEV, f"{rel}: must be a relative path without '..'")
    parts = parts_of(rel)
    if not parts:
        return os.dup(dirfd)
    if not _openat2_missing:
        try:
            return openat2(dirfd, "/".join(parts), os.O_PATH | os.O_CLOEXEC,
                           RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
            _openat2_missing = True
    return _walk_nofollow(dirfd, parts)


def open_in_root(rootfd: int, rel: str, make: str | None = None) -> int:
    """An O_PATH fd of `rel` resolved inside `rootfd` as a chroot would resolve it, never
    following a symlink out of it even while another process changes the tree.

    make="dir"/"file" creates the missing last component (and missing parents as dirs, mode
    0755).  OSError when a component is missing (make=None) or is not a directory."""
    parts = parts_of(rel)
    stack = [os.dup(rootfd)]
    links = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            cur = stack[-1]
            try:
                fd = os.open(part, PATH_FLAGS, dir_fd=cur)
            except FileNotFoundError:
                if make is None:
                    raise
                try:
                    if parts or make == "dir":
                        os.mkdir(part, 0o755, dir_fd=cur)
                    else:
                        os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY |
                                         os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=cur))
                except FileExistsError:
                    pass                        # made meanwhile: look at it again
                parts.insert(0, part)
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                try:
                    target = os.readlink(part, dir_fd=cur)
                finally:
                    os.close(fd)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, f"too many symbolic links resolving {rel}")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = parts_of(target) + parts
                continue
            if parts and not stat.S_ISDIR(mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, f"{rel}: {part} is not a directory")
            stack.append(fd)
        return stack.pop() if len(stack) > 1 else os.dup(stack[0])
    finally:
        for fd in stack:
            os.close(fd)


def fd_path(fd: int) -> str:
    """The magic link naming exactly the object behind `fd` (for mount(2) and friends)."""
    return f"/proc/self/fd/{fd}"


def _check(r: int, what: str) -> int:
    if r < 0:
        e = ctypes.get_errno()
        exc = ContainerRuntimeError(f"{what}: {os.strerror(e)}")
        exc.errno = e  # type: ignore[attr-defined]
        raise exc
    return r


def _setattr(mfd: int, attr_set: int, propagation: int, recursive: bool, what: str) -> None:
    attr = _MountAttr(attr_set, 0, propagation, 0)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(int(_sys(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(mfd), b"",
                    ctypes.c_uint(flags), ctypes.byref(attr),
                    ctypes.c_size_t(ctypes.sizeof(attr)))), f"mount_setattr {what}")


def bind(source_fd: int, target_fd: int, read_only: bool, propagation: str | None,
         reopen: Callable[[], int], attrs: int = 0, what: str = "") -> None:
    """Bind-mount (recursively) the object behind `source_fd` onto the one behind
    `target_fd`, made read-only (the top mount, as runc) and given `attrs` (MOUNT_ATTR_*).

    Private propagation (the default, "rprivate"): a detached clone (open_tree) set up
    before it is attached by move_mount, fd to fd, nothing resolved again.  "shared" or
    "slave" must keep the source's peer group (a clone is private): mount(2) binds
    /proc/self/fd/N onto /proc/self/fd/M as runc does, then the new mount is opened again
    with `reopen` and must be the source's inode, or the mount is refused."""
    prop = propagation or "rprivate"
    flag = L.PROPAGATION.get(prop, L.MS_PRIVATE)
    if flag & L.MS_PRIVATE:
        flags = OPEN_TREE_CLONE | os.O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE
        mfd = _check(int(_sys(ctypes.c_long(SYS_OPEN_TREE), ctypes.c_int(source_fd), b"",
                              ctypes.c_uint(flags))), f"open_tree {what}")
        try:
            if read_only or attrs:
                _setattr(mfd, attrs | (MOUNT_ATTR_RDONLY if read_only else 0), 0, False, what)
            _check(int(_sys(ctypes.c_long(SYS_MOVE_MOUNT), ctypes.c_int(mfd), b"",
                            ctypes.c_int(target_fd), b"",
                            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))),
                   f"move_mount {what}")
            _setattr(mfd, 0, flag & ~L.MS_REC, bool(flag & L.MS_REC), what)
        finally:
            os.close(mfd)
        return
    L.mount(fd_path(source_fd), fd_path(target_fd), None, L.MS_BIND | L.MS_REC)
    mfd = reopen()
    try:
        want, got = os.fstat(source_fd), os.fstat(mfd)
        if (want.st_dev, want.st_ino) != (got.st_dev, got.st_ino):
            raise ContainerRuntimeError(f"mount {what}: the target changed while it was "
                                        "mounted; refusing it")
        if read_only or attrs:
            _setattr(mfd, attrs | (MOUNT_ATTR_RDONLY if read_only else 0), 0, False, what)
        L.mount(None, fd_path(mfd), None, flag)
    finally:
        os.close(mfd)


def mount_at(fd: int, source: str, fstype: str, flags: int = 0, data: str | None = None) -> None:
    """Mount a new `fstype` filesystem onto the dentry behind `fd` (never a path re-walked)."""
    L.mount(source, fd_path(fd), fstype, flags, data)
