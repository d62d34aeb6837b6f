"""Checks of the values the engine acts on, so that a file `pystack config` accepts never fails
later because of its own content: restart policies, stop signals, log options, tmpfs options,
ulimits, published ports, environment and sysctl names, healthcheck retries, integer ranges,
network names, and a service's image (or build).  The checks of the canonical form (after
normalize.py) are latechecks.py's.

Each check parses with the same function the model builder (build.py) uses, from units.py, so
a value is parsed by one rule.  Like semantic.py (which calls `service` and `top_level`), this
works on the loaded mapping, is defensive about types and never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pystack.orchestrator.config import units
from pystack.orchestrator.config.marks import TreePath

if TYPE_CHECKING:
    from pystack.orchestrator.config.semantic import Report

# The names net accepts for networks (and that Docker accepts): 1-255 characters.
NETWORK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
# Docker's volume name rule: the name becomes a directory of the volume store.
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
ULIMITS = frozenset({"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue",
                     "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending",
                     "stack"})
_INT64 = (-(2**63), 2**63 - 1)
# (path below a service, lowest, highest) of integer settings with a meaningful range.
_RANGES: tuple[tuple[TreePath, int, int], ...] = (
    (("healthcheck", "retries"), 0, 2**31 - 1), (("scale",), 0, 10_000),
    (("deploy", "replicas"), 0, 10_000), (("oom_score_adj",), -1000, 1000),
    (("cpu_shares",), 0, 2**31 - 1), (("pids_limit",), -1, _INT64[1]),
    (("cpu_quota",), -1, _INT64[1]), (("cpu_period",), 0, 1_000_000),
    (("deploy", "resources", "limits", "pids"), -1, _INT64[1]),
)


def service(rep: Report, base: TreePath, svc: Mapping[str, Any]) -> None:
    """Every value check of one service (`base` = ("services", name))."""
    _one(rep, (*base, "restart"), svc.get("restart"), units.parse_restart)
    signal = svc.get("stop_signal")
    if signal not in (None, ""):
        _one(rep, (*base, "stop_signal"), signal, units.parse_signal)
    _logging(rep, base, svc.get("logging"))
    opts = svc.get("security_opt")
    for i, opt in enumerate(opts if isinstance(opts, list) else []):
        _one(rep, (*base, "security_opt", i), opt, units.parse_security_opt)
    _tmpfs(rep, base, svc.get("tmpfs"))
    _ulimits(rep, base, svc.get("ulimits"))
    _ports(rep, base, svc.get("ports"))
    _volumes(rep, base, svc.get("volumes"))
    for key in ("environment", "sysctls"):
        _names(rep, (*base, key), svc.get(key))
    for path, low, high in _RANGES:
        value: Any = svc
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        number = _as_int(value)
        if number is not None and not low <= number <= high:
            rep.add((*base, *path), f"{value} is out of range",
                    f"use a whole number from {low} to {high}")
    _resources(rep, base, svc)
    _health(rep, base, svc.get("healthcheck"))
    if not svc.get("image") and "build" not in svc:
        rep.add(base, f"service '{base[-1]}' has neither an image nor a build context",
                "add an image: key, or build:", key=True)


def top_level(rep: Report, data: Mapping[str, Any], project: str | None) -> None:
    """Network and volume names: the real name (`name:`, else `<project>_<key>`) must suit
    net, and the volume store (Docker's rule: a volume name is a directory there)."""
    for kind, rule, hint in (
            ("networks", NETWORK_NAME, "use 1 to 255 letters, digits, '_', '.' or '-', "
                                       "starting with a letter or digit"),
            ("volumes", VOLUME_NAME, "use 2 or more letters, digits, '_', '.' or '-', "
                                     "starting with a letter or digit")):
        table = data.get(kind)
        for key, spec in (table.items() if isinstance(table, Mapping) else []):
            name = spec.get("name") if isinstance(spec, Mapping) else None
            path: TreePath = (kind, key, "name")
            if not isinstance(name, str):
                name, path = (f"{project}_{key}" if project else str(key)), (kind, key)
            if not rule.fullmatch(name):
                rep.add(path, f"invalid {kind[:-1]} name '{short(name)}'", hint,
                        key=len(path) == 2)


MIN_MEMORY = 6 << 20        # Docker's minimum memory limit (the runtime refuses less)


def _resources(rep: Report, base: TreePath, svc: Mapping[str, Any]) -> None:
    """Docker's limits rules that depend on the file only (the CPU count of the host is the
    runtime's to check): at least 6 MiB of memory, swap above memory, cpus or a CPU quota,
    CFS period and quota ranges, blkio weight 10-1000."""
    def get(*path: str) -> Any:
        value: Any = svc
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def size(*path: str) -> int | None:
        try:
            return None if get(*path) is None else units.parse_bytes(get(*path))
        except ValueError:
            return None                 # semantic.py reports it

    limits = ("deploy", "resources", "limits")
    memory = size(*limits, "memory") or size("mem_limit")
    for path, value in ((("mem_limit",), size("mem_limit")),
                        ((*limits, "memory"), size(*limits, "memory")),
                        (("mem_reservation",), size("mem_reservation"))):
        if value is not None and value < 0:
            rep.add((*base, *path), "must not be negative",
                    "leave the limit out for no limit (-1 is for memswap_limit only)")
        if value is not None and 0 < value < MIN_MEMORY:
            rep.add((*base, *path), f"{value} bytes is below the minimum of 6 MiB",
                    "use at least 6m, or leave it out for no limit")
    shm = size("shm_size")
    if shm is not None and shm < 0:
        rep.add((*base, "shm_size"), "must not be negative", "use a size like 64m")
    swap = size("memswap_limit")
    if swap is not None and swap > 0:
        if not memory:
            rep.add((*base, "memswap_limit"), "memswap_limit needs a memory limit",
                    "set mem_limit too, or use -1 for unlimited swap")
        elif swap < memory:
            rep.add((*base, "memswap_limit"), "memswap_limit is below the memory limit",
                    "memswap_limit counts memory plus swap: make it at least mem_limit")
    cpus = get(*limits, "cpus") or get("cpus")
    quota, period = _as_int(get("cpu_quota")), _as_int(get("cpu_period"))
    try:
        cpu_count = units.parse_cpus(cpus) if cpus not in (None, "") else 0.0
    except ValueError:
        cpu_count = 0.0
    if 0 < cpu_count < 0.01:
        rep.add((*base, "cpus"), f"cpus {cpus} is below the minimum of 0.01", None)
    if cpu_count and quota:
        rep.add((*base, "cpu_quota"), "cpus and cpu_quota cannot both be set",
                "set only one of them")
    if period and not 1000 <= period <= 1_000_000:
        rep.add((*base, "cpu_period"), f"cpu_period {period} is out of range",
                "use 1000 (1 ms) to 1000000 (1 s) microseconds")
    if quota is not None and 0 < quota < 1000:
        rep.add((*base, "cpu_quota"), f"cpu_quota {quota} is below the minimum of 1000",
                "use at least 1000 microseconds, or -1 for no limit")
    weight = _as_int(get("blkio_config", "weight"))
    if weight and not 10 <= weight <= 1000:
        rep.add((*base, "blkio_config", "weight"), f"blkio weight {weight} is out of range",
                "use 10 to 1000")


def _health(rep: Report, base: TreePath, hc: Any) -> None:
    """Docker's minimum of 1 ms for healthcheck durations (0 means "not set"): a probe every
    nanosecond would keep a CPU busy."""
    for key in ("interval", "timeout", "start_period", "start_interval"):
        value = hc.get(key) if isinstance(hc, Mapping) else None
        if value is None:
            continue
        try:
            ns = units.parse_duration_ns(value)
        except ValueError:
            continue                    # semantic.py reports it
        if 0 < ns < 1_000_000:
            rep.add((*base, "healthcheck", key), f"{key} {value} is below the minimum of 1ms",
                    "use a duration like 1s, or 0 for the default")


def _one(rep: Report, path: TreePath, value: Any, parser: Callable[[Any], object]) -> None:
    if value is None:
        return
    try:
        parser(value)
    except ValueError as e:
        rep.add(path, str(e))


def _logging(rep: Report, base: TreePath, logging: Any) -> None:
    options = logging.get("options") if isinstance(logging, Mapping) else None
    if not isinstance(options, Mapping):
        return
    where: TreePath = (*base, "logging", "options")
    for key, parser in (("max-size", log_max_size), ("max-file", log_max_file)):
        if key in options:
            try:
                parser(options[key])
            except ValueError as e:
                rep.add((*where, key), str(e))


def log_max_size(value: object) -> int:
    """logging.options.max-size: a positive byte size ("10m")."""
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        raise ValueError(f"invalid max-size '{value}' (must be a positive size like 10m)")
    size = units.parse_bytes(str(value))     # log options are text (as they are printed)
    if size <= 0:
        raise ValueError(f"invalid max-size '{value}' (must be a positive size like 10m)")
    return size


def log_max_file(value: object) -> int:
    """logging.options.max-file: how many files to keep, at least 1."""
    try:
        count = units.parse_int(value.strip() if isinstance(value, str) else value)
    except ValueError:
        count = 0
    if not 1 <= count <= 1_000_000:
        raise ValueError(f"invalid max-file '{value}' (must be a whole number of files, at "
                         "least 1)")
    return count


def _tmpfs(rep: Report, base: TreePath, tmpfs: Any) -> None:
    items = [tmpfs] if isinstance(tmpfs, str) else tmpfs if isinstance(tmpfs, list) else []
    for i, item in enumerate(items):
        if isinstance(item, str):
            path = (*base, "tmpfs") if isinstance(tmpfs, str) else (*base, "tmpfs", i)
            _one(rep, path, item, units.parse_tmpfs)


def _ulimits(rep: Report, base: TreePath, ulimits: Any) -> None:
    for name, value in (ulimits.items() if isinstance(ulimits, Mapping) else []):
        path = (*base, "ulimits", name)
        if name not in ULIMITS:
            rep.add(path, f"unknown ulimit '{short(str(name))}'",
                    "use one of: " + ", ".join(sorted(ULIMITS)), key=True)
            continue
        if isinstance(value, Mapping):
            # a missing limit is 0: Compose prints a 0 limit by leaving it out
            soft, hard = value.get("soft", 0), value.get("hard", 0)
            if isinstance(soft, int) and isinstance(hard, int) and soft > hard:
                rep.add(path, f"soft limit {soft} is above the hard limit {hard}",
                        "the soft limit must be at most the hard limit")
            values = [soft, hard]
        else:
            values = [value]
        for v in values:
            if isinstance(v, int) and _int(v) and not -1 <= v <= _INT64[1]:
                rep.add(path, f"{v} is out of range", "use -1 (unlimited) or a count")


def _ports(rep: Report, base: TreePath, ports: Any) -> None:
    for i, item in enumerate(ports if isinstance(ports, list) else []):
        if not isinstance(item, Mapping):
            continue
        where = (*base, "ports", i)
        target = item.get("target")
        if _int(target) and target == 0:
            rep.add((*where, "target"), "invalid container port 0",
                    "the port the service listens on, 1 to 65535")
        protocol = item.get("protocol")
        if isinstance(protocol, str) and protocol not in ("tcp", "udp", "sctp"):
            rep.add((*where, "protocol"), f"invalid protocol '{short(protocol)}'",
                    "use tcp, udp or sctp")
        published = item.get("published")
        if published in (None, "") or isinstance(published, bool):
            continue
        try:
            units.parse_port_range(str(published))
        except ValueError as e:
            rep.add((*where, "published"), str(e))


def _volumes(rep: Report, base: TreePath, volumes: Any) -> None:
    from pystack.orchestrator.config.shortsyntax import parse_volume_spec

    for i, item in enumerate(volumes if isinstance(volumes, list) else []):
        tmpfs = item.get("tmpfs") if isinstance(item, Mapping) else None
        mode = tmpfs.get("mode") if isinstance(tmpfs, Mapping) else None
        if isinstance(mode, int) and _int(mode) and not 0 <= mode <= 0o7777:
            rep.add((*base, "volumes", i, "tmpfs", "mode"), f"invalid mode {mode}",
                    "use octal permission bits like 1777")
        size = tmpfs.get("size") if isinstance(tmpfs, Mapping) else None
        if size in (-1, "-1"):
            rep.add((*base, "volumes", i, "tmpfs", "size"), "must not be negative",
                    "use a size like 64m, or leave it out")
        target = item.get("target") if isinstance(item, Mapping) else None
        if isinstance(item, str):
            try:
                target = parse_volume_spec(item, lambda p: p).get("target")
            except ValueError:
                continue                # semantic.py reports it
        if isinstance(target, str) and target and not target.startswith("/"):
            hint = "use an absolute path inside the container, like /data"
            if len(target) > 1 and target[1] == ":":
                hint = ("a one-letter name before ':' reads as a Windows drive; use an "
                        "absolute path inside the container, like /data")
            rep.add((*base, "volumes", i) if isinstance(item, str) else (
                *base, "volumes", i, "target"), f"invalid mount target '{short(target)}'",
                hint)


def _names(rep: Report, path: TreePath, value: Any) -> None:
    """No empty names in environment/sysctls (list `=x` or mapping `"": x`)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str) and item.partition("=")[0].strip() == "":
                rep.add((*path, i), f"'{short(item)}' has no name before '='",
                        "write NAME=value")
    elif isinstance(value, Mapping):
        for key in value:
            if str(key).strip() == "":
                rep.add((*path, key), "a name must not be empty", "write NAME: value",
                        key=True)


def _as_int(value: Any) -> int | None:
    """An integer setting as the model builder reads it (42 or "42"), else None."""
    try:
        return units.parse_int(value)
    except ValueError:
        return None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def short(text: str) -> str:
    """`text` cut to 60 characters for a problem line."""
    return text if len(text) <= 60 else text[:57] + "..."
