"""Semantic checks the schema cannot express, all reported in one run: references to unknown
services (depends_on, links, `network_mode|ipc|pid: service:`, volumes_from), undefined
networks/volumes/secrets/configs, dependency cycles (naming the loop), duplicate published
host ports, bad durations/sizes/ports/cpus, and container_name with several replicas.

Works on the (profile-filtered) loaded mapping and is defensive about types: input that failed
the schema check may reach it, and it must never raise.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pystack.orchestrator.config import shortsyntax, units
from pystack.orchestrator.config.marks import Marks, TreePath, problem

_DURATIONS: tuple[TreePath, ...] = (("healthcheck", "interval"), ("healthcheck", "timeout"),
              ("healthcheck", "start_period"), ("healthcheck", "start_interval"),
              ("stop_grace_period",))
_SIZES: tuple[TreePath, ...] = (
          ("mem_limit",), ("mem_reservation",), ("memswap_limit",), ("shm_size",),
          ("deploy", "resources", "limits", "memory"),
          ("deploy", "resources", "reservations", "memory"))
_CPUS: tuple[TreePath, ...] = (("cpus",), ("deploy", "resources", "limits", "cpus"),
         ("deploy", "resources", "reservations", "cpus"))


class _Report:
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
          working_dir: str | None = None) -> list[str]:
    """Every semantic problem of `data`, as problem lines (empty when fine).  References to
    `disabled` services (left out by profiles) are reported by profiles.py, not here.  With
    `working_dir`, required env_file entries must exist (relative to it)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
        return []
    rep = _Report(marks)
    services: Mapping[str, Any] = data["services"]
    known = set(services) | set(disabled)
    for name, svc in services.items():
        if isinstance(svc, Mapping):
            _service(rep, data, str(name), svc, services, known)
            if working_dir is not None:
                _env_files(rep, str(name), svc, working_dir)
    _top_level(rep, data)
    _container_names(rep, services)
    _cycles(rep, services)
    _host_ports(rep, services)
    return rep.lines


def _env_files(rep: _Report, name: str, svc: Mapping[str, Any], working_dir: str) -> None:
    import os

    from pystack.orchestrator.config.envfiles import entries

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


def _container_names(rep: _Report, services: Mapping[str, Any]) -> None:
    owners: dict[str, str] = {}
    for name, svc in services.items():
        cname = svc.get("container_name") if isinstance(svc, Mapping) else None
        if not isinstance(cname, str):
            continue
        owner = owners.setdefault(cname, str(name))
        if owner != name:
            rep.add(("services", str(name), "container_name"),
                    f"container name '{cname}' is already used by service '{owner}'",
                    "container names are unique on the host")


def _top_level(rep: _Report, data: Mapping[str, Any]) -> None:
    """Conflicts compose-go rejects in top-level volumes, secrets and configs."""
    volumes = data.get("volumes")
    for key, spec in (volumes.items() if isinstance(volumes, Mapping) else []):
        if isinstance(spec, Mapping) and spec.get("external"):
            for other in ("driver", "driver_opts", "labels"):
                if spec.get(other):
                    rep.add(("volumes", key, other),
                            f"external volume '{key}' cannot set {other}",
                            "an external volume is created outside pystack", key=True)
    for kind, sources in (("secrets", ("file", "environment")),
                          ("configs", ("file", "environment", "content"))):
        entries = data.get(kind)
        for key, spec in (entries.items() if isinstance(entries, Mapping) else []):
            if not isinstance(spec, Mapping) or spec.get("external"):
                continue
            given = [s for s in sources if s in spec]
            if len(given) != 1:
                what = " or ".join(sources)
                message = (f"{kind[:-1]} '{key}' sets {' and '.join(given)}" if given
                           else f"{kind[:-1]} '{key}' has no {what}")
                rep.add((kind, key), message,
                        f"set exactly one of {what}, or external: true", key=True)


