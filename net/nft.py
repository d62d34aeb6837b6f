"""The nftables side: one `inet` table ($PYSTACK_NFT_TABLE) holding NAT, port and forward rules.

Every rule carries a comment `o=<owner> p=<project> net=<network>` or `o=<owner> p=<project>
ctr=<container>`, the owner naming the state root (PYSTACK_ROOT), so that two state dirs
sharing the table with the same project name never remove each other's rules; callers speak
without the owner part (Table adds and strips it).  Removal lists the table with handles
(`nft -j -a`) and deletes exactly the rules whose comment matches, in one batch, and deletes
the table once it holds no rule.  Changes go through
`nft -f -` as one batch per operation (atomic in the kernel).

Rules per network (bridge B, subnet S), modelled on Docker's and netavark's:
  guard (prerouting, priority raw, before conntrack and NAT):  iifname B ip daddr
    127.0.0.0/8 drop.  route_localnet=1 on B (needed so that replies to a 127.0.0.1-published
    port, un-NATed to 127.0.0.1, may arrive on B) would otherwise let a container's crafted
    packet to 127.0.0.1 reach host services bound to loopback (CVE-2020-8558; Kubernetes'
    "block incoming localnet connections").  A legitimate reply still carries the gateway's
    address here: it is rewritten to 127.0.0.1 only later, by NAT.
  forward (inserted at the top, so isolation wins over other bridges' accepts):
    oifname B ct state established,related accept;  oifname B ct status dnat accept;
    oifname B iifname != B drop
  forward (appended):  iifname B accept  (internal: iifname B oifname != B drop)
  postrouting (non-internal): ip saddr S oifname != B masquerade;
    oifname B ip saddr 127.0.0.0/8 masquerade (127.0.0.1 publishing, with route_localnet);
    oifname B ct status dnat ip saddr S masquerade (hairpin through the host address)
Rules per published port: DNAT in prerouting and output for `fib daddr type local`.
The forward guard (only while pystack itself has turned ip_forward on, as Docker sets FORWARD
to DROP then): fwdguard, after forward, drops what is forwarded between two interfaces that
are neither of them a pystack bridge (the host does not become a router for its other nets).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from pystack.net.errors import NetError

CHAINS = {
    "guard": "type filter hook prerouting priority -300; policy accept;",
    "prerouting": "type nat hook prerouting priority -100; policy accept;",
    "output": "type nat hook output priority -100; policy accept;",
    "postrouting": "type nat hook postrouting priority 100; policy accept;",
    "forward": "type filter hook forward priority 0; policy accept;",
    "fwdguard": "type filter hook forward priority 10; policy accept;",
}
GUARD = "forward-guard"


def _nft() -> str:
    path = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
    if path is None:
        raise NetError("nft (nftables) is not installed", hint="apt-get install nftables")
    return path


def run(script: str) -> None:
    r = subprocess.run([_nft(), "-f", "-"], input=script, capture_output=True, text=True)
    if r.returncode != 0:
        raise NetError(f"nft failed: {r.stderr.strip()}")


def _q(s: str) -> str:
    return '"' + s.replace('"', "") + '"'


class Table:
    def __init__(self, name: str, owner: str = "") -> None:
        self.name = name
        self.ref = f"inet {name}"
        self.tag = f"o={owner} " if owner else ""

    def _header(self) -> list[str]:
        lines = [f"add table {self.ref}"]
        for chain, spec in CHAINS.items():
            lines.append(f"add chain {self.ref} {chain} {{ {spec} }}")
        return lines

    def add_network(self, project: str, network: str, bridge: str, subnet: str,
                    internal: bool) -> None:
        c = _q(f"{self.tag}p={project} net={network}")
        b = _q(bridge)
        lines = self._header()
        top = [f"oifname {b} ct state established,related accept",
               f"oifname {b} ct status dnat accept",
               f"oifname {b} iifname != {b} drop"]
        if internal:
            top.insert(0, f"iifname {b} oifname != {b} drop")
        lines.append(f"add rule {self.ref} guard iifname {b} ip daddr 127.0.0.0/8 drop "
                     f"comment {c}")
        for rule in reversed(top):
            lines.append(f"insert rule {self.ref} forward {rule} comment {c}")
        if not internal:
            lines.append(f"add rule {self.ref} forward iifname {b} accept comment {c}")
            post = [f"ip saddr {subnet} oifname != {b} masquerade",
                    f"oifname {b} ip saddr 127.0.0.0/8 masquerade",
                    f"oifname {b} ct status dnat ip saddr {subnet} masquerade"]
            for rule in post:
                lines.append(f"add rule {self.ref} postrouting {rule} comment {c}")
        run("\n".join(lines) + "\n")

    def add_ports(self, project: str, cid: str,
                  ports: list[tuple[str, str, int, str, int]]) -> None:
        """ports: (protocol, host_ip or "", host port, container ip, container port)."""
        if not ports:
            return
        c = _q(f"{self.tag}p={project} ctr={cid}")
        lines = self._header()
        for proto, host_ip, published, ip, target in ports:
            match = f"ip daddr {host_ip}" if host_ip and host_ip != "0.0.0.0" else \
                "meta nfproto ipv4"
            rule = (f"{match} fib daddr type local {proto} dport {published} "
                    f"dnat ip to {ip}:{target}")
            for chain in ("prerouting", "output"):
                lines.append(f"add rule {self.ref} {chain} {rule} comment {c}")
        run("\n".join(lines) + "\n")

    def add_forward_guard(self, bridge_prefix: str) -> None:
        b = _q(bridge_prefix + "*")
        run("\n".join([*self._header(),
                       f"add rule {self.ref} fwdguard iifname != {b} oifname != {b} drop "
                       f"comment {_q(self.tag + GUARD)}"]) + "\n")

    def _list(self) -> list[dict[str, Any]] | None:
        r = subprocess.run([_nft(), "-j", "-a", "list", "table", "inet", self.name],
                           capture_output=True, text=True)
        if r.returncode != 0:
            if "No such file" in r.stderr or "does not exist" in r.stderr:
                return None
            raise NetError(f"nft list failed: {r.stderr.strip()}")
        try:
            items = json.loads(r.stdout)["nftables"]
        except (ValueError, KeyError) as e:
            raise NetError("nft -j printed something unexpected") from e
        return [i["rule"] for i in items if "rule" in i]

    def remove(self, comment_prefix: str) -> int:
        """Delete every rule whose comment starts with `comment_prefix` (e.g. "p=x ctr=abc"
        or "p=x "); delete the table when nothing is left.  Returns how many were removed."""
        rules = self._list()
        if rules is None:
            return 0
        mine = [r for r in rules if _matches(r.get("comment", ""), self.tag + comment_prefix)]
        lines = [f"delete rule {self.ref} {r['chain']} handle {r['handle']}" for r in mine]
        if len(mine) == len(rules):
            lines = [f"delete table {self.ref}"]
        if lines:
            run("\n".join(lines) + "\n")
        return len(mine)

    def remove_exact(self, comments: set[str]) -> int:
        """Delete every rule whose comment is one of `comments` (in one nft run)."""
        rules = self._list() if comments else None
        if rules is None:
            return 0
        mine = [r for r in rules if r.get("comment", "") in {self.tag + c for c in comments}]
        lines = [f"delete rule {self.ref} {r['chain']} handle {r['handle']}" for r in mine]
        if lines:
            run("\n".join(lines) + "\n")
        return len(mine)

    def comments(self) -> list[str]:
        """The comments of this owner's rules, without the owner part."""
        rules = self._list() or []
        return [c[len(self.tag):] for r in rules
                if (c := str(r.get("comment", ""))).startswith(self.tag)]


def _matches(comment: str, prefix: str) -> bool:
    if prefix.endswith(" "):
        return comment.startswith(prefix)
    return comment == prefix
