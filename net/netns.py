"""Network namespaces pinned by a bind mount, created and entered in-process via libc.

`create(pin)` unshares a new netns in the calling thread, bind-mounts
/proc/thread-self/ns/net onto `pin`, sets `lo` up, and returns the thread to where it was,
so no child process and no `ip netns` is needed (about 1 ms).  `entered(pin)` switches the
calling thread into a pinned namespace for the duration of a `with` (netlink sockets opened
inside stay bound to that namespace afterwards).  `remove(pin)` lazily unmounts and deletes
the pin; the kernel frees the namespace, and the veth ends in it, when nothing else holds it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pystack.net.errors import NetError

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise NetError(f"{what}: {os.strerror(err)}") from OSError(err, os.strerror(err))


def _setns(fd: int, what: str) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), what)


def is_pinned(pin: Path) -> bool:
    """True when `pin` is a mounted namespace (an nsfs inode, not the empty file under it)."""
    try:
        return os.stat(pin).st_dev != os.stat(pin.parent).st_dev
    except OSError:
        return False


def create(pin: Path) -> None:
    """Create a new network namespace pinned at `pin` (a file created here)."""
    pin.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(pin, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            src = f"/proc/self/task/{_gettid()}/ns/net".encode()
            _check(_libc.mount(src, bytes(pin), None, MS_BIND, None), f"pin netns at {pin}")
            _loopback_up()
        finally:
            _setns(orig, "return to the host network namespace")
    except BaseException:
        try:
            pin.unlink()
        except OSError:
            pass
        raise
    finally:
        os.close(orig)


def _loopback_up() -> None:
    """Set `lo` up in the calling thread's netns: two ioctls, no netlink socket."""
    ifreq = struct.pack("16sH14x", b"lo", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS,
                        struct.pack("16sH14x", b"lo", flags | IFF_UP))
        except OSError as e:
            raise NetError(f"set lo up in a new netns: {e.strerror}") from e


def _gettid() -> int:
    return int(os.readlink("/proc/thread-self").rsplit("/", 1)[1])


@contextmanager
def entered(pin: Path) -> Iterator[None]:
    """Run the body with the calling thread inside the namespace pinned at `pin`."""
    try:
        target = os.open(pin, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetError(f"network namespace {pin} is gone") from e
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            _setns(target, f"enter network namespace {pin}")
        except NetError as e:
            if "Invalid argument" in str(e):
                raise NetError(f"{pin} is not a pinned network namespace") from e
            raise
        try:
            yield
        finally:
            _setns(orig, "return to the host network namespace")
    finally:
        os.close(orig)
        os.close(target)


def open_fd(pin: Path) -> int:
    """An O_RDONLY fd of the pinned namespace (for IFLA_NET_NS_FD); the caller closes it."""
    try:
        return os.open(pin, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetError(f"network namespace {pin} is gone") from e


def mount_tmpfs(path: Path, options: str) -> None:
    """A small tmpfs of our own at `path` (nosuid, nodev, noexec)."""
    _check(_libc.mount(b"tmpfs", bytes(path), b"tmpfs", 0x2 | 0x4 | 0x8, options.encode()),
           f"mount tmpfs on {path}")


def unmount(path: Path) -> None:
    """Lazily unmount whatever is mounted at `path`; nothing there is fine."""
    if _libc.umount2(bytes(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise NetError(f"unmount {path}: {os.strerror(err)}")


def remove(pin: Path) -> None:
    """Unmount and delete the pin; idempotent."""
    rc = _libc.umount2(bytes(pin), MNT_DETACH)
    if rc != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise NetError(f"unmount netns pin {pin}: {os.strerror(err)}")
    try:
        pin.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise NetError(f"remove netns pin {pin}: {e.strerror}") from e
