"""What a default container's /proc, /sys and /dev look like (data for the mount code), and
which sysctls a container may set.

From Docker's daemon/pkg/oci/defaults.go and runc's libcontainer:
- masked paths: a directory gets a read-only empty tmpfs over it, a file gets /dev/null bound
  over it (runc's maskPath);
- read-only paths: bind-mounted over themselves, then remounted read-only;
- default devices: bind-mounted from the host (or mknod'ed) on a nodev tmpfs /dev;
- /dev symlinks: fd, stdin, stdout, stderr, ptmx (to pts/ptmx), core (when /proc/kcore exists).
"""

from __future__ import annotations

import glob
import os
import re
import stat
from dataclasses import dataclass

from pystack.runtime.errors import SecurityConfigError

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
    "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
)
# expanded on the host at container start (GHSA-6fw5-f8r9-fgfm)
MASKED_GLOBS: tuple[str, ...] = ("/sys/devices/system/cpu/cpu*/thermal_throttle",)

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)


@dataclass(frozen=True)
class Device:
    path: str
    kind: str            # "c" or "b"
    major: int
    minor: int
    mode: int = 0o666    # permission bits
    uid: int = 0
    gid: int = 0

    @property
    def rdev(self) -> int:
        return os.makedev(self.major, self.minor)

    @property
    def st_mode(self) -> int:
        """The full mode for os.mknod (type bits | permissions)."""
        return (stat.S_IFCHR if self.kind == "c" else stat.S_IFBLK) | self.mode


# runtime-spec "Default Devices" (/dev/console only with a terminal: the pty is bound there)
DEFAULT_DEVICES: tuple[Device, ...] = (
    Device("/dev/null", "c", 1, 3),
    Device("/dev/zero", "c", 1, 5),
    Device("/dev/full", "c", 1, 7),
    Device("/dev/random", "c", 1, 8),
    Device("/dev/urandom", "c", 1, 9),
    Device("/dev/tty", "c", 5, 0),
)
CONSOLE = Device("/dev/console", "c", 5, 1, 0o620)

DEV_SYMLINKS: tuple[tuple[str, str], ...] = (   # (link path, target)
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
)
DEV_CORE = ("/dev/core", "/proc/kcore")       # only when the host has /proc/kcore

# Docker sets no default ulimits of its own: a container inherits the daemon's (here: the
# shim's), and compose `ulimits:` override them, never above the host's hard limits.
DEFAULT_ULIMITS: tuple[tuple[str, int, int], ...] = ()


def masked_paths() -> list[str]:
    """The masked paths for a container started on this host (globs expanded)."""
    out = list(MASKED_PATHS)
    for pattern in MASKED_GLOBS:
        out += sorted(glob.glob(pattern))
    return out


def dev_symlinks() -> list[tuple[str, str]]:
    links = list(DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(DEV_CORE)
    return links


# --- sysctls (Docker's opts.ValidateSysctl + runc's validator) ---

IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*\Z")


def normalize_sysctl(name: str) -> str:
    """"net/ipv4/ip_forward" -> "net.ipv4.ip_forward" (slashes keep dots inside parts)."""
    if not _NAME.match(name) or ".." in name or "//" in name or name.endswith(("/", ".")):
        raise SecurityConfigError(f"invalid sysctl name {name!r}")
    if "/" in name:
        return ".".join(p.replace(".", "/") for p in name.split("/"))
    return name


def sysctl_path(name: str) -> str:
    """Where the sysctl lives under /proc/sys."""
    n = normalize_sysctl(name)
    return "/proc/sys/" + "/".join(p.replace("/", ".") for p in n.split("."))


def check_sysctl(name: str, own_netns: bool = True, own_ipcns: bool = True) -> None:
    """Raise unless `name` is namespaced for this container, as Docker and runc decide:
    kernel.msg*/sem/shm* and fs.mqueue.* need a private ipc namespace, net.* a private
    network namespace; everything else would change the host and is refused."""
    n = normalize_sysctl(name)
    if n in IPC_SYSCTLS or n.startswith("fs.mqueue."):
        if not own_ipcns:
            raise SecurityConfigError(f"sysctl {name!r} is not allowed in the host's ipc "
                                      "namespace")
        return
    if n.startswith("net."):
        if not own_netns:
            raise SecurityConfigError(f"sysctl {name!r} is not allowed in the host's network "
                                      "namespace", hint="drop network_mode: host")
        return
    if n in ("kernel.hostname", "kernel.domainname"):
        raise SecurityConfigError(f"sysctl {name!r} is not allowed",
                                  hint="use hostname: / domainname: instead")
    raise SecurityConfigError(f"sysctl {name!r} is not in a separate kernel namespace",
                              hint="only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and "
                                   "net.* can be set per container")
