"""Semantic checks the schema cannot express, all reported in one run: references to unknown
services (depends_on, links, `network_mode|ipc|pid: service:`, volumes_from), undefined
networks/volumes/secrets/configs, dependency cycles (naming the loop), duplicate published
host ports, bad durations/sizes/ports/cpus, and container_name with several replicas; the
values the engine acts on are checked by valuechecks.py.

Works on the (profile-filtered) loaded mapping and is defensive about types: input that failed
the schema check may reach it, and it must never raise.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pystack.orchestrator.config import deps, shortsyntax, units
from pystack.orchestrator.config.marks import Marks, TreePath, problem

_DURATIONS: tuple[TreePath, ...] = (("healthcheck", "interval"), ("healthcheck", "timeout"),
              ("healthcheck", "start_period"), ("healthcheck", "start_interval"),
              ("stop_grace_period",))
_SIZES: tuple[TreePath, ...] = (
          ("mem_limit",), ("mem_reservation",), ("memswap_limit",), ("shm_size",),
          ("mem_swappiness",),
          ("deploy", "resources", "limits", "memory"),
          ("deploy", "resources", "reservations", "memory"))
_INTS: tuple[TreePath, ...] = (
    ("blkio_config", "weight"), ("deploy", "resources", "limits", "pids"),
    ("deploy", "resources", "reservations", "pids"), ("deploy", "replicas"), ("scale",),
    ("cpu_count",), ("cpu_percent",), ("cpu_shares",), ("cpu_quota",), ("cpu_period",),
    ("cpu_rt_period",), ("cpu_rt_runtime",), ("pids_limit",), ("oom_score_adj",),
    ("healthcheck", "retries"))
_CPUS: tuple[TreePath, ...] = (("cpus",), ("deploy", "resources", "limits", "cpus"),
         ("deploy", "resources", "reservations", "cpus"))


class Report:
    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.lines: list[str] = []

    def add(self, path: TreePath, message: str, hint: str | None = None, *,
            key: bool = False) -> None:
        mark = (self.marks.key(path) if key else self.marks.value(path)) or \
            self.marks.nearest(path)
        line = problem(mark, path, message, hint)
        if line not in self.lines:
            self.lines.append(line)


def check(data: Any, marks: Marks, disabled: Iterable[str] = (),
          working_dir: str | None = None, project: str | None = None) -> list[str]:
    """Every semantic problem of `data`, as problem lines (empty when fine).  References to
    `disabled` services (left out by profiles) are reported by profiles.py, not here.  With
    `working_dir`, required env_file entries must exist (relative to it)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
        return []
    rep = Report(marks)
    services: Mapping[str, Any] = data["services"]
    known = set(services) | set(disabled)
    for name, svc in services.items():
        if isinstance(svc, Mapping):
            _service(rep, data, str(name), svc, services, known)
            if working_dir is not None:
                _env_files(rep, str(name), svc, working_dir)
    from pystack.orchestrator.config import crosschecks, valuechecks

    valuechecks.top_level(rep, data, project)
    crosschecks.top_level(rep, data)
    crosschecks.container_names(rep, services)
    crosschecks.cycles(rep, services)
    crosschecks.host_ports(rep, services)
    from pystack.orchestrator.config import nsmodes

    nsmodes.check(rep, services)
    return rep.lines


def _env_files(rep: Report, name: str, svc: Mapping[str, Any], working_dir: str) -> None:
    import os

    from pystack.orchestrator.config.envfiles import entries

    labels = svc.get("label_file")
    for i, path in enumerate([labels] if isinstance(labels, str) else as_list(labels)):
        if isinstance(path, str) and not os.path.isfile(
                os.path.join(working_dir, os.path.expanduser(path))):
            rep.add(("services", name, "label_file") if isinstance(labels, str) else (
                "services", name, "label_file", i), f"label file {path} not found",
                "create it, or remove it from label_file")
    spec = svc.get("env_file")
    if spec is None or not isinstance(spec, str | list | Mapping):
        return
    single = isinstance(spec, str | Mapping)
    for i, (path, required) in enumerate(entries(spec)):
        full = os.path.join(working_dir, os.path.expanduser(path))
        if required and path and not os.path.isfile(full):
            where: TreePath = ("services", name, "env_file") if single else (
                "services", name, "env_file", i)
            rep.add(where, f"env file {path} not found",
                    "create it, or use the long form with required: false")


