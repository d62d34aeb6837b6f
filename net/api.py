"""The network API the orchestrator uses, and the types it exchanges.  net/ knows networks and
attachments by name; it never learns what a service is (the orchestrator passes the names a
container answers to as `aliases`).

Every object net/ creates on the host is recorded under PYSTACK_RUN/PYSTACK_ROOT so that
teardown removes exactly it, and carries PYSTACK_IFPREFIX (links) / PYSTACK_NFT_TABLE (rules).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class IpamPool:
    subnet: str | None = None           # "172.28.0.0/16"
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkSpec:
    name: str                           # full name on the host: "<project>_<key>" or `name:`
    project: str                        # owner; teardown of a project removes only its networks
    internal: bool = False
    external: bool = False              # must exist already; never created or removed
    enable_ipv6: bool = False
    ipam: tuple[IpamPool, ...] = ()     # empty = allocate from the pool
    driver_opts: dict[str, str] = field(default_factory=dict)   # e.g. com.docker.network.driver.mtu
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    project: str
    bridge: str                         # host device name (<= 15 chars)
    subnet: str
    gateway: str
    subnet6: str | None = None
    gateway6: str | None = None
    internal: bool = False
    external: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AttachSpec:
    network: str                        # full network name
    aliases: tuple[str, ...] = ()       # every name this container answers to on this network
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None
    priority: int = 0                   # highest priority gets the default route (then name)


@dataclass(frozen=True)
class Attachment:
    network: str
    interface: str                      # "eth0", "eth1", ... inside the container
    ipv4_address: str                   # "172.18.0.2"
    prefixlen: int
    gateway: str
    mac_address: str
    ipv6_address: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortSpec:
    target: int
    published: int | None = None        # None = ephemeral
    host_ip: str = ""                   # "" = all addresses
    protocol: Literal["tcp", "udp"] = "tcp"


@dataclass(frozen=True)
class PublishedPort:
    target: int
    published: int
    host_ip: str
    protocol: Literal["tcp", "udp"]


@dataclass(frozen=True)
class DnsConfig:
    """What goes into the container's resolv.conf and hosts file besides peer names."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()   # (hostname, ip)
    hostname: str = ""                  # the container's own name(s) for its hosts file
    domainname: str = ""
    # The embedded DNS server (dnsserver.py) answers peer names at 127.0.0.11, and the hosts
    # file lists only the container's own names (Docker's user networks); off: peer names in
    # the hosts file and the upstream servers in resolv.conf.
    embedded: bool = False
    links: tuple[tuple[str, str], ...] = ()     # (alias, target name): `links:` of the service


@dataclass(frozen=True)
class Sandbox:
    """A container's network namespace, pinned on the host, and its name files."""

    container_id: str
    project: str
    netns_path: str                     # hand this to the runtime (ContainerSpec.netns)
    hosts_path: str                     # bind-mount at /etc/hosts (kept current, written in place)
    resolv_path: str                    # bind-mount at /etc/resolv.conf
    attachments: tuple[Attachment, ...] = ()


class Network(Protocol):
    """Host networking for one project: the only way the orchestrator touches net.

    `pystack.net.manager.NetworkManager` implements it on the kernel, `pystack.net.fake.
    FakeNetwork` in memory for unit tests; tests/integration/net/test_contract.py runs one
    scenario against both.  Every method raises only `pystack.net.errors` exceptions (root
    `NetError`) and leaves nothing half-made on the host when it raises.
    """

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        """Create the network (bridge, subnet, NAT rules) or return the existing one.
        Raises NetConfigError (bad ipam/driver_opts), NetworkConflictError (the name belongs
        to another project, or exists with another config), NetworkNotFoundError (an external
        network that does not exist), AddressInUseError / PoolExhaustedError (no subnet)."""
        ...

    def remove_network(self, name: str) -> None:
        """Remove one of this project's networks.  Raises NetworkNotFoundError, NetError
        (it still has endpoints)."""
        ...

    def list_networks(self) -> list[NetworkInfo]:
        """This project's networks (external ones it uses included)."""
        ...

    def create_sandbox(self, container_id: str, dns: DnsConfig) -> Sandbox:
        """The container's network namespace (pinned) and name files; idempotent: an existing
        sandbox is returned.  Raises NetConfigError (bad container id or DNS options)."""
        ...

    def ensure_name_files(self, container_id: str, dns: Callable[[], DnsConfig]) -> None:
        """Write the sandbox's hosts/resolv.conf again if they are gone (an admin cleaned
        PYSTACK_RUN: the runtime's bind mounts of them would fail); `dns` is called only then.
        No-op without a sandbox."""
        ...

    def attach(self, container_id: str, spec: AttachSpec) -> Attachment:
        """Connect the sandbox to a network (veth, address, routes, names); idempotent for the
        same spec.  Raises SandboxNotFoundError, NetworkNotFoundError, NetConfigError (address
        outside the subnet, bad alias), AddressInUseError."""
        ...

    def detach(self, container_id: str, network: str) -> None:
        """Disconnect the sandbox from a network.  Raises SandboxNotFoundError."""
        ...

    def publish(self, container_id: str, ports: list[PortSpec]) -> list[PublishedPort]:
        """Publish ports to the container's address (nftables DNAT); returns the bound ports
        (ephemeral ones chosen).  Raises SandboxNotFoundError, PortInUseError,
        NetConfigError."""
        ...

    def check_ports(self, ports: list[PortSpec]) -> None:
        """Check that the host ports are free before anything is created.  Raises
        PortInUseError, NetConfigError (bad port, host_ip not on this host)."""
        ...

    def published(self, container_id: str) -> list[PublishedPort]:
        """The container's published ports ([] without a sandbox)."""
        ...

    def sandbox(self, container_id: str) -> Sandbox | None:
        """The container's sandbox; None when it has none or its namespace is gone."""
        ...

    def remove_sandbox(self, container_id: str) -> None:
        """Detach from every network, unpublish, remove the namespace and the name files; a
        missing sandbox is not an error."""
        ...

    def teardown(self, keep: Collection[str] = ()) -> None:
        """Remove everything of this project but the sandboxes in `keep` and the networks they
        are on, and what dead owners left behind."""
        ...


# --- input rules, for callers that check a stack before anything exists ----------------------


def check_dns_config(dns: DnsConfig) -> None:
    """Raise NetConfigError for a name, address or option net refuses in `dns` (no host
    change; the same check `attach` applies)."""
    from pystack.net.names import check_dns

    check_dns(dns)


def check_alias(alias: str) -> None:
    """Raise NetConfigError for a network alias net refuses."""
    from pystack.net.names import check_hostname

    check_hostname("alias", alias)
