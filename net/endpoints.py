"""Endpoint operations behind NetworkManager: attach, detach, publish, remove a sandbox.

Each function runs under the manager's lock with the sandbox's record in hand, records what
it is about to create before creating it, rolls back what it created when a later step fails,
and finally rewrites the name files of every sandbox whose view of a network changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pystack.net import holder, ipam, names, netns, ports
from pystack.net.api import Attachment, AttachSpec, PortSpec, PublishedPort
from pystack.net.errors import NetConfigError
from pystack.net.records import attachment_of, dns_of, peers_of

if TYPE_CHECKING:
    from pystack.net.manager import NetworkManager

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")


def _primary(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The attachment that carries the default route: highest priority, then name."""
    cands = [a for a in rec["attachments"] if not a.get("internal")]
    cands.sort(key=lambda a: (-int(a.get("priority", 0)), a["network"]))
    return cands[0] if cands else None


def _target_ip(rec: dict[str, Any]) -> str | None:
    p = _primary(rec)
    if p is not None:
        return str(p["ipv4"])
    return str(rec["attachments"][0]["ipv4"]) if rec["attachments"] else None


def refresh_names(mgr: NetworkManager, networks: set[str], also: tuple[str, ...] = ()) -> None:
    """Rewrite the hosts file of every sandbox on `networks` that lists its peers, and of the
    sandboxes in `also` (whose own names changed).  A sandbox served by the embedded DNS
    server lists only its own names (Docker's), so a peer's change leaves it as it is: a
    20-container `up` writes 20 hosts files, not 20 x 20."""
    recs = mgr.store.all(mgr.store.sandboxes)
    peers: list[Any] | None = None
    for r in recs:
        dns = dns_of(r)
        if r["id"] in also or (not dns.embedded and
                               any(a["network"] in networks for a in r["attachments"])):
            if peers is None:
                peers = [p for x in recs for p in peers_of(x)]
            text = names.render_hosts(dns, peers_of(r), [] if dns.embedded else peers)
            try:
                names.write_in_place(Path(r["hosts"]), text)
            except OSError:
                continue        # a sandbox being removed concurrently by its owner


@dataclass
class Reserved:
    """An attachment recorded but not yet plumbed."""

    a: dict[str, Any]
    net: dict[str, Any]
    old_primary: dict[str, Any] | None


def reserve(mgr: NetworkManager, rec: dict[str, Any],
            spec: AttachSpec) -> Attachment | Reserved:
    """Under the lock: the existing attachment, or a new one with its address, recorded."""
    net = mgr._network(spec.network)
    for a in rec["attachments"]:
        if a["network"] == spec.network:
            return attachment_of(a)
    for alias in spec.aliases:
        names.check_hostname("alias", alias)
    if spec.mac_address is not None and not _MAC.match(spec.mac_address):
        raise NetConfigError(f"invalid mac_address {spec.mac_address!r}")
    used = [a["ipv4"] for s in mgr.store.all(mgr.store.sandboxes) for a in s["attachments"]
            if a["network"] == spec.network]
    sub = ipam.Subnet(subnet=net["subnet"], gateway=net["gateway"], ip_range=net.get("ip_range"),
                      reserved=tuple(net.get("reserved", ())), subnet6=net.get("subnet6"),
                      gateway6=net.get("gateway6"))
    ip = ipam.allocate(sub, used, spec.ipv4_address, spec.network)
    ifaces = {a["interface"] for a in rec["attachments"]}
    iface = next(f"eth{i}" for i in range(len(ifaces) + 1) if f"eth{i}" not in ifaces)
    old_primary = _primary(rec)
    a = {"network": spec.network, "interface": iface, "ipv4": ip,
         "prefixlen": int(net["subnet"].rsplit("/", 1)[1]), "gateway": net["gateway"],
         "mac": (spec.mac_address or ipam.mac_for(ip)).lower(),
         "ipv6": spec.ipv6_address or ipam.v6_address(sub, ip),
         "gateway6": net.get("gateway6"), "aliases": list(spec.aliases),
         "priority": spec.priority, "internal": bool(net.get("internal")),
         "bridge": net["bridge"],
         "host": mgr.knobs.link_name("v", f"{rec['id']}/{spec.network}")}
    rec["attachments"].append(a)
    mgr.store.write(mgr.store.sandbox_path(rec["id"]), rec)
    return Reserved(a, net, old_primary)


def plumb(mgr: NetworkManager, rec: dict[str, Any], r: Reserved) -> None:
    """Outside the lock: the veth pair into the sandbox, its address and routes; what was
    made is deleted again on failure (the caller then drops the record's entry)."""
    a, net = r.a, r.net
    pin = Path(rec["pin"])
    if mgr.links.wait_gone([a["host"]], timeout=1.0):
        mgr.links.delete(a["host"])     # left by a just-removed namespace of the same id
    try:
        mgr.links.add_veth(a["host"], pin, a["interface"], a["mac"],
                           int(net.get("mtu") or 1500), net["bridge"])
        is_primary = _primary(rec) is a
        mgr.links.configure_inside(pin, a["interface"], a["ipv4"], a["prefixlen"],
                                   net["gateway"] if is_primary else None,
                                   a["ipv6"], a["gateway6"])
        if _primary(rec) is not r.old_primary:
            _retarget_ports(mgr, rec)
    except BaseException:
        mgr.links.delete_inside(pin, a["interface"])
        mgr.links.delete(a["host"])
        raise


