"""The embedded DNS server end to end (issue 11): containers on user networks get
nameserver 127.0.0.11 and only their own names in /etc/hosts; the server answers service
names, container names, aliases and links of the asker's networks (round-robin over
replicas, nothing of other networks or projects), forwards the rest to the service's `dns:`
(a fake upstream on a host loopback address: no name ever leaves the test) over UDP and TCP,
comes back when killed, and is gone after `down`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project
from tests.support.fakedns import fake_upstream

pytestmark = pytest.mark.root

UPSTREAM = "127.0.0.153"
SLEEP = '["sh", "-c", "trap \'exit 0\' TERM; sleep 86400 & wait"]'
STACK = f"""
x-base: &base
  image: local/busybox:latest
  command: {SLEEP}
  dns: [{UPSTREAM}]
services:
  web:
    <<: *base
    scale: 3
    command: ["sh", "-c", "mkdir /tmp/w && hostname > /tmp/w/index.html &&
              trap 'exit 0' TERM; httpd -f -p 8080 -h /tmp/w & wait"]
    networks:
      front:
        aliases: [www]
  client:
    <<: *base
    networks: [front, back]
    links: ["db:database"]
  db:
    <<: *base
    networks: [back]
  lonely:
    <<: *base
    networks: [other]
  hostnet:
    image: local/busybox:latest
    command: {SLEEP}
    network_mode: host
  nonet:
    image: local/busybox:latest
    command: {SLEEP}
    network_mode: none
networks:
  front: {{}}
  back: {{}}
  other: {{}}
"""

# Asks 127.0.0.11 from inside a container's netns (nsenter), as a resolver library would.
QUERY = r"""
import socket, struct, sys, time
from dnslib import DNSRecord
proto, name, qtype, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
out, t0 = [], time.perf_counter()
for _ in range(n):
    data = bytes(DNSRecord.question(name, qtype).pack())
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(data, ("127.0.0.11", 53))
        reply = s.recv(4096)
    else:
        s = socket.create_connection(("127.0.0.11", 53), timeout=5)
        s.sendall(struct.pack("!H", len(data)) + data)
        size = struct.unpack("!H", s.recv(2))[0]
        reply = b""
        while len(reply) < size:
            reply += s.recv(size - len(reply))
    s.close()
    r = DNSRecord.parse(reply)
    out = [str(x.rdata) for x in r.rr] or [f"rcode={r.header.rcode}"]
print(" ".join(out))
print(f"{(time.perf_counter() - t0) / n * 1e6:.0f}")
"""


def query(p: Project, svc: str, name: str, proto: str = "udp", qtype: str = "A",
          n: int = 1) -> tuple[str, float]:
    short = p.ids()[f"{p.name}-{svc}-1"]
    pins = Path(os.environ["PYSTACK_RUN"]) / "net" / "ns"
    (pin,) = [pins / c for c in os.listdir(pins) if c.startswith(short)]
    r = subprocess.run(["nsenter", f"--net={pin}", sys.executable, "-c", QUERY, proto, name,
                        qtype, str(n)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    answer, micros = r.stdout.splitlines()
    return answer, float(micros)


def server_pids(project: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pystack.net.dnsserver" in argv and project.encode() in argv:
            out.append(int(pid))
    return out


def sh(p: Project, svc: str, script: str, check: bool = True) -> str:
    return p.run("exec", "-T", svc, "sh", "-c", script, check=check).stdout


def test_embedded_dns(make_project: Callable[[str], Project]) -> None:
    with fake_upstream(UPSTREAM, {"outside.test": "192.0.2.7"}) as up:
        p = make_project(STACK)
        p.run("up", "-d")
        other = make_project(STACK.split("  client:")[0] + "networks:\n  front: {}\n")
        other.run("up", "-d")
        resolv = sh(p, "client", "cat /etc/resolv.conf")
        assert "nameserver 127.0.0.11\n" in resolv and "options ndots:0" in resolv
        assert f"ExtServers: [{UPSTREAM}]" in resolv
        hosts = sh(p, "client", "cat /etc/hosts")
        listed = {w for line in hosts.splitlines() for w in line.split()[1:]}
        assert not {"web", "db"} & listed                         # Docker: own names only
        # (by name, not substring: the own hostname is a random hex id, "…db" at times)
        # service, container and alias names; replicas; the link of the asker only
        webs = sorted(query(p, "client", "web")[0].split())
        assert len(webs) == 3
        assert sorted(query(p, "client", "www")[0].split()) == webs
        assert query(p, "client", f"{p.name}-web-2")[0] in webs
        db = query(p, "client", "db")[0]
        assert query(p, "client", "database")[0] == db
        assert query(p, "db", "database")[0] == "rcode=3"          # forwarded: NXDOMAIN
        # round-robin: each answer starts with the next replica (glibc's getaddrinfo may
        # sort them again by RFC 3484 rule 9 for a client on their subnet, as with Docker)
        firsts = [query(p, "client", "web")[0].split()[0] for _ in range(3)]
        assert sorted(firsts) == webs
        seen = set(sh(p, "client", "for i in 1 2 3; do wget -qO- http://web:8080/; "
                                   "done").split())
        assert len(seen) >= 1
        # nothing of other networks or projects
        assert query(p, "lonely", "web")[0] == "rcode=3"
        assert query(other, "web", f"{p.name}-web-1")[0] == "rcode=3"
        assert query(other, "web", "web")[0] not in webs
        assert "192.0.2.7" in sh(p, "client", "nslookup outside.test")      # forwarded, UDP
        assert query(p, "client", "outside.test", "tcp")[0] == "192.0.2.7"  # and TCP
        assert query(p, "client", "web", "tcp")[0].split()[0] in webs
        assert ("tcp", "outside.test") in up.asked and ("udp", "outside.test") in up.asked
        # only what the asker's networks do not know went upstream (Docker's rule)
        assert {n for _, n in up.asked} == {"database", "web", f"{p.name}-web-1",
                                            "outside.test"}
        # network_mode host: the host's resolv.conf; none: an empty one
        assert sh(p, "hostnet", "cat /etc/resolv.conf") == Path("/etc/resolv.conf").read_text()
        assert sh(p, "nonet", "cat /etc/resolv.conf") == ""
        # a killed worker comes back (its supervisor starts it again) with every socket
        pids = server_pids(p.name)
        assert len(pids) == 2
        os.kill(max(pids), signal.SIGKILL)
        p.wait_for(lambda: len(server_pids(p.name)) == 2 and max(server_pids(p.name)) not in pids)
        p.wait_for(lambda: query(p, "client", "db")[0] == db)
        _, udp_us = query(p, "client", "db", n=200)
        print(f"embedded DNS UDP lookup from a container netns: {udp_us:.0f} us/query")
        other.run("down")
        assert not server_pids(other.name)
        p.run("down")
        assert not server_pids(p.name)
