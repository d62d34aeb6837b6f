"""Semantic checks across services and top-level entries (semantic.py runs them): container
names unique, top-level volume/secret/config conflicts, dependency cycles (naming the loop),
and host ports published twice.  Defensive about types, like semantic.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pystack.orchestrator.config import deps, shortsyntax, units
from pystack.orchestrator.config.semantic import Report, as_list, refs


def container_names(rep: Report, services: Mapping[str, Any]) -> None:
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


def top_level(rep: Report, data: Mapping[str, Any]) -> None:
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


def dependency_map(services: Mapping[str, Any]) -> dict[str, list[str]]:
    """service -> the services it needs first (explicit and implicit), for cycle checks."""
    out: dict[str, list[str]] = {}
    for name, svc in services.items():
        if isinstance(svc, Mapping):
            out[str(name)] = list(dict.fromkeys(t for _, t in refs(svc) if t in services))
    return out


def cycles(rep: Report, services: Mapping[str, Any]) -> None:
    for loop in deps.cycles(dependency_map(services)):
        rep.add(("services", loop[0], "depends_on"), "dependency cycle: " + " -> ".join(loop),
                "remove one of these dependencies", key=True)


def host_ports(rep: Report, services: Mapping[str, Any]) -> None:
    taken: dict[tuple[str, int, str], str] = {}
    for name, svc in services.items():
        if not isinstance(svc, Mapping):
            continue
        for i, item in enumerate(as_list(svc.get("ports"))):
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
