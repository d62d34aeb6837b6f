"""NetworkManager: the real `Network` for one project — bridges, sandboxes, ports, teardown.

Every mutating call takes the net lock of the state dir (state.Store.lock), reads the records
it needs and writes the record of what it is about to create; then it creates it (netlink via
links/rtnl, rules via nft).  So records are a superset of the host objects, and teardown, which
walks the records of this project (whoever wrote them, even a process that died half-way),
removes exactly this project's objects.  The slow part of a container's networking (its netns,
the veth pair, addresses and routes) runs outside the lock, so the containers of an `up` are
plumbed in parallel: the lock covers only the choice of an address and the records (and the
rewrite of the peers' hosts files); the host-wide lock (Store.host_lock) only subnet choice.
Networks are global across projects (external networks and the subnet allocation see all).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from pystack.net import holder, ipam, names, netns, ports
from pystack.net.api import (
    Attachment,
    AttachSpec,
    DnsConfig,
    NetworkInfo,
    NetworkSpec,
    PortSpec,
    PublishedPort,
    Sandbox,
)
from pystack.net.errors import (
    NetConfigError,
    NetError,
    NetworkConflictError,
    NetworkNotFoundError,
    SandboxNotFoundError,
)
from pystack.net.links import Links, write_sysctl
from pystack.net.nft import GUARD, Table
from pystack.net.records import attachment_of, dns_to_json, info_of, same_config, sandbox_of
from pystack.net.state import Knobs, Store, check_name

MTU_OPT = "com.docker.network.driver.mtu"
IP_FORWARD = "net/ipv4/ip_forward"


class NetworkManager:
    def __init__(self, project: str, root: Path | None = None, run: Path | None = None) -> None:
        check_name("project", project)
        self.project = project
        self.knobs = Knobs.from_env(root, run)
        self.store = Store(self.knobs)
        self.links = Links()
        self.table = Table(self.knobs.nft_table, owner=self.knobs.owner())

    def close(self) -> None:
        self.links.close()

    # networks -----------------------------------------------------------------------------

    def _network(self, name: str) -> dict[str, Any]:
        rec = self.store.read(self.store.network_path(name))
        if rec is not None:
            return rec
        if self.links.is_bridge(name):
            return self._host_bridge(name)
        raise NetworkNotFoundError(f"network {name} not found")

    def _host_bridge(self, name: str) -> dict[str, Any]:
        """A host bridge not made by pystack, usable as an external network."""
        idx = self.links.index(name)
        for addr, plen in self.links.addresses(idx) if idx is not None else ():
            net = ipaddress.IPv4Interface(f"{addr}/{plen}")
            return {"name": name, "project": "", "bridge": name, "subnet": str(net.network),
                    "gateway": str(net.ip), "external": True, "internal": False,
                    "reserved": [], "labels": {}}
        raise NetConfigError(f"host bridge {name} has no IPv4 address to attach containers to")

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        check_name("network", spec.name)
        if "com.docker.compose.project" in spec.labels:
            # A compose network: its containers will use the embedded DNS server, whose
            # ~0.2 s start then overlaps the rest of `up`.
            from pystack.net import dns

            dns.prestart(self.knobs, self.project)
        with self.store.lock():
            self.store.ensure_dirs()
            rec = self.store.read(self.store.network_path(spec.name))
            if spec.external:
                if rec is None and not self.links.is_bridge(spec.name):
                    raise NetworkNotFoundError(
                        f"network {spec.name} declared as external, but could not be found",
                        hint="create it first: a network of another pystack project, or a "
                             "host bridge of that name")
                return info_of(rec or self._host_bridge(spec.name), external=True)
            if rec is not None:
                if rec["project"] != self.project:
                    raise NetworkConflictError(
                        f"network {spec.name} exists and belongs to project {rec['project']}",
                        hint="declare it `external: true` to share it")
                same_config(spec, rec)
                self._create_network(rec)   # repairs a half-made network (crash, reboot)
                return info_of(rec)
            mtu = self._mtu(spec)
            with self.store.host_lock():
                others = [ipaddress.IPv4Network(r["subnet"]) for r in self.store.all(
                    self.store.networks)]
                sub = ipam.resolve(spec.name, spec.ipam,
                                   [*others, *self.links.in_use(), *_nameservers()],
                                   ipv6=spec.enable_ipv6)
                rec = {"name": spec.name, "project": self.project,
                       "bridge": self.knobs.link_name("b", spec.name), "subnet": sub.subnet,
                       "gateway": sub.gateway, "ip_range": sub.ip_range,
                       "reserved": list(sub.reserved), "subnet6": sub.subnet6,
                       "gateway6": sub.gateway6, "internal": spec.internal, "external": False,
                       "labels": dict(spec.labels), "driver_opts": dict(spec.driver_opts),
                       "mtu": mtu}
                self.store.write(self.store.network_path(spec.name), rec, durable=True)
                try:
                    self._create_network(rec)
                except BaseException:
                    self._destroy_network(rec)
                    raise
            return info_of(rec)

    def _mtu(self, spec: NetworkSpec) -> int:
        raw = spec.driver_opts.get(MTU_OPT)
        if raw is None:
            return self.links.default_mtu()
        try:
            mtu = int(raw)
        except ValueError:
            mtu = 0
        if not 68 <= mtu <= 65535:
            raise NetConfigError(f"network {spec.name}: invalid {MTU_OPT} {raw!r}")
        return mtu

    def _create_network(self, rec: dict[str, Any]) -> None:
        br = rec["bridge"]
        fresh = self.links.index(br) is None
        subnet = ipaddress.IPv4Network(rec["subnet"])
        self.links.ensure_bridge(br, rec["gateway"], subnet.prefixlen, int(rec["mtu"]),
                                 rec.get("gateway6"),
                                 ipaddress.IPv6Network(rec["subnet6"]).prefixlen
                                 if rec.get("subnet6") else 64)
        if not rec["internal"]:
            self._forwarding_on()
            write_sysctl(f"net/ipv4/conf/{br}/route_localnet", "1")
        if fresh or not self._has_rules(f"p={rec['project']} net={rec['name']}"):
            self.table.add_network(rec["project"], rec["name"], br, rec["subnet"],
                                   rec["internal"])

    def _has_rules(self, comment: str) -> bool:
        return comment in self.table.comments()

    def _forwarding_on(self) -> None:
        """ip_forward on; when it was off, the old value is kept to restore, and the forward
        guard keeps the host from routing anything but pystack's bridges meanwhile."""
        old = write_sysctl(IP_FORWARD, "1")
        if old is not None and old != "1" and self.store.read(self.store.sysctl) is None:
            self.store.write(self.store.sysctl, {IP_FORWARD: old})
        if self.store.read(self.store.sysctl) is not None and GUARD not in self.table.comments():
            self.table.add_forward_guard(self.knobs.ifprefix + "b")

    def _forwarding_restore(self) -> None:
        saved = self.store.read(self.store.sysctl)
        if saved is None:
            return
        if any(not r["internal"] for r in self.store.all(self.store.networks)):
            return
        if self.links.forwarding_bridges():
            # a routed bridge of another pystack state dir (or another engine) still needs
            # forwarding: leaving it on is the safe side; drop our record of the old value
            self.store.delete(self.store.sysctl)
            self.table.remove(GUARD)
            return
        for key, value in saved.items():
            write_sysctl(key, str(value))
        self.store.delete(self.store.sysctl)
        self.table.remove(GUARD)

    def _destroy_network(self, rec: dict[str, Any], rules: bool = True) -> None:
        if rules:               # teardown removes them all at once before
            self.table.remove(f"p={rec['project']} net={rec['name']}")
        self.links.delete(rec["bridge"])
        self.store.delete(self.store.network_path(rec["name"]))
        self._forwarding_restore()

    def remove_network(self, name: str) -> None:
        with self.store.lock():
            rec = self.store.read(self.store.network_path(name))
            if rec is None or rec["project"] != self.project:
                return
            users = [s["id"] for s in self.store.all(self.store.sandboxes)
                     if any(a["network"] == name for a in s["attachments"])]
            if users:
                raise NetError(f"network {name} has active endpoints: {', '.join(users)}",
                               hint="stop and remove the containers first")
            self._destroy_network(rec)

    def list_networks(self) -> list[NetworkInfo]:
        return [info_of(r) for r in self.store.all(self.store.networks)
                if r["project"] == self.project]

    # sandboxes ----------------------------------------------------------------------------

    def create_sandbox(self, container_id: str, dns: DnsConfig) -> Sandbox:
        """Idempotent: an existing sandbox is returned, with its name files written again if
        they are gone (an admin cleaned PYSTACK_RUN: the bind mounts would fail).  Only the
        record is written under the lock (teardown and the reaper go by records, and the record
        precedes the pin); the namespace and the files are made outside it, in parallel."""
        check_name("container", container_id)
        names.check_dns(dns)
        path = self.store.sandbox_path(container_id)
        pin = self.store.pin_path(container_id)
        with self.store.lock():
            self.store.ensure_dirs()
            rec = self.store.read(path)
            fresh = rec is None or not netns.is_pinned(pin)
            if fresh:
                if rec is not None:             # its namespace is gone: so are its ports
                    holder.release(holder.held_of(rec))
                rec = {"id": container_id, "project": self.project, "pin": str(pin),
                       "hosts": str(self.store.hosts_path(container_id)),
                       "resolv": str(self.store.resolv_path(container_id)),
                       "dns": dns_to_json(dns), "attachments": [], "ports": [],
                       "owner_pid": os.getpid()}
                self.store.write(path, rec)
        assert rec is not None
        if fresh:
            if pin.exists():
                netns.remove(pin)
            netns.create(pin)       # with lo up (a `network_mode: none` container has only it)
            names.files_dir(Path(rec["hosts"]).parent)
            names.write_in_place(Path(rec["resolv"]), names.render_resolv(dns))
            names.write_in_place(Path(rec["hosts"]), names.render_hosts(dns, [], []))
        else:
            self._repair_files(rec)
        return sandbox_of(rec)

    def _repair_files(self, rec: dict[str, Any]) -> None:
        """Write a sandbox's name files again when they are missing."""
        from pystack.net.endpoints import refresh_names
        from pystack.net.records import dns_of

        if not os.path.exists(rec["resolv"]) or not os.path.exists(rec["hosts"]):
            names.files_dir(Path(rec["hosts"]).parent)
        if not os.path.exists(rec["resolv"]):
            names.write_in_place(Path(rec["resolv"]), names.render_resolv(dns_of(rec)))
        if not os.path.exists(rec["hosts"]):
            with self.store.lock():
                refresh_names(self, set(), also=(rec["id"],))

    def ensure_name_files(self, container_id: str, dns: Callable[[], DnsConfig]) -> None:
        sb = self.sandbox(container_id)
        if sb is not None and not (os.path.exists(sb.hosts_path)
                                   and os.path.exists(sb.resolv_path)):
            self.create_sandbox(container_id, dns())     # idempotent: writes the files again

    def sandbox(self, container_id: str) -> Sandbox | None:
        """The sandbox, None when it has no record or its namespace is gone (a reboot, an
        admin): such a container needs a new one (`up` recreates it)."""
        rec = self.store.read(self.store.sandbox_path(container_id))
        if rec is None or not netns.is_pinned(Path(rec["pin"])):
            return None
        return sandbox_of(rec)

    def _sandbox_rec(self, container_id: str) -> dict[str, Any]:
        rec = self.store.read(self.store.sandbox_path(container_id))
        if rec is None:
            raise SandboxNotFoundError(f"no network sandbox for container {container_id}")
        return rec

    def attach(self, container_id: str, spec: AttachSpec) -> Attachment:
        """The address is chosen and recorded under the lock; the veth pair and its
        configuration are made outside it (the attachments of many containers run in
        parallel; the kernel serializes what it must), then the peers' names are refreshed
        under the lock again."""
        from pystack.net import endpoints

        with self.store.lock():
            rec = self._sandbox_rec(container_id)
            got = endpoints.reserve(self, rec, spec)
        if isinstance(got, Attachment):
            self._repair_files(rec)
            self._dns_sync(rec)
            return got
        try:
            endpoints.plumb(self, rec, got)
        except BaseException:
            with self.store.lock():
                endpoints.unreserve(self, container_id, got)
            raise
        with self.store.lock():
            endpoints.refresh_names(self, {spec.network}, also=(container_id,))
        self._dns_sync(rec)
        return attachment_of(got.a)

    def _dns_sync(self, rec: dict[str, Any]) -> None:
        """A sandbox with the embedded DNS server is served before attach returns (the
        server is started if it is not running)."""
        from pystack.net import dns
        from pystack.net.records import dns_of

        if dns_of(rec).embedded:
            dns.sync(self.knobs, self.project)

    def detach(self, container_id: str, network: str) -> None:
        from pystack.net.endpoints import detach

        with self.store.lock():
            rec = self.store.read(self.store.sandbox_path(container_id))
            if rec is not None:
                detach(self, rec, network)
        if rec is not None:
            from pystack.net import dns

            dns.sync(self.knobs, self.project, start=False)

    def remove_sandbox(self, container_id: str) -> None:
        from pystack.net.endpoints import remove_sandbox

        with self.store.lock():
            rec = self.store.read(self.store.sandbox_path(container_id))
            if rec is not None:
                remove_sandbox(self, rec)

    # ports --------------------------------------------------------------------------------

    def _claims(self, skip: str | None = None) -> list[ports.Claim]:
        return [(p["protocol"], p["published"], p["host_ip"])
                for s in self.store.all(self.store.sandboxes) if s["id"] != skip
                for p in s["ports"]]

    def check_ports(self, specs: list[PortSpec]) -> None:
        with self.store.lock():
            ports.check(specs, self._claims())

    def publish(self, container_id: str, specs: list[PortSpec]) -> list[PublishedPort]:
        from pystack.net.endpoints import publish

        with self.store.lock():
            return publish(self, self._sandbox_rec(container_id), specs)

    def published(self, container_id: str) -> list[PublishedPort]:
        rec = self.store.read(self.store.sandbox_path(container_id))
        if rec is None:
            return []
        return [PublishedPort(p["target"], p["published"], p["host_ip"] or "0.0.0.0",
                              p["protocol"]) for p in rec["ports"]]

    # teardown -----------------------------------------------------------------------------

    def teardown(self, keep: Collection[str] = ()) -> None:
        """Remove every sandbox of this project (but those in `keep`), its rules, and its
        networks (but those a kept sandbox is still attached to), also what dead owners
        left (net/teardown.py)."""
        from pystack.net import teardown

        teardown.teardown(self, keep)


def _nameservers() -> list[ipaddress.IPv4Network]:
    """The host's resolvers: a network over them would hide them (Docker excludes them)."""
    out = []
    for server in names.host_resolv()[0]:
        try:
            out.append(ipaddress.IPv4Network(server))
        except ValueError:
            continue
    return out


__all__ = ["NetworkManager", "attachment_of"]
