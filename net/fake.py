"""An in-memory `Network` for the orchestrator's unit tests: no root, no kernel, no files.

It keeps the same rules as the real manager where a caller can observe them: networks are
idempotent by name, external networks must exist (pass them to the constructor), attaching
needs a sandbox and a known network, static addresses must lie in the subnet and be free,
interfaces are numbered eth0, eth1..., published host ports conflict with each other and with
`taken_ports`, ephemeral ports come from 32768-60999, and names resolve only between
containers that share a network (`resolve`).  `calls` records every protocol call in order.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace

from pystack.net.api import (
    Attachment,
    AttachSpec,
    DnsConfig,
    IpamPool,
    NetworkInfo,
    NetworkSpec,
    PortSpec,
    PublishedPort,
    Sandbox,
)
from pystack.net.errors import (
    AddressInUseError,
    NetConfigError,
    NetError,
    NetworkNotFoundError,
    PortInUseError,
    SandboxNotFoundError,
)
from pystack.net.ipam import mac_for
from pystack.net.names import check_dns, check_hostname

EPHEMERAL_FIRST = 32768
EPHEMERAL_LAST = 60999


@dataclass
class _Net:
    info: NetworkInfo
    used: set[str] = field(default_factory=set)


@dataclass
class _Box:
    sandbox: Sandbox
    dns: DnsConfig
    ports: list[PublishedPort] = field(default_factory=list)


class FakeNetwork:
    """Satisfies pystack.net.api.Network in memory."""

    def __init__(self, project: str = "fake", external: Iterable[str] = (),
                 taken_ports: Iterable[tuple[int, str]] = ()) -> None:
        self.project = project
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.taken_ports: set[tuple[int, str]] = set(taken_ports)
        self._nets: dict[str, _Net] = {}
        self._boxes: dict[str, _Box] = {}
        self._next_subnet = 0
        for i, name in enumerate(external):
            pool = (IpamPool(subnet=f"192.168.{i * 16}.0/20"),)
            self._add(NetworkSpec(name=name, project="", ipam=pool), external=True)

    # networks -----------------------------------------------------------------------------

    def _add(self, spec: NetworkSpec, external: bool = False) -> NetworkInfo:
        if spec.ipam and spec.ipam[0].subnet:
            try:
                subnet = ipaddress.IPv4Network(spec.ipam[0].subnet)
            except ValueError as e:
                raise NetConfigError(f"network {spec.name}: invalid subnet "
                                     f"{spec.ipam[0].subnet!r}") from e
        else:
            subnet = ipaddress.IPv4Network(f"172.{17 + self._next_subnet}.0.0/16")
            self._next_subnet += 1
        gateway = (spec.ipam[0].gateway if spec.ipam and spec.ipam[0].gateway
                   else str(subnet.network_address + 1))
        info = NetworkInfo(name=spec.name, project=spec.project, bridge=f"fk{len(self._nets)}",
                           subnet=str(subnet), gateway=gateway,
                           subnet6="fd00:fa4e::/64" if spec.enable_ipv6 else None,
                           gateway6="fd00:fa4e::1" if spec.enable_ipv6 else None,
                           internal=spec.internal, external=external,
                           labels=dict(spec.labels))
        self._nets[spec.name] = _Net(info, used={gateway})
        return info

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        self.calls.append(("ensure_network", (spec,)))
        if spec.name in self._nets:
            return self._nets[spec.name].info
        if spec.external:
            raise NetworkNotFoundError(f"network {spec.name} declared as external, but could "
                                       "not be found",
                                       hint=f"create it first: pystack network create {spec.name}")
        return self._add(spec)

    def remove_network(self, name: str) -> None:
        self.calls.append(("remove_network", (name,)))
        net = self._nets.get(name)
        if net is None or net.info.external:
            return
        for box in self._boxes.values():
            if any(a.network == name for a in box.sandbox.attachments):
                raise NetError(f"network {name} has active endpoints")
        del self._nets[name]

    def list_networks(self) -> list[NetworkInfo]:
        return sorted((n.info for n in self._nets.values()
                       if n.info.project == self.project and not n.info.external),
                      key=lambda i: i.name)

    # sandboxes ----------------------------------------------------------------------------

    def create_sandbox(self, container_id: str, dns: DnsConfig) -> Sandbox:
        self.calls.append(("create_sandbox", (container_id, dns)))
        check_dns(dns)
        if container_id in self._boxes:
            return self._boxes[container_id].sandbox
        base = f"/fake/run/net/ns/{container_id}"
        sb = Sandbox(container_id=container_id, project=self.project, netns_path=base,
                     hosts_path=f"{base}.hosts", resolv_path=f"{base}.resolv")
        self._boxes[container_id] = _Box(sb, dns)
        return sb

    def ensure_name_files(self, container_id: str, dns: Callable[[], DnsConfig]) -> None:
        self.calls.append(("ensure_name_files", (container_id,)))

    def sandbox(self, container_id: str) -> Sandbox | None:
        box = self._boxes.get(container_id)
        return box.sandbox if box else None

    def _box(self, container_id: str) -> _Box:
        box = self._boxes.get(container_id)
        if box is None:
            raise SandboxNotFoundError(f"no network sandbox for container {container_id}")
        return box

    def attach(self, container_id: str, spec: AttachSpec) -> Attachment:
        self.calls.append(("attach", (container_id, spec)))
        box = self._box(container_id)
        for alias in spec.aliases:
            check_hostname("alias", alias)
        net = self._nets.get(spec.network)
        if net is None:
            raise NetworkNotFoundError(f"network {spec.network} not found")
        for a in box.sandbox.attachments:
            if a.network == spec.network:
                return a
        subnet = ipaddress.IPv4Network(net.info.subnet)
        if spec.ipv4_address:
            try:
                addr = ipaddress.IPv4Address(spec.ipv4_address)
            except ValueError as e:
                raise NetConfigError(f"invalid ipv4_address {spec.ipv4_address!r}") from e
            if addr not in subnet:
                raise NetConfigError(f"address {addr} is not in network {spec.network}'s "
                                     f"subnet {subnet}")
            if str(addr) in net.used:
                raise AddressInUseError(f"address {addr} is already in use on {spec.network}")
        else:
            addr = next(h for h in subnet.hosts() if str(h) not in net.used)
        net.used.add(str(addr))
        idx = len(box.sandbox.attachments)
        att = Attachment(network=spec.network, interface=f"eth{idx}", ipv4_address=str(addr),
                         prefixlen=subnet.prefixlen, gateway=net.info.gateway,
                         mac_address=spec.mac_address or mac_for(str(addr)), aliases=spec.aliases,
                         ipv6_address=spec.ipv6_address)
        box.sandbox = replace(box.sandbox, attachments=(*box.sandbox.attachments, att))
        return att

    def detach(self, container_id: str, network: str) -> None:
        self.calls.append(("detach", (container_id, network)))
        box = self._boxes.get(container_id)
        if box is None:
            return
        keep = []
        for a in box.sandbox.attachments:
            if a.network == network:
                if network in self._nets:
                    self._nets[network].used.discard(a.ipv4_address)
            else:
                keep.append(a)
        box.sandbox = replace(box.sandbox, attachments=tuple(keep))

    # ports --------------------------------------------------------------------------------

    def _in_use(self) -> set[tuple[int, str]]:
        used = set(self.taken_ports)
        for box in self._boxes.values():
            used.update((p.published, p.protocol) for p in box.ports)
        return used

    def check_ports(self, ports: list[PortSpec]) -> None:
        self.calls.append(("check_ports", (list(ports),)))
        used = self._in_use()
        for p in ports:
            if p.published is not None and (p.published, p.protocol) in used:
                raise PortInUseError(f"Bind for {p.host_ip or '0.0.0.0'}:{p.published} failed: "
                                     "port is already allocated")

    def publish(self, container_id: str, ports: list[PortSpec]) -> list[PublishedPort]:
        self.calls.append(("publish", (container_id, list(ports))))
        box = self._box(container_id)
        self.check_ports(ports)
        used = self._in_use()
        out = []
        for p in ports:
            port = p.published
            if port is None:
                port = next(n for n in range(EPHEMERAL_FIRST, EPHEMERAL_LAST + 1)
                            if (n, p.protocol) not in used)
            used.add((port, p.protocol))
            out.append(PublishedPort(p.target, port, p.host_ip or "0.0.0.0", p.protocol))
        box.ports.extend(out)
        return out

    def published(self, container_id: str) -> list[PublishedPort]:
        box = self._boxes.get(container_id)
        return list(box.ports) if box else []

    # removal ------------------------------------------------------------------------------

    def remove_sandbox(self, container_id: str) -> None:
        self.calls.append(("remove_sandbox", (container_id,)))
        box = self._boxes.get(container_id)
        if box is None:
            return
        for a in box.sandbox.attachments:
            self.detach(container_id, a.network)
        del self._boxes[container_id]

    def teardown(self, keep: Collection[str] = ()) -> None:
        self.calls.append(("teardown", (tuple(sorted(keep)),) if keep else ()))
        kept_nets: set[str] = set()
        for cid in list(self._boxes):
            if self._boxes[cid].sandbox.project == self.project:
                if cid in keep:
                    kept_nets |= {a.network for a in self._boxes[cid].sandbox.attachments}
                else:
                    self.remove_sandbox(cid)
        for name, net in list(self._nets.items()):
            if net.info.project == self.project and not net.info.external \
                    and name not in kept_nets:
                del self._nets[name]

    # test helpers (not part of the protocol) ----------------------------------------------

    def resolve(self, container_id: str, name: str) -> list[str]:
        """The addresses `name` resolves to inside `container_id` (peers on shared networks)."""
        box = self._box(container_id)
        mine = {a.network for a in box.sandbox.attachments}
        found: list[str] = []
        for other in self._boxes.values():
            for a in other.sandbox.attachments:
                if a.network in mine and name in a.aliases and a.ipv4_address not in found:
                    found.append(a.ipv4_address)
        return sorted(found)