def unreserve(mgr: NetworkManager, container_id: str, r: Reserved) -> None:
    """Under the lock: forget a reserved attachment that could not be plumbed."""
    path = mgr.store.sandbox_path(container_id)
    rec = mgr.store.read(path)
    if rec is not None:
        rec["attachments"] = [x for x in rec["attachments"] if x["network"] != r.a["network"]]
        mgr.store.write(path, rec)


def detach(mgr: NetworkManager, rec: dict[str, Any], network: str) -> None:
    found = [a for a in rec["attachments"] if a["network"] == network]
    if not found:
        return
    a = found[0]
    was_primary = _primary(rec) is a
    pin = Path(rec["pin"])
    mgr.links.delete_inside(pin, a["interface"])
    mgr.links.delete(a["host"])
    rec["attachments"].remove(a)
    mgr.store.write(mgr.store.sandbox_path(rec["id"]), rec)
    if was_primary:
        new = _primary(rec)
        if netns.is_pinned(pin):
            mgr.links.set_default_route(pin, new["gateway"] if new else None)
        _retarget_ports(mgr, rec)
    refresh_names(mgr, {network}, also=(rec["id"],))


def _retarget_ports(mgr: NetworkManager, rec: dict[str, Any]) -> None:
    """Point the sandbox's DNAT rules at its (new) primary address."""
    if not rec["ports"]:
        return
    mgr.table.remove(f"p={rec['project']} ctr={rec['id']}")
    ip = _target_ip(rec)
    if ip is not None:
        mgr.table.add_ports(rec["project"], rec["id"],
                            [(p["protocol"], p["host_ip"], p["published"], ip, p["target"])
                             for p in rec["ports"]])


def publish(mgr: NetworkManager, rec: dict[str, Any],
            specs: list[PortSpec]) -> list[PublishedPort]:
    ip = _target_ip(rec)
    if ip is None:
        raise NetConfigError(f"container {rec['id']} has no network to publish ports on")
    have = {(p["protocol"], p["target"], p["host_ip"], p["published"]) for p in rec["ports"]}
    todo = [s for s in specs
            if s.published is None or (s.protocol, s.target, s.host_ip, s.published) not in have]
    recorded = set(holder.held_of(rec))
    holder.release([h for h in holder.strays(f"{mgr.knobs.root} {rec['id']}")
                    if h not in recorded])     # left by a publish killed before its record
    chosen = ports.choose(todo, mgr._claims())
    new: list[dict[str, Any]] = [
        {"target": s.target, "published": n, "host_ip": s.host_ip, "protocol": s.protocol}
        for s, n in zip(todo, chosen, strict=True)]
    if new:
        held = holder.hold([(p["protocol"], p["host_ip"], p["published"]) for p in new],
                           f"{mgr.knobs.root} {rec['id']}")
        rec["ports"].extend(new)
        rec["holders"] = [*rec.get("holders", []), list(held)]
        try:
            mgr.store.write(mgr.store.sandbox_path(rec["id"]), rec)
            mgr.table.add_ports(rec["project"], rec["id"],
                                [(p["protocol"], p["host_ip"], p["published"], ip, p["target"])
                                 for p in new])
        except BaseException:
            holder.release([held])
            rec["ports"] = [p for p in rec["ports"] if p not in new]
            rec["holders"] = [h for h in rec["holders"] if h != list(held)]
            mgr.store.write(mgr.store.sandbox_path(rec["id"]), rec)
            raise
        mgr.links.flush_udp_conntrack([p["published"] for p in new if p["protocol"] == "udp"])
    picked = iter(chosen)
    out = []
    for s in specs:
        if s in todo:
            port = next(picked)
        else:
            port = int(s.published or 0)
        out.append(PublishedPort(s.target, port, s.host_ip or "0.0.0.0", s.protocol))
    return out


def remove_sandbox(mgr: NetworkManager, rec: dict[str, Any], bulk: bool = False) -> None:
    """Unpublish, unmount the netns pin (the kernel then destroys the namespace and with it
    the veth pairs, asynchronously and in batches: 20 take ~12 ms this way against ~0.4 s
    for 20 explicit deletions), delete the name files and the record.  `bulk` (teardown)
    skips the per-container rule removal and name refresh that teardown does once."""
    if rec["ports"] and not bulk:
        mgr.table.remove(f"p={rec['project']} ctr={rec['id']}")
    holder.release([*holder.held_of(rec), *holder.strays(f"{mgr.knobs.root} {rec['id']}")])
    nets = {a["network"] for a in rec["attachments"]}
    netns.remove(Path(rec["pin"]))
    names.remove_files_dir(Path(rec["hosts"]).parent)
    mgr.store.delete(mgr.store.sandbox_path(rec["id"]))
    if nets and not bulk:
        refresh_names(mgr, nets)
    if not bulk and dns_of(rec).embedded:
        from pystack.net import dns

        dns.sync(mgr.knobs, rec["project"], start=False)   # it drops the sockets it held
