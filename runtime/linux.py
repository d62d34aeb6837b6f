"""Thin ctypes wrappers over the Linux syscalls Python 3.11 lacks.

mount/umount2, unshare, setns, pivot_root, prctl, setdomainname, and the flag constants.
Every failure raises ContainerRuntimeError naming the call and the errno text; the raw OSError
is chained.  libc is loaded once at import time, so nothing is dlopen'ed after pivot_root.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import struct

from pystack.runtime.errors import ContainerRuntimeError

_libc = ctypes.CDLL(None, use_errno=True)
LIBC = _libc                # for the other ctypes users of this package (one handle)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long

SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine(), 155)

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# clone/unshare flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
               "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
               "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC}


def _fail(call: str, what: str) -> ContainerRuntimeError:
    e = ctypes.get_errno()
    err = OSError(e, os.strerror(e))
    exc = ContainerRuntimeError(f"{call} {what}: {os.strerror(e)}")
    exc.errno = e  # type: ignore[attr-defined]
    exc.__cause__ = err
    return exc


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        raise _fail("mount", f"{fstype or 'bind'} {source or ''} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(_b(target), flags) != 0:
        raise _fail("umount", target)


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        raise _fail("unshare", hex(flags))


def setns(fd: int, nstype: int = 0) -> None:
    if _libc.setns(fd, nstype) != 0:
        raise _fail("setns", f"fd {fd}")


def pivot_root(new_root: str, put_old: str) -> None:
    if _libc.syscall(SYS_PIVOT_ROOT, _b(new_root), _b(put_old)) != 0:
        raise _fail("pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    r = int(_libc.prctl(option, arg2, arg3, arg4, arg5))
    if r < 0:
        raise _fail("prctl", str(option))
    return r


SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT, SYS_MOVE_MOUNT = {
    "aarch64": (430, 431, 432, 429)}.get(platform.machine(), (430, 431, 432, 429))
FSOPEN_CLOEXEC = 0x1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100


def mount_new_api(fstype: str, target: str, options: list[tuple[str, str]]) -> None:
    """fsopen/fsconfig/fsmount/move_mount: no page-size limit on the options (kernel >= 5.2;
    repeated "lowerdir+" needs 6.8)."""
    fs = int(_libc.syscall(SYS_FSOPEN, fstype.encode(), FSOPEN_CLOEXEC))
    if fs < 0:
        raise _fail("fsopen", fstype)
    try:
        for key, value in options:
            if _libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_SET_STRING, key.encode(),
                             os.fsencode(value), 0) != 0:
                raise _fail("fsconfig", f"{key}={value}")
        if _libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0) != 0:
            raise _fail("fsconfig", f"create {fstype}")
        mfd = int(_libc.syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, 0))
        if mfd < 0:
            raise _fail("fsmount", fstype)
        try:
            if _libc.syscall(SYS_MOVE_MOUNT, mfd, b"", AT_FDCWD, os.fsencode(target),
                             MOVE_MOUNT_F_EMPTY_PATH) != 0:
                raise _fail("move_mount", target)
        finally:
            os.close(mfd)
    finally:
        os.close(fs)


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _libc.setdomainname(raw, len(raw)) != 0:
        raise _fail("setdomainname", name)


def set_name(name: str) -> None:
    """The process's comm (what `ps -o comm` and top show), at most 15 bytes; best effort."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0)


def set_cmdline(title: str) -> bool:
    """Rewrite /proc/self/cmdline in place (the argv area of our own stack, as setproctitle
    does); only when `title` fits, since the area cannot grow.  False when it did not fit."""
    try:
        with open("/proc/self/stat", "rb") as f:
            raw = f.read()
        fields = raw[raw.rfind(b")") + 2:].split()
        start, end = int(fields[45]), int(fields[46])      # arg_start, arg_end (fields 48-49)
    except (OSError, IndexError, ValueError):
        return False
    data = title.encode()
    if start <= 0 or len(data) >= end - start:
        return False
    ctypes.memset(start, 0, end - start)
    ctypes.memmove(start, data, len(data))
    return True


def set_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_non_dumpable() -> None:
    prctl(PR_SET_DUMPABLE, 0)


def errno_of(e: BaseException) -> int:
    """The errno carried by one of our errors (0 if none)."""
    return int(getattr(e, "errno", 0) or 0)


TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCSCTTY = 0x540E


def open_pty() -> tuple[int, int, int]:
    """A new terminal from the /dev/ptmx of the CURRENT mount namespace (inside a container:
    its own devpts, so ttyname works there): (master, slave, pts number), both CLOEXEC."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        n = int(struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0])
        slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, n
