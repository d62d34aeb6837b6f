"""What `create` refuses before anything exists on the host (Docker's daemon-side checks):
ids and names, missing layers and mount sources, relative mount targets, sysctls of a namespace
the container does not own, unknown healthcheck forms, resources (cgroups/validate.py),
ulimits, capabilities and seccomp profiles (security/plan.py), user, command and working dir
(process.py).  And the signal names the API takes.
"""

from __future__ import annotations

import os
import re
import signal as _signal
from pathlib import Path

from pystack.runtime import process
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ContainerSpec

ID_RE = re.compile(r"^[0-9a-f]{64}\Z")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")


def check_spec(spec: ContainerSpec) -> list[str]:
    """Raise ContainerRuntimeError on bad input; return the warnings (clamped ulimits)."""
    if not ID_RE.match(spec.id):
        raise ContainerRuntimeError(f"invalid container id {spec.id!r}: want 64 hex digits")
    if not NAME_RE.match(spec.name):
        raise ContainerRuntimeError(f"invalid container name {spec.name!r}",
                                    hint="use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    for d in spec.lower_dirs:
        if not os.path.isdir(d):
            raise ContainerRuntimeError(f"image layer {d} is missing")
    for m in spec.mounts:
        if m.type != "tmpfs" and not os.path.exists(m.source):
            raise ContainerRuntimeError(
                f"invalid mount config: bind source path does not exist: {m.source}")
        if not m.target.startswith("/"):
            raise ContainerRuntimeError(f"invalid mount target {m.target!r}: not absolute")
    for key in spec.sysctls:
        check_sysctl(key, spec.network_mode, spec.ipc_namespace)
    for src in (spec.etc_hosts, spec.etc_resolv, spec.netns):
        if src and not os.path.exists(src):
            raise ContainerRuntimeError(f"{src} does not exist")
    for kind, value in (("ipc", spec.ipc_namespace), ("pid", spec.pid_namespace)):
        if value and value not in ("host", "none") and not value.startswith("/proc/"):
            raise ContainerRuntimeError(f"invalid {kind} namespace {value!r}",
                                        hint="host, none, or a /proc/<pid>/ns path")
    if spec.pid_namespace == "none" or spec.uts_namespace not in (None, "host"):
        raise ContainerRuntimeError("invalid pid or uts namespace: only host is supported")
    if spec.healthcheck and spec.healthcheck.test and spec.healthcheck.test[0] not in (
            "CMD", "CMD-SHELL", "NONE"):
        raise ContainerRuntimeError(f"invalid healthcheck test {spec.healthcheck.test!r}")
    from pystack.runtime.cgroups import validate
    from pystack.runtime.security.plan import Security, clamp_rlimits

    validate(spec.resources)             # Docker's limits checks, before anything exists
    _, warnings = clamp_rlimits(spec)
    Security.plan(spec)                  # unknown capabilities, bad seccomp profile
    layers = [Path(d) for d in reversed(spec.lower_dirs)]
    process.build(spec, layers)          # bad user/command/workdir: fail now, not at start
    return warnings


def parse_signal(sig: int | str) -> int:
    if isinstance(sig, int) or str(sig).isdigit():
        n = int(sig)
        if 0 < n < _signal.NSIG:
            return n
    else:
        name = str(sig).upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            return int(_signal.Signals[name])
        except KeyError:
            pass
    raise ContainerRuntimeError(f"invalid signal: {sig}")


def check_sysctl(key: str, network_mode: str, ipc_namespace: str | None = None) -> None:
    """Docker's rule (security/paths.py): only sysctls of a namespace the container owns."""
    from pystack.runtime.security.paths import check_sysctl as check

    check(key, own_netns=network_mode != "host", own_ipcns=not _is_host_ns(ipc_namespace, "ipc"))


def _is_host_ns(path: str | None, kind: str) -> bool:
    """Is the namespace file `path` (None: a new one) this process's own (the host's)?"""
    if path is None or path == "none":
        return False
    if path == "host":
        return True
    try:
        a, b = os.stat(path), os.stat(f"/proc/self/ns/{kind}")
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
