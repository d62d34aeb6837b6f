"""Services: every Compose service reachable by its name in the cluster, as in Compose.
Each service gets a headless Service of its name over every port it publishes or exposes
(its name resolves to the ready pods only, round-robin, as Compose's embedded DNS answers;
the depends_on init containers rely on that), and the published ports also a NodePort (or
LoadBalancer) Service named `<svc>-published`.  Network aliases become extra
Services with the same selector."""

from __future__ import annotations

from typing import Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.convert import names
from pystack.orchestrator.convert.container import container_ports
from pystack.orchestrator.convert.context import Context


def _port_name(n: int, proto: str) -> str:
    return f"{proto.lower()}-{n}"


def services(ctx: Context, svc: m.Service) -> list[dict[str, Any]]:
    if svc.network_mode in ("none", "host") or (svc.network_mode or "").startswith(
            ("service:", "container:")):
        return []
    name = ctx.name(svc.name)
    sel = names.selector(ctx.project.name, svc.name)
    ports = container_ports(svc)
    # Headless, as Compose's names are: the name resolves to the ready pods' addresses
    # (round-robin over replicas), which the depends_on init containers wait for.
    spec: dict[str, Any] = {"selector": sel, "clusterIP": "None"}
    if ports:
        spec["ports"] = [{"name": _port_name(p["containerPort"], p["protocol"]),
                          "port": p["containerPort"], "targetPort": p["containerPort"],
                          "protocol": p["protocol"]} for p in ports]
    out = [{"apiVersion": "v1", "kind": "Service", "metadata": ctx.meta(name, svc.name),
            "spec": spec}]
    published = [p for p in svc.ports if p.published or p.mode == "host"]
    if published:
        kind = "LoadBalancer" if ctx.options.publish == "loadbalancer" else "NodePort"
        pub_ports: list[dict[str, Any]] = []
        seen: set[tuple[int, str]] = set()
        for i, p in enumerate(svc.ports):
            if p not in published:
                continue
            first = p.published_range[0] if p.published_range else None
            entry: dict[str, Any] = {"name": _port_name(p.target, p.protocol),
                                     "port": first or p.target, "targetPort": p.target,
                                     "protocol": p.protocol.upper()}
            key = (entry["port"], entry["protocol"])
            if key in seen:
                continue
            seen.add(key)
            if kind == "NodePort" and first and 30000 <= first <= 32767:
                entry["nodePort"] = first
            elif kind == "NodePort" and first:
                ctx.warn(("services", svc.name, "ports", i), f"host port {first} is outside "
                         "the NodePort range 30000-32767: the cluster picks the node port")
            if p.host_ip and p.host_ip not in ("0.0.0.0", "::"):
                ctx.warn(("services", svc.name, "ports", i), f"host_ip {p.host_ip} cannot be "
                         "expressed (a Service listens on every node address)")
            pub_ports.append(entry)
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": ctx.meta(names.label(f"{name}-published"), svc.name),
                    "spec": {"type": kind, "selector": sel, "ports": pub_ports}})
    aliases = sorted({a for net in svc.networks.values() for a in net.aliases
                      if names.label(a) != name})
    for alias in aliases:
        alias_name = names.label(alias)
        if alias_name in ctx.service_names.values():
            ctx.warn(("services", svc.name, "networks"), f"alias {alias!r} is also a "
                     "service's name; left out")
            continue
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": ctx.meta(alias_name, svc.name,
                                         annotations={"pystack.io/alias-of": name}),
                    "spec": dict(spec)})
    return out
