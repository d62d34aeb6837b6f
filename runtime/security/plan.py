"""How a container process is confined, planned once before any fork and applied by the
forked child with syscalls only: no-new-privileges, the capability sets (bounding, effective,
permitted; none inherited), the user switch, the seccomp filter (compiled here, cached per
capability set and profile), and the resource limits (never above the host's hard limits).

Used for a container's PID 1 (launch.py), every exec and healthcheck probe (exec.py), and at
create time to refuse bad input early (linux_runtime.py).  Everything is imported at module
load: the child may be past pivot_root when it applies the plan.
"""

from __future__ import annotations

import os
import resource

from pystack.runtime import linux as L
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.process import User
from pystack.runtime.security import caps as _caps
from pystack.runtime.security import seccomp as _seccomp
from pystack.runtime.spec import ContainerSpec

RLIMITS = {"cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
           "data": resource.RLIMIT_DATA, "stack": resource.RLIMIT_STACK,
           "core": resource.RLIMIT_CORE, "rss": resource.RLIMIT_RSS,
           "nproc": resource.RLIMIT_NPROC, "nofile": resource.RLIMIT_NOFILE,
           "memlock": resource.RLIMIT_MEMLOCK, "as": resource.RLIMIT_AS,
           "locks": 10, "sigpending": resource.RLIMIT_SIGPENDING,
           "msgqueue": resource.RLIMIT_MSGQUEUE, "nice": resource.RLIMIT_NICE,
           "rtprio": resource.RLIMIT_RTPRIO, "rttime": resource.RLIMIT_RTTIME}

_BPF_CACHE: dict[tuple[frozenset[int], str | None], bytes | None] = {}


def clamp_rlimits(spec: ContainerSpec) -> tuple[list[tuple[int, int, int]], list[str]]:
    """(resource, soft, hard) to set, never above the host hard limit; plus warnings."""
    out: list[tuple[int, int, int]] = []
    warns: list[str] = []
    for u in spec.ulimits:
        res = RLIMITS.get(u.name)
        if res is None:
            raise ContainerRuntimeError(f"invalid ulimit name: {u.name}")
        _, host_hard = resource.getrlimit(res)
        hard, soft = u.hard, u.soft
        if host_hard != resource.RLIM_INFINITY and (hard < 0 or hard > host_hard):
            warns.append(f"ulimit {u.name} hard {hard} above the host's {host_hard}: clamped")
            hard = host_hard
        if soft > hard or soft < 0:
            soft = hard
        out.append((res, soft, hard))
    return out, warns


class Security:
    """NNP, capabilities, user switch and seccomp for one process, planned before the fork.

    The plan (cap set, BPF program) is computed in the shim, so the child only makes syscalls.
    """

    def __init__(self, spec: ContainerSpec, caps: frozenset[int], bpf: bytes | None) -> None:
        self.nnp = spec.no_new_privileges
        self.caps = caps
        self.bpf = bpf

    @classmethod
    def plan(cls, spec: ContainerSpec, privileged: bool | None = None) -> Security:
        priv = spec.privileged if privileged is None else privileged
        bpf: bytes | None = None
        caps = _caps.resolve(spec.cap_add, spec.cap_drop, priv)
        # We cannot grant what we do not have (root here lacks CAP_SYS_RESOURCE).
        caps &= _caps.from_mask(_caps.current()["CapBnd"])
        if not priv and spec.seccomp != "unconfined":
            key = (caps, spec.seccomp)
            if key not in _BPF_CACHE:
                _BPF_CACHE[key] = _seccomp.build_filter(caps, spec.seccomp)
            bpf = _BPF_CACHE[key]
        return cls(spec, caps, bpf)

    def apply(self, user: User) -> None:
        """NNP, seccomp (here when it cannot wait for NNP), bounding set, user, cap sets."""
        if self.nnp:
            L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
        elif self.bpf:
            # Without NNP loading a filter needs CAP_SYS_ADMIN: do it before the caps go.
            _seccomp.install(self.bpf)
            self.bpf = None
        if user.uid == 0:
            _caps.prepare_user_switch(self.caps)
        else:
            _caps.drop_bounding(self.caps)
            _caps.clear_ambient()
        os.setgroups(list(user.groups))
        os.setgid(user.gid)
        os.setuid(user.uid)                 # a non-root user ends with no effective caps
        if user.uid == 0:
            _caps.finish_user_switch(self.caps)

    def install_seccomp(self) -> None:
        """With NNP the filter goes last, as close to execve as possible."""
        if self.bpf:
            _seccomp.install(self.bpf)


