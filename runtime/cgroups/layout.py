"""Which cgroup layout this host has: v2 (unified), v1 (legacy) or hybrid, probed at run time.

Reads /proc/self/mountinfo (where each hierarchy is mounted), /proc/cgroups (which controllers
the kernel has enabled) and /proc/self/cgroup (our own cgroup in each hierarchy).  Everything is
parsed from text so the parsers can be tested on fixtures; `probe()` reads the real files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from pystack.runtime.errors import CgroupError

Mode = Literal["v2", "v1", "hybrid"]

# v1 controllers pystack drives; others (net_cls, perf_event, hugetlb, rdma, misc) are ignored.
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer", "devices")
# v2 controllers pystack enables in subtree_control when the hierarchy offers them.
V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")


@dataclass(frozen=True)
class CgroupMount:
    mountpoint: str
    root: str                           # the mount's root in the hierarchy (mountinfo field 4)
    fstype: Literal["cgroup", "cgroup2"]
    controllers: tuple[str, ...]        # v1: the controllers bound to this mount; v2: ()


@dataclass(frozen=True)
class Layout:
    mode: Mode
    v1: dict[str, CgroupMount] = field(default_factory=dict)   # controller -> mount
    v2: CgroupMount | None = None
    own: dict[str, str] = field(default_factory=dict)  # controller ("" for v2) -> own cgroup path


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts listed in a mountinfo text, in order."""
    mounts: list[CgroupMount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lf, rf = left.split(), right.split()
        if len(lf) < 5 or len(rf) < 3:
            continue
        fstype = rf[0]
        if fstype == "cgroup2":
            mounts.append(CgroupMount(_unescape(lf[4]), _unescape(lf[3]), "cgroup2", ()))
        elif fstype == "cgroup":
            opts = rf[2].split(",")
            ctrls = tuple(o for o in opts if o in V1_CONTROLLERS or o.startswith("name="))
            mounts.append(CgroupMount(_unescape(lf[4]), _unescape(lf[3]), "cgroup", ctrls))
    return mounts


def parse_proc_cgroups(text: str) -> dict[str, tuple[int, bool]]:
    """/proc/cgroups -> {controller: (hierarchy id, enabled)}; hierarchy 0 = v2 or unbound."""
    out: dict[str, tuple[int, bool]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        if len(parts) >= 4 and parts[1].isdigit():
            out[parts[0]] = (int(parts[1]), parts[3] == "1")
    return out


def parse_self_cgroup(text: str) -> dict[str, str]:
    """/proc/self/cgroup -> {controller: path}; the v2 entry ("0::/path") is keyed ""."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            out[""] = parts[2]
        else:
            for c in parts[1].split(","):
                out[c] = parts[2]
    return out


def _pick_v2(mounts: list[CgroupMount]) -> CgroupMount | None:
    v2 = [m for m in mounts if m.fstype == "cgroup2"]
    for preferred in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        for m in v2:
            if m.mountpoint == preferred:
                return m
    return v2[0] if v2 else None


def build_layout(mountinfo: str, proc_cgroups: str, self_cgroup: str) -> Layout:
    """Decide the mode from the three texts (the runtime's probe, and tests' fixtures)."""
    mounts = parse_mountinfo(mountinfo)
    enabled = parse_proc_cgroups(proc_cgroups)
    own = parse_self_cgroup(self_cgroup)
    v1: dict[str, CgroupMount] = {}
    for m in mounts:
        if m.fstype != "cgroup":
            continue
        for c in m.controllers:
            if c in V1_CONTROLLERS and enabled.get(c, (0, True))[1] and c not in v1:
                v1[c] = m
    v2 = _pick_v2(mounts)
    if v1:
        return Layout("hybrid" if v2 is not None else "v1", v1, v2, own)
    if v2 is not None:
        return Layout("v2", {}, v2, own)
    raise CgroupError("no cgroup filesystem is mounted",
                      hint="mount cgroup2 at /sys/fs/cgroup (or the v1 controllers under it)")


def probe() -> Layout:
    """The layout of this host, read from /proc."""
    try:
        with open("/proc/self/mountinfo") as f:
            mi = f.read()
        with open("/proc/self/cgroup") as f:
            sc = f.read()
        pc = ""
        if os.path.exists("/proc/cgroups"):
            with open("/proc/cgroups") as f:
                pc = f.read()
    except OSError as e:
        raise CgroupError(f"cannot read the cgroup layout from /proc: {e.strerror}") from e
    return build_layout(mi, pc, sc)


def base_dir(mount: CgroupMount, own_path: str | None, v2: bool) -> str:
    """Where pystack's parent cgroup goes in this hierarchy: its root when writable, else
    next to our own cgroup (v2: its parent, since our own cgroup holds processes)."""
    if os.access(mount.mountpoint, os.W_OK):
        return mount.mountpoint
    rel = own_path or "/"
    if mount.root != "/" and rel.startswith(mount.root):
        rel = rel[len(mount.root):] or "/"
    if v2 and rel not in ("", "/"):
        rel = os.path.dirname(rel.rstrip("/"))
    return os.path.join(mount.mountpoint, rel.lstrip("/"))
