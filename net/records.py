"""Conversions between the JSON records on disk and the api dataclasses."""

from __future__ import annotations

from typing import Any

from pystack.net.api import Attachment, DnsConfig, NetworkInfo, Sandbox
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
                     hostname=d.get("hostname", ""), domainname=d.get("domainname", ""))


def peers_of(rec: dict[str, Any]) -> list[Peer]:
    return [Peer(a["network"], a["ipv4"], a.get("ipv6"), tuple(a.get("aliases", ())))
            for a in rec["attachments"]]
