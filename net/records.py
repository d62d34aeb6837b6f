"""Conversions between the JSON records on disk and the api dataclasses."""

from __future__ import annotations

import ipaddress
from typing import Any

from pystack.net.api import Attachment, DnsConfig, NetworkInfo, NetworkSpec, Sandbox
from pystack.net.errors import NetworkConflictError
from pystack.net.names import Peer


def info_of(rec: dict[str, Any], external: bool | None = None) -> NetworkInfo:
    return NetworkInfo(name=rec["name"], project=rec["project"], bridge=rec["bridge"],
                       subnet=rec["subnet"], gateway=rec["gateway"],
                       subnet6=rec.get("subnet6"), gateway6=rec.get("gateway6"),
                       internal=bool(rec.get("internal")),
                       external=bool(rec.get("external")) if external is None else external,
                       labels=dict(rec.get("labels") or {}))


def attachment_of(a: dict[str, Any]) -> Attachment:
    return Attachment(network=a["network"], interface=a["interface"], ipv4_address=a["ipv4"],
                      prefixlen=a["prefixlen"], gateway=a["gateway"], mac_address=a["mac"],
                      ipv6_address=a.get("ipv6"), aliases=tuple(a.get("aliases", ())))


def sandbox_of(rec: dict[str, Any]) -> Sandbox:
    return Sandbox(container_id=rec["id"], project=rec["project"], netns_path=rec["pin"],
                   hosts_path=rec["hosts"], resolv_path=rec["resolv"],
                   attachments=tuple(attachment_of(a) for a in rec["attachments"]))


def dns_of(rec: dict[str, Any]) -> DnsConfig:
    d = rec.get("dns") or {}
    return DnsConfig(servers=tuple(d.get("servers", ())), search=tuple(d.get("search", ())),
                     options=tuple(d.get("options", ())),
                     extra_hosts=tuple((h[0], h[1]) for h in d.get("extra_hosts", ())),
                     hostname=d.get("hostname", ""), domainname=d.get("domainname", ""),
                     embedded=bool(d.get("embedded")),
                     links=tuple((x[0], x[1]) for x in d.get("links", ())))


def peers_of(rec: dict[str, Any]) -> list[Peer]:
    return [Peer(a["network"], a["ipv4"], a.get("ipv6"), tuple(a.get("aliases", ())))
            for a in rec["attachments"]]


def same_config(spec: NetworkSpec, rec: dict[str, Any]) -> None:
    """An existing network must match its declaration (compose refuses a silent drift)."""
    diff = []
    if spec.internal != bool(rec["internal"]):
        diff.append("internal")
    if spec.enable_ipv6 and not rec.get("subnet6"):
        diff.append("enable_ipv6")
    v4 = [p.subnet for p in spec.ipam if p.subnet and ":" not in p.subnet]
    if v4 and ipaddress.IPv4Network(v4[0], strict=False) != ipaddress.IPv4Network(rec["subnet"]):
        diff.append("ipam subnet")
    if diff:
        raise NetworkConflictError(
            f"network {spec.name} exists with a different {', '.join(diff)}",
            hint="remove it (`pystack down`) so it is created again")


def dns_to_json(dns: DnsConfig) -> dict[str, Any]:
    return {"servers": list(dns.servers), "search": list(dns.search),
            "options": list(dns.options), "extra_hosts": [list(h) for h in dns.extra_hosts],
            "hostname": dns.hostname, "domainname": dns.domainname,
            "embedded": dns.embedded, "links": [list(x) for x in dns.links]}
