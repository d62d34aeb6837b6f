"""Linux capabilities: names and numbers, Docker's default set and cap_add/cap_drop rules, and
the ctypes calls that apply a set to the current process (bounding, ambient, capset).

The container start calls, in its stage-2 child, after mounts and before execve:

    prepare_user_switch(caps)     # drop the bounding set, clear ambient, PR_SET_KEEPCAPS=1
    setgroups / setgid / setuid   # (the caller; still holds every effective cap as root)
    finish_user_switch(caps)      # PR_SET_KEEPCAPS=0, capset(E = P = caps, I = 0)

or apply(caps) when no user switch happens.  As with Docker, a non-root user ends up with no
effective caps after execve (the kernel recomputes them) and bounding = `caps`; root keeps
exactly `caps`.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from pystack.runtime import linux as L
from pystack.runtime.errors import ContainerRuntimeError, SecurityConfigError

NAMES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
BY_NAME: dict[str, int] = {n: i for i, n in enumerate(NAMES)}
CAP_LAST = len(NAMES) - 1          # 40, CAP_CHECKPOINT_RESTORE

# daemon/pkg/oci/caps/defaults.go: bounding = permitted = effective = these 14 (0xa80425fb)
DEFAULT: frozenset[int] = frozenset(BY_NAME[n] for n in (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"))

PR_SET_DUMPABLE = L.PR_SET_DUMPABLE
PR_SET_KEEPCAPS = L.PR_SET_KEEPCAPS
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = L.PR_SET_NO_NEW_PRIVS
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def kernel_last_cap() -> int:
    """The highest capability this kernel knows (capped at the ones we can name)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return min(int(f.read().strip()), CAP_LAST)
    except (OSError, ValueError):
        return CAP_LAST


def all_caps() -> frozenset[int]:
    return frozenset(range(kernel_last_cap() + 1))


def parse(name: str) -> int | None:
    """"net_admin", "CAP_NET_ADMIN" -> 12; "ALL" -> None; unknown -> SecurityConfigError."""
    n = name.strip().upper()
    if n == "ALL":
        return None
    bare = n[4:] if n.startswith("CAP_") else n
    if bare not in BY_NAME:
        raise SecurityConfigError(f"unknown capability: {name!r}",
                                  hint="use a name like NET_ADMIN or CAP_NET_ADMIN, or ALL")
    return BY_NAME[bare]


def resolve(cap_add: Iterable[str], cap_drop: Iterable[str], privileged: bool,
            base: frozenset[int] = DEFAULT) -> frozenset[int]:
    """Docker's TweakCapabilities: privileged -> all; ALL in cap_add -> all minus cap_drop;
    ALL in cap_drop -> only cap_add; else (base - cap_drop) + cap_add."""
    adds = [parse(c) for c in cap_add]     # parse first: unknown names fail even if privileged
    drops = [parse(c) for c in cap_drop]
    if privileged:
        return all_caps()
    add_set = frozenset(c for c in adds if c is not None)
    drop_set = frozenset(c for c in drops if c is not None)
    if None in adds:
        return all_caps() - drop_set
    if None in drops:
        return add_set
    return (base - drop_set) | add_set


def mask(caps: Iterable[int]) -> int:
    m = 0
    for c in caps:
        m |= 1 << c
    return m


def names(caps: Iterable[int]) -> list[str]:
    return ["CAP_" + NAMES[c] for c in sorted(caps)]


def from_mask(m: int) -> frozenset[int]:
    return frozenset(i for i in range(64) if m >> i & 1)


def current(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of a process, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                k, _, v = line.partition(":")
                out[k] = int(v.strip(), 16)
    return out


# --- ctypes primitives ---

def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """runtime/linux.py's prctl, its failure as this package's error."""
    try:
        return L.prctl(option, arg2, arg3, arg4, arg5)
    except ContainerRuntimeError as e:
        raise SecurityConfigError(f"prctl({option}) failed: {os.strerror(L.errno_of(e))}") \
            from e


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capset(effective: frozenset[int], permitted: frozenset[int],
           inheritable: frozenset[int] = frozenset()) -> None:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i, s in enumerate((mask(effective), mask(permitted), mask(inheritable))):
        for word in range(2):
            setattr(data[word], _CapData._fields_[i][0], (s >> (32 * word)) & 0xFFFFFFFF)
    if L.LIBC.capset(ctypes.byref(hdr), data) != 0:
        e = ctypes.get_errno()
        raise SecurityConfigError(f"capset failed: {os.strerror(e)}") from OSError(
            e, os.strerror(e))


def drop_bounding(caps: frozenset[int]) -> None:
    """Drop every capability not in `caps` from the bounding set (needs CAP_SETPCAP)."""
    for c in range(kernel_last_cap() + 1):
        if c not in caps and prctl(PR_CAPBSET_READ, c) == 1:
            prctl(PR_CAPBSET_DROP, c)


def clear_ambient() -> None:
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except SecurityConfigError:
        pass                           # kernels before 4.3 have no ambient set


def prepare_user_switch(caps: frozenset[int]) -> None:
    """Before setgroups/setgid/setuid: bounding = caps, ambient empty, keep permitted caps
    across the uid change."""
    drop_bounding(caps)
    clear_ambient()
    prctl(PR_SET_KEEPCAPS, 1)


def finish_user_switch(caps: frozenset[int]) -> None:
    """After setuid: effective = permitted = caps, inheritable empty."""
    prctl(PR_SET_KEEPCAPS, 0)
    capset(caps, caps, frozenset())


def apply(caps: frozenset[int], keep_for_setuid: bool = False) -> None:
    """Apply `caps` to this process.  keep_for_setuid=True does only the first half
    (prepare_user_switch); the caller switches user and then calls finish_user_switch."""
    prepare_user_switch(caps)
    if not keep_for_setuid:
        finish_user_switch(caps)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def no_new_privs() -> bool:
    return prctl(PR_GET_NO_NEW_PRIVS) == 1


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0)
