"""Service discovery by maintained name files: each sandbox's /etc/hosts and /etc/resolv.conf.

A container's hosts file lists localhost, its own hostname, `extra_hosts`, and every alias of
every container (itself included) on the networks it is attached to — nothing from networks it
is not on.  Replicas that share a service name get one line each (glibc >= 2.26 returns all of
them).  The files are bind-mounted by the runtime, so they are rewritten IN PLACE (truncate and
write keeps the inode the mount pins), never renamed over.  resolv.conf comes from DnsConfig or
the host's, minus 127.x nameservers (they do not work from another netns), like Docker.

A sandbox's name files live on a tmpfs of their own, FILES_SIZE big (`files_dir`): the
container may write to its bind-mounted /etc/hosts (Docker mounts it read-write), and without
a cap it could fill the host's /run (issue 9 item 10); a rewrite here reads at most that much.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pystack.net.api import DnsConfig
from pystack.net.errors import NetConfigError

HOST_RESOLV = Path("/etc/resolv.conf")
FALLBACK_SERVERS = ("8.8.8.8", "8.8.4.4")   # what Docker uses when the host has only 127.x

_BASE = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?\Z")
_TOKEN = re.compile(r"^[^\s#;]{1,255}\Z")


def check_hostname(what: str, name: str) -> None:
    """Names go into hosts files: no whitespace, no comment or line injection."""
    if not _HOSTNAME.match(name):
        raise NetConfigError(f"invalid {what} {name!r}: use letters, digits, '-', '_', '.'")


def _check_ip(what: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError as e:
        raise NetConfigError(f"invalid {what} {value!r}: not an IP address") from e


def check_dns(dns: DnsConfig) -> None:
    """Validate everything of a DnsConfig that ends up in the name files."""
    for server in dns.servers:
        _check_ip("dns server", server)
    for domain in dns.search:
        check_hostname("dns_search domain", domain)
    for opt in dns.options:
        if not _TOKEN.match(opt):
            raise NetConfigError(f"invalid dns_opt {opt!r}")
    for host, ip in dns.extra_hosts:
        check_hostname("extra_hosts name", host)
        _check_ip(f"extra_hosts address of {host}", ip)
    for alias, target in dns.links:
        check_hostname("link alias", alias)
        check_hostname("link target", target)
    for what, name in (("hostname", dns.hostname), ("domainname", dns.domainname)):
        if name:
            check_hostname(what, name)


@dataclass(frozen=True)
class Peer:
    """One attachment as seen by name resolution."""

    network: str
    ipv4: str
    ipv6: str | None
    aliases: tuple[str, ...]


def render_hosts(dns: DnsConfig, own: list[Peer], peers: Iterable[Peer]) -> str:
    lines = [_BASE]
    if dns.hostname:
        names = [dns.hostname]
        if dns.domainname:
            names.insert(0, f"{dns.hostname}.{dns.domainname}")
        for p in own[:1]:
            lines.append(f"{p.ipv4}\t{' '.join(names)}\n")
    for host, ip in dns.extra_hosts:
        lines.append(f"{ip}\t{host}\n")
    mine = {p.network for p in own}
    seen: set[tuple[str, str]] = set()
    for p in sorted(peers, key=lambda p: (p.network, p.ipv4)):
        if p.network not in mine or not p.aliases:
            continue
        names = [a for a in p.aliases if (p.ipv4, a) not in seen]
        seen.update((p.ipv4, a) for a in names)
        if names:
            lines.append(f"{p.ipv4}\t{' '.join(names)}\n")
            if p.ipv6:
                lines.append(f"{p.ipv6}\t{' '.join(names)}\n")
    return "".join(lines)


def host_resolv(path: Path = HOST_RESOLV) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search, options) of the host's resolv.conf."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    try:
        text = path.read_text()
    except OSError:
        return servers, search, options
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        if parts[0] == "nameserver":
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            options.extend(parts[1:])
    return servers, search, options


EMBEDDED_DNS = "127.0.0.11"


def render_resolv(dns: DnsConfig, host: Path = HOST_RESOLV) -> str:
    h_servers, h_search, h_options = host_resolv(host)
    if dns.embedded:
        return _render_embedded(dns, h_servers, h_search, h_options)
    servers = list(dns.servers) or [s for s in h_servers
                                    if not s.startswith("127.") and s != "::1"]
    if not servers:
        servers = list(FALLBACK_SERVERS)
    search = list(dns.search) or h_search
    options = list(dns.options) or h_options
    out = [f"nameserver {s}\n" for s in servers]
    if search:
        out.append(f"search {' '.join(search)}\n")
    if options:
        out.append(f"options {' '.join(options)}\n")
    return "".join(out)


FILES_SIZE = 1 << 20
FILES_OPTIONS = f"size={FILES_SIZE},nr_inodes=16,mode=0755"


def files_dir(d: Path) -> None:
    """`d` (a sandbox's files dir) as a mounted tmpfs of FILES_SIZE bytes, made if missing."""
    from pystack.net import netns

    d.mkdir(parents=True, exist_ok=True)
    if os.stat(d).st_dev == os.stat(d.parent).st_dev:
        netns.mount_tmpfs(d, FILES_OPTIONS)


def remove_files_dir(d: Path) -> None:
    """Unmount and delete a sandbox's files dir; idempotent."""
    import shutil

    from pystack.net import netns

    netns.unmount(d)
    shutil.rmtree(d, ignore_errors=True)


def _render_embedded(dns: DnsConfig, h_servers: list[str], h_search: list[str],
                     h_options: list[str]) -> str:
    """Docker's resolv.conf for the internal resolver: nameserver 127.0.0.11, the search
    domains of dns_search or the host, the host's options plus dns_opt, and ndots:0 unless
    an ndots is given; the upstream servers go in a comment (the server forwards to them)."""
    upstream = list(dns.servers) or h_servers or list(FALLBACK_SERVERS)
    search = list(dns.search) or h_search
    options = list(dict.fromkeys([*h_options, *dns.options]))
    if not any(o.startswith("ndots:") for o in options):
        options.insert(0, "ndots:0")
    out = ["# Generated by pystack: the embedded DNS server (as Docker's internal resolver)\n",
           f"# ExtServers: [{' '.join(upstream)}]\n", f"nameserver {EMBEDDED_DNS}\n"]
    if search:
        out.append(f"search {' '.join(search)}\n")
    out.append(f"options {' '.join(options)}\n")
    return "".join(out)


def write_in_place(path: Path, text: str) -> None:
    """Replace a file's content keeping its inode (bind mounts of it see the change)."""
    data = text.encode()
    try:
        with open(path, "r+b") as f:
            if f.read() == data:
                return
            f.seek(0)
            f.write(data)
            f.truncate()
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