def _unknown(rep: Report, path: TreePath, target: str, services: Iterable[str], *,
             key: bool = False) -> None:
    close = difflib.get_close_matches(target, sorted(services), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "define it under services"
    rep.add(path, f"unknown service '{target}'", hint, key=key)


def _service(rep: Report, data: Mapping[str, Any], name: str, svc: Mapping[str, Any],
             services: Mapping[str, Any], known: set[str]) -> None:
    base: TreePath = ("services", name)
    for dep, target in refs(svc):
        if target not in known:
            _unknown(rep, (*base, *dep), target, services, key=dep[0] == "depends_on")
    _defined(rep, data, base, svc)
    from pystack.orchestrator.config import valuechecks

    valuechecks.service(rep, base, svc)
    from pystack.orchestrator.config import develop

    develop.check(rep, base, svc)
    for path in _DURATIONS:
        _parse(rep, base, svc, path, units.parse_duration_ns)
    for path in _SIZES:
        _parse(rep, base, svc, path, units.parse_bytes)
    ulimits = svc.get("ulimits")
    for key, value in (ulimits.items() if isinstance(ulimits, Mapping) else []):
        if isinstance(value, Mapping):
            for sub in ("soft", "hard"):
                _parse(rep, (*base, "ulimits", key), value, (sub,), _integer)
        else:
            _parse(rep, (*base, "ulimits"), ulimits, (key,), _integer)
    for kind in ("secrets", "configs"):
        for i, ref in enumerate(as_list(svc.get(kind))):
            mode = ref.get("mode") if isinstance(ref, Mapping) else None
            if mode is not None and not _valid_mode(mode):
                rep.add((*base, kind, i, "mode"), f"invalid mode '{mode}'",
                        "use octal permission bits like 0440")
    for path in _INTS:
        _parse(rep, base, svc, path, _integer)
    for path in _CPUS:
        _parse(rep, base, svc, path, units.parse_cpus)
    for i, item in enumerate(as_list(svc.get("ports"))):
        if isinstance(item, Mapping):
            _parse(rep, (*base, "ports", i), item, ("target",), _port_number)
        try:
            entries = shortsyntax.ports(item) if not isinstance(item, bool) else []
        except ValueError as e:
            rep.add((*base, "ports", i), str(e))
            continue
        except (TypeError, AttributeError):
            continue
        for entry in entries[:1]:
            ip = entry.get("host_ip")
            if ip is not None and not _is_ip(ip):
                rep.add((*base, "ports", i), f"invalid host_ip '{ip}'",
                        "use an IPv4 or IPv6 address, like 127.0.0.1 or ::1")
    nets = svc.get("networks")
    for net, spec in (nets.items() if isinstance(nets, Mapping) else []):
        for key in ("priority", "gw_priority"):
            if isinstance(spec, Mapping):
                _parse(rep, (*base, "networks", net), spec, (key,), _integer)
    for i, item in enumerate(as_list(svc.get("volumes"))):
        _parse(rep, (*base, "volumes", i), item, ("tmpfs", "size"), units.parse_bytes)
        mode = get_path(item, ("tmpfs", "mode"))
        if isinstance(mode, str) and not _is_octal(mode):
            rep.add((*base, "volumes", i, "tmpfs", "mode"), f"invalid mode '{mode}'",
                    "use octal permission bits like 1777")
        if isinstance(item, Mapping) and not item.get("target"):
            rep.add((*base, "volumes", i), "missing required key 'target'",
                    "the path inside the container")
        if isinstance(item, str):
            try:
                shortsyntax.parse_volume_spec(item, lambda p: p)
            except ValueError as e:
                rep.add((*base, "volumes", i), str(e))
    for i, item in enumerate(as_list(svc.get("expose"))):
        if isinstance(item, str | int) and not isinstance(item, bool):
            try:
                units.parse_port_range(str(item).partition("/")[0])
            except ValueError as e:
                rep.add((*base, "expose", i), str(e))
    for key in ("command", "entrypoint"):
        if isinstance(svc.get(key), str):
            try:
                shortsyntax.split_command(svc[key])
            except ValueError as e:
                rep.add((*base, key), str(e), "or write it as a list")
    test = get_path(svc, ("healthcheck", "test"))
    if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        rep.add((*base, "healthcheck", "test"),
                f"a healthcheck test list must start with CMD, CMD-SHELL or NONE, not "
                f"'{test[0]}'", "for example [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]")
    hosts = svc.get("extra_hosts")
    for i, entry in enumerate(as_list(hosts)):
        if isinstance(entry, str) and "=" not in entry and ":" not in entry:
            rep.add((*base, "extra_hosts", i), f"invalid extra host '{entry}'",
                    "use HOST:IP or HOST=IP")
    scale = _replicas(svc)
    if isinstance(svc.get("container_name"), str) and scale > 1:
        rep.add((*base, "container_name"),
                f"container_name '{svc['container_name']}' cannot be used with {scale} "
                "replicas", "container names are unique: remove container_name or use 1 replica")
    replicas = get_path(svc, ("deploy", "replicas"))
    if isinstance(svc.get("scale"), int) and isinstance(replicas, int) and \
            svc["scale"] != replicas:
        rep.add((*base, "scale"), f"scale {svc['scale']} differs from deploy.replicas "
                f"{replicas}", "set only one of them")
    if "network_mode" in svc and svc.get("networks"):
        rep.add((*base, "network_mode"), "network_mode cannot be used together with networks",
                "remove one of them", key=True)
    limits = get_path(svc, ("deploy", "resources", "limits"))
    if isinstance(limits, Mapping):
        for short_key, long_key in (("cpus", "cpus"), ("mem_limit", "memory")):
            if short_key in svc and long_key in limits and not _same(
                    svc[short_key], limits[long_key], long_key):
                rep.add((*base, short_key),
                        f"{short_key} differs from deploy.resources.limits.{long_key}",
                        "set only one of them")


_integer = units.parse_int


def _port_number(value: object) -> int:
    port = _integer(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid port '{value}' (ports are 0 to 65535)")
    return port


def _valid_mode(mode: object) -> bool:
    if isinstance(mode, bool):
        return False
    if isinstance(mode, int):
        return 0 <= mode <= 0o7777
    return isinstance(mode, str) and _is_octal(mode)


def _is_octal(text: str) -> bool:
    digits = text.removeprefix("0o")
    return bool(digits) and all(c in "01234567" for c in digits)


def _is_ip(value: Any) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _same(a: Any, b: Any, kind: str) -> bool:
    try:
        if kind == "cpus":
            return units.parse_cpus(a) == units.parse_cpus(b)
        return units.parse_bytes(a) == units.parse_bytes(b)
    except ValueError:
        return True


def refs(svc: Mapping[str, Any]) -> Iterable[tuple[TreePath, str]]:
    """Where the service refers to another one, and which (config/deps.py, the one rule)."""
    return [(r.path, r.service) for r in deps.references(svc)]


def _defined(rep: Report, data: Mapping[str, Any], base: TreePath,
             svc: Mapping[str, Any]) -> None:
    def top(kind: str) -> Mapping[str, Any]:
        value = data.get(kind)
        return value if isinstance(value, Mapping) else {}

    nets = svc.get("networks")
    names = list(nets) if isinstance(nets, Mapping) else as_list(nets)
    for i, net in enumerate(names):
        if isinstance(net, str) and net != "default" and net not in top("networks"):
            path = (*base, "networks", net) if isinstance(nets, Mapping) else (
                *base, "networks", i)
            rep.add(path, f"undefined network '{net}'",
                    "define it under the top-level networks key", key=isinstance(nets, Mapping))
    for i, vol in enumerate(as_list(svc.get("volumes"))):
        source = _volume_source(vol)
        if source is not None and source not in top("volumes"):
            rep.add((*base, "volumes", i), f"undefined volume '{source}'",
                    "define it under the top-level volumes key")
    for kind in ("secrets", "configs"):
        for i, ref in enumerate(as_list(svc.get(kind))):
            source = ref.get("source") if isinstance(ref, Mapping) else ref
            if isinstance(ref, Mapping) and "source" not in ref:
                rep.add((*base, kind, i), "missing required key 'source'",
                        f"name the top-level {kind[:-1]} to use")
            if isinstance(source, str) and source not in top(kind):
                rep.add((*base, kind, i), f"undefined {kind[:-1]} '{source}'",
                        f"define it under the top-level {kind} key")


def _volume_source(vol: Any) -> str | None:
    if isinstance(vol, Mapping):
        src = vol.get("source")
        if vol.get("type") == "volume" and isinstance(src, str) and src:
            return src
        return None
    if isinstance(vol, str):
        try:
            spec = shortsyntax.parse_volume_spec(vol, lambda p: p)
        except ValueError:
            return None
        src = spec.get("source")
        return src if spec["type"] == "volume" and isinstance(src, str) else None
    return None


def _parse(rep: Report, base: TreePath, svc: Any, path: TreePath,
           parser: Callable[[object], object]) -> None:
    value = get_path(svc, path)
    if value is None:
        return
    try:
        parser(value)
    except ValueError as e:
        rep.add((*base, *path), str(e))


def get_path(obj: Any, path: TreePath) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _replicas(svc: Mapping[str, Any]) -> int:
    for value in (svc.get("scale"), get_path(svc, ("deploy", "replicas"))):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 1
