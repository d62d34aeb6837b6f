"""NetworkPolicies that allow exactly the traffic Compose allows: pods reach each other when
their services share a network (one policy per network selects its members and admits
ingress from them), published ports admit everyone, and a service all of whose networks
are `internal: true` gets no egress beyond its networks' members and the cluster DNS."""

from __future__ import annotations

from typing import Any

from pystack.orchestrator.convert import names
from pystack.orchestrator.convert.context import Context

_DNS = {"to": [{"namespaceSelector": {},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def _members(ctx: Context, key: str) -> dict[str, str]:
    return {names.network_label(key): "true",
            "app.kubernetes.io/part-of": names.label_value(ctx.project.name)}


def policies(ctx: Context) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    used = sorted({k for s in ctx.project.services.values() for k in s.networks})
    for key in used:
        sel = {"matchLabels": _members(ctx, key)}
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": ctx.meta(names.label(f"net-{key}")),
                    "spec": {"podSelector": sel, "policyTypes": ["Ingress"],
                             "ingress": [{"from": [{"podSelector": sel}]}]}})
    for name in sorted(ctx.project.services):
        svc = ctx.project.services[name]
        published = [p for p in svc.ports if p.published]
        if published and svc.networks:
            ports = sorted({(p.target, p.protocol.upper()) for p in published})
            out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": ctx.meta(names.label(f"{ctx.name(name)}-published"), name),
                        "spec": {"podSelector": {"matchLabels": names.selector(
                                     ctx.project.name, name)},
                                 "policyTypes": ["Ingress"],
                                 "ingress": [{"ports": [{"port": n, "protocol": proto}
                                                        for n, proto in ports]}]}})
        nets = [ctx.project.networks.get(k) for k in svc.networks]
        if svc.networks and all(n is not None and n.internal for n in nets):
            egress: list[dict[str, Any]] = [
                {"to": [{"podSelector": {"matchLabels": _members(ctx, k)}}]}
                for k in sorted(svc.networks)]
            egress.append(_DNS)
            out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": ctx.meta(names.label(f"{ctx.name(name)}-internal"), name),
                        "spec": {"podSelector": {"matchLabels": names.selector(
                                     ctx.project.name, name)},
                                 "policyTypes": ["Egress"], "egress": egress}})
    return out
