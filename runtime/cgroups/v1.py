"""The cgroup v1 backend, which is also the hybrid backend (v1 controllers + a v2 tree).

One directory per controller hierarchy: <mount>/<parent>/<name>, nested under the hierarchy
root (not under our own cgroup, which on this kind of host is some supervisor's scope).  In
hybrid mode the container also gets a directory in the controller-less v2 tree, used for a
race-free freeze (cgroup.freeze) and kill (cgroup.kill), as runtime.md §3.6 found works.
name=systemd and controllers pystack does not drive are left alone.
"""

from __future__ import annotations

import os
import signal
import time

from pystack.runtime.api import Stats
from pystack.runtime.cgroups import base, v2
from pystack.runtime.cgroups.devices import DEFAULT_RULES
from pystack.runtime.cgroups.layout import Layout, base_dir
from pystack.runtime.cgroups.validate import validate
from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources


class V1Cgroup:
    """A container's cgroups on a v1 (or hybrid) host."""

    def __init__(self, name: str, parent: str, layout: Layout) -> None:
        base.check_name(name, "name")
        base.check_name(parent, "parent")
        self.name = name
        self.parent = parent
        self._warnings: list[str] = []
        self._bases: dict[str, str] = {}       # controller -> hierarchy base dir
        for ctrl, mount in layout.v1.items():
            self._bases[ctrl] = base_dir(mount, layout.own.get(ctrl), v2=False)
        self._dirs = {c: os.path.join(b, parent, name) for c, b in self._bases.items()}
        self.unified: str | None = None
        self._unified_base: str | None = None
        if layout.v2 is not None:
            self._unified_base = base_dir(layout.v2, layout.own.get(""), v2=True)
            self.unified = os.path.join(self._unified_base, parent, name)

    def _hier_dirs(self) -> list[str]:
        """Each distinct directory (co-mounted controllers share one), the v2 one last."""
        seen: list[str] = []
        for d in self._dirs.values():
            if d not in seen:
                seen.append(d)
        if self.unified is not None:
            seen.append(self.unified)
        return seen

    # --- lifecycle ---

    def create(self) -> None:
        for attempt in range(3):
            try:
                self._create_once()
                return
            except CgroupError:
                if attempt == 2:      # a concurrent remove() may drop the shared parent
                    raise

    def _create_once(self) -> None:
        for d in self._hier_dirs():
            if d == self._dirs.get("cpuset"):
                continue
            base.mkdirs(d)
        if "cpuset" in self._dirs:
            # new cpuset groups start with empty cpus/mems; a task cannot join until filled
            cur = self._bases["cpuset"]
            for part in [*self.parent.split("/"), self.name]:
                cur = os.path.join(cur, part)
                base.mkdirs(cur)
                for f in ("cpuset.cpus", "cpuset.mems"):
                    fp = os.path.join(cur, f)
                    if not base.read(fp, "").strip():
                        base.write(fp, base.read(os.path.join(os.path.dirname(cur), f)).strip())

    def remove(self) -> None:
        deadline = time.monotonic() + base.REMOVE_TIMEOUT     # one budget for all of them
        for d in self._hier_dirs():
            base.rmdir_retry(d, timeout=max(0.05, deadline - time.monotonic()))
        bases = {*self._bases.values(), *([self._unified_base] if self._unified_base else [])}
        parts = self.parent.split("/")
        for b in bases:
            for i in range(len(parts), 0, -1):
                base.rmdir_quiet(os.path.join(b, *parts[:i]))

    # --- membership ---

    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self._hier_dirs()]

    def add_pid(self, pid: int) -> None:
        for f in self.procs_files():
            base.write(f, str(pid))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for f in self.procs_files():
            found.update(base.read_pids(f))
        return sorted(found)

    def path(self, controller: str) -> str | None:
        if controller in ("", "unified"):
            return self.unified
        return self._dirs.get(controller)

    # --- limits ---

    def _warn(self, msg: str) -> None:
        if msg not in self._warnings:
            self._warnings.append(msg)

    def warnings(self) -> list[str]:
        return list(self._warnings)

    def _set(self, ctrl: str, fname: str, value: str, what: str) -> None:
        d = self._dirs.get(ctrl)
        f = os.path.join(d, fname) if d else ""
        if not d or not os.path.exists(f):
            self._warn(f"{what} is not supported by this kernel's cgroups; ignored")
            return
        base.write(f, value)

    def apply(self, r: Resources, privileged: bool = False) -> None:
        validate(r)
        self._apply_devices(privileged)
        if r.memory is not None and r.memory > 0:
            self._set("memory", "memory.limit_in_bytes", str(r.memory), "mem_limit")
        sw = base.memsw_v1(r)
        if sw is not None:
            if sw > 0 and r.memory and sw < r.memory:
                raise CgroupError("memswap_limit must be at least mem_limit")
            d = self._dirs.get("memory")
            if d and os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes")):
                base.write(os.path.join(d, "memory.memsw.limit_in_bytes"), str(sw))
            elif r.memory_swap not in (None, 0):
                self._warn("memswap_limit is not supported (no swap accounting); ignored")
        if r.memory_reservation is not None and r.memory_reservation > 0:
            self._set("memory", "memory.soft_limit_in_bytes", str(r.memory_reservation),
                      "mem_reservation")
        q = base.cpu_quota(r)
        if q is not None:
            self._set("cpu", "cpu.cfs_period_us", str(q[1]), "cpus")
            self._set("cpu", "cpu.cfs_quota_us", str(q[0]), "cpus")
        if r.cpu_shares:
            self._set("cpu", "cpu.shares", str(max(2, r.cpu_shares)), "cpu_shares")
        if r.cpuset_cpus:
            self._set("cpuset", "cpuset.cpus", r.cpuset_cpus, "cpuset")
        if r.cpuset_mems:
            self._set("cpuset", "cpuset.mems", r.cpuset_mems, "cpuset mems")
        if r.pids_limit is not None:
            self._set("pids", "pids.max", base.limit_str(r.pids_limit if r.pids_limit > 0 else -1),
                      "pids_limit")
        if r.blkio_weight:
            d = self._dirs.get("blkio", "")
            for fname in ("blkio.weight", "blkio.bfq.weight"):
                if d and os.path.exists(os.path.join(d, fname)):
                    base.write(os.path.join(d, fname), str(r.blkio_weight))
                    break
            else:
                self._warn("blkio weight is not supported by this kernel's cgroups; ignored")

    def _apply_devices(self, privileged: bool) -> None:
        d = self._dirs.get("devices")
        if d is None:
            self._warn("the devices cgroup is not available; device access is not restricted")
            return
        if privileged:
            base.write(os.path.join(d, "devices.allow"), "a")
            return
        base.write(os.path.join(d, "devices.deny"), "a")
        for rule in DEFAULT_RULES:
            base.write(os.path.join(d, "devices.allow"), rule)

    # --- observation ---

    def stats(self) -> Stats:
        md = self._dirs.get("memory", "")
        usage = limit = 0
        if md:
            inactive = base.read_keyed(os.path.join(md, "memory.stat")).get(
                "total_inactive_file", 0)
            usage = max(0, base.read_int(os.path.join(md, "memory.usage_in_bytes")) - inactive)
            limit = base.read_int(os.path.join(md, "memory.limit_in_bytes"))
        host = base.host_memory()
        if limit <= 0 or (host and limit > host):
            limit = host
        cpu = 0
        if "cpuacct" in self._dirs:
            cpu = base.read_int(os.path.join(self._dirs["cpuacct"], "cpuacct.usage"))
        npids = len(self.pids())
        if "pids" in self._dirs:
            npids = base.read_int(os.path.join(self._dirs["pids"], "pids.current"), npids)
        rd = wr = 0
        if "blkio" in self._dirs:
            f = os.path.join(self._dirs["blkio"], "blkio.throttle.io_service_bytes_recursive")
            for line in base.read(f, "").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[2].isdigit():
                    if parts[1] == "Read":
                        rd += int(parts[2])
                    elif parts[1] == "Write":
                        wr += int(parts[2])
        return Stats(memory_usage=usage, memory_limit=limit, cpu_usage_ns=cpu, pids=npids,
                     io_read_bytes=rd, io_write_bytes=wr)

    def oom_killed(self) -> bool:
        md = self._dirs.get("memory")
        if md is None:
            return False
        ctl = base.read_keyed(os.path.join(md, "memory.oom_control"))
        if "oom_kill" in ctl:
            return ctl["oom_kill"] > 0
        return ctl.get("under_oom", 0) > 0 or \
            base.read_int(os.path.join(md, "memory.failcnt")) > 0   # kernels before 4.13

    # --- control ---

    def _use_v2_freezer(self) -> bool:
        return self.unified is not None and os.path.exists(
            os.path.join(self.unified, "cgroup.freeze"))

    def freeze(self) -> None:
        if self._use_v2_freezer():
            assert self.unified is not None
            v2.freeze_dir(self.unified, True)
            return
        fd = self._dirs.get("freezer")
        if fd is None:
            raise CgroupError("no freezer cgroup on this host; cannot pause")
        base.write(os.path.join(fd, "freezer.state"), "FROZEN")
        try:
            base.wait_until(lambda: self.frozen(), v2.FREEZE_TIMEOUT, f"{fd} to freeze")
        except CgroupError:
            base.write(os.path.join(fd, "freezer.state"), "THAWED")
            raise

    def thaw(self) -> None:
        if self._use_v2_freezer():
            assert self.unified is not None
            v2.freeze_dir(self.unified, False)
            return
        fd = self._dirs.get("freezer")
        if fd is None:
            raise CgroupError("no freezer cgroup on this host; cannot unpause")
        base.write(os.path.join(fd, "freezer.state"), "THAWED")
        base.wait_until(lambda: not self.frozen(), v2.FREEZE_TIMEOUT, f"{fd} to thaw")

    def frozen(self) -> bool:
        if self._use_v2_freezer():
            assert self.unified is not None
            return v2.events(self.unified).get("frozen", 0) == 1
        fd = self._dirs.get("freezer")
        if fd is None:
            return False
        return base.read(os.path.join(fd, "freezer.state"), "").strip() == "FROZEN"

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        if sig == signal.SIGKILL and self.unified is not None and v2.kill_dir(self.unified):
            try:
                base.wait_until(lambda: not self.pids(), 1.0, f"{self.name} to empty")
                return
            except CgroupError:
                pass      # a pid that joined only the v1 hierarchies: signal it below
        v2.signal_all(self, sig)