def _unknown(rep: _Report, path: TreePath, target: str, services: Iterable[str], *,
             key: bool = False) -> None:
    close = difflib.get_close_matches(target, sorted(services), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "define it under services"
    rep.add(path, f"unknown service '{target}'", hint, key=key)


def _service(rep: _Report, data: Mapping[str, Any], name: str, svc: Mapping[str, Any],
             services: Mapping[str, Any], known: set[str]) -> None:
    base: TreePath = ("services", name)
    for dep, target in _refs(svc):
        if target not in known:
            _unknown(rep, (*base, *dep), target, services, key=dep[0] == "depends_on")
    _defined(rep, data, base, svc)
    for path in _DURATIONS:
        _parse(rep, base, svc, path, units.parse_duration_ns)
    for path in _SIZES:
        _parse(rep, base, svc, path, units.parse_bytes)
    for path in _CPUS:
        _parse(rep, base, svc, path, units.parse_cpus)
    for i, item in enumerate(_list(svc.get("ports"))):
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
    for i, item in enumerate(_list(svc.get("volumes"))):
        if isinstance(item, Mapping) and not item.get("target"):
            rep.add((*base, "volumes", i), "missing required key 'target'",
                    "the path inside the container")
        if isinstance(item, str):
            try:
                shortsyntax.parse_volume_spec(item, lambda p: p)
            except ValueError as e:
                rep.add((*base, "volumes", i), str(e))
    for i, item in enumerate(_list(svc.get("expose"))):
        if isinstance(item, str | int) and not isinstance(item, bool):
            try:
                units.parse_port_range(str(item).partition("/")[0])
            except ValueError as e:
                rep.add((*base, "expose", i), str(e))
    test = _get(svc, ("healthcheck", "test"))
    if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        rep.add((*base, "healthcheck", "test"),
                f"a healthcheck test list must start with CMD, CMD-SHELL or NONE, not "
                f"'{test[0]}'", "for example [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]")
    hosts = svc.get("extra_hosts")
    for i, entry in enumerate(_list(hosts)):
        if isinstance(entry, str) and "=" not in entry and ":" not in entry:
            rep.add((*base, "extra_hosts", i), f"invalid extra host '{entry}'",
                    "use HOST:IP or HOST=IP")
    scale = _replicas(svc)
    if isinstance(svc.get("container_name"), str) and scale > 1:
        rep.add((*base, "container_name"),
                f"container_name '{svc['container_name']}' cannot be used with {scale} "
                "replicas", "container names are unique: remove container_name or use 1 replica")
    replicas = _get(svc, ("deploy", "replicas"))
    if isinstance(svc.get("scale"), int) and isinstance(replicas, int) and \
            svc["scale"] != replicas:
        rep.add((*base, "scale"), f"scale {svc['scale']} differs from deploy.replicas "
                f"{replicas}", "set only one of them")
    if "network_mode" in svc and svc.get("networks"):
        rep.add((*base, "network_mode"), "network_mode cannot be used together with networks",
                "remove one of them", key=True)
    limits = _get(svc, ("deploy", "resources", "limits"))
    if isinstance(limits, Mapping):
        for short_key, long_key in (("cpus", "cpus"), ("mem_limit", "memory")):
            if short_key in svc and long_key in limits and not _same(
                    svc[short_key], limits[long_key], long_key):
                rep.add((*base, short_key),
                        f"{short_key} differs from deploy.resources.limits.{long_key}",
                        "set only one of them")


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


def _refs(svc: Mapping[str, Any]) -> Iterable[tuple[TreePath, str]]:
    deps = svc.get("depends_on")
    if isinstance(deps, Mapping):
        for dep in deps:
            yield ("depends_on", dep), str(dep)
    else:
        for i, dep in enumerate(_list(deps)):
            yield ("depends_on", i), str(dep)
    for i, link in enumerate(_list(svc.get("links"))):
        yield ("links", i), str(link).split(":", 1)[0]
    for key in ("network_mode", "ipc", "pid"):
        mode = svc.get(key)
        if isinstance(mode, str) and mode.startswith("service:"):
            yield (key,), mode[len("service:"):]
    for i, src in enumerate(_list(svc.get("volumes_from"))):
        first = str(src).split(":", 1)[0]
        if first != "container":
            yield ("volumes_from", i), first


def _defined(rep: _Report, data: Mapping[str, Any], base: TreePath,
             svc: Mapping[str, Any]) -> None:
    def top(kind: str) -> Mapping[str, Any]:
        value = data.get(kind)
        return value if isinstance(value, Mapping) else {}

    nets = svc.get("networks")
    names = list(nets) if isinstance(nets, Mapping) else _list(nets)
    for i, net in enumerate(names):
        if isinstance(net, str) and net != "default" and net not in top("networks"):
            path = (*base, "networks", net) if isinstance(nets, Mapping) else (
                *base, "networks", i)
            rep.add(path, f"undefined network '{net}'",
                    "define it under the top-level networks key", key=isinstance(nets, Mapping))
    for i, vol in enumerate(_list(svc.get("volumes"))):
        source = _volume_source(vol)
        if source is not None and source not in top("volumes"):
            rep.add((*base, "volumes", i), f"undefined volume '{source}'",
                    "define it under the top-level volumes key")
    for kind in ("secrets", "configs"):
        for i, ref in enumerate(_list(svc.get(kind))):
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


def _parse(rep: _Report, base: TreePath, svc: Mapping[str, Any], path: TreePath,
           parser: Callable[[object], object]) -> None:
    value = _get(svc, path)
    if value is None:
        return
    try:
        parser(value)
    except ValueError as e:
        rep.add((*base, *path), str(e))


def _get(obj: Any, path: TreePath) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _replicas(svc: Mapping[str, Any]) -> int:
    for value in (svc.get("scale"), _get(svc, ("deploy", "replicas"))):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 1


def dependency_map(services: Mapping[str, Any]) -> dict[str, list[str]]:
    """service -> the services it needs first (explicit and implicit), for cycle checks."""
    out: dict[str, list[str]] = {}
    for name, svc in services.items():
        if isinstance(svc, Mapping):
            out[str(name)] = list(dict.fromkeys(t for _, t in _refs(svc) if t in services))
    return out


def _cycles(rep: _Report, services: Mapping[str, Any]) -> None:
    deps = dependency_map(services)
    state: dict[str, int] = {}
    seen_loops: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1:
                loop = [*stack[stack.index(nxt):], nxt]
                if frozenset(loop) not in seen_loops:
                    seen_loops.add(frozenset(loop))
                    rep.add(("services", loop[0], "depends_on"),
                            "dependency cycle: " + " -> ".join(loop),
                            "remove one of these dependencies", key=True)
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(deps):
        if name not in state:
            visit(name, [])


def _host_ports(rep: _Report, services: Mapping[str, Any]) -> None:
    taken: dict[tuple[str, int, str], str] = {}
    for name, svc in services.items():
        if not isinstance(svc, Mapping):
            continue
        for i, item in enumerate(_list(svc.get("ports"))):
            try:
                entries = shortsyntax.ports(item)
            except (ValueError, TypeError, AttributeError):
                continue
            for entry in entries:
                published = entry.get("published")
                if not published:
                    continue
                try:
                    first, last = units.parse_port_range(str(published))
                except ValueError:
                    continue
                if first != last and entry.get("target") is not None and len(entries) == 1:
                    continue    # a host range for one container port: the engine picks one
                ip = str(entry.get("host_ip") or "0.0.0.0")
                proto = str(entry.get("protocol") or "tcp")
                here = f"services.{name}.ports[{i}]"
                for port in range(first, last + 1):
                    owner = taken.setdefault((ip, port, proto), here)
                    if owner != here:
                        rep.add(("services", str(name), "ports", i),
                                f"host port {ip}:{port}/{proto} is already published by "
                                f"{owner}", "publish each host port once")
