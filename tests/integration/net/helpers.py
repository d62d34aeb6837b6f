"""Run small Python echo servers/clients inside a sandbox netns, with the sandbox's name files
bind-mounted over /etc/hosts and /etc/resolv.conf in a private mount namespace (what the
runtime does for a container).  Traffic stays inside the test's namespaces and bridges."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pystack.net.api import Sandbox
from pystack.net.manager import NetworkManager

SERVER = r"""
import socket, sys
proto, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
if proto == "tcp":
    s.listen(16)
print("ready", flush=True)
s.settimeout(20)
for _ in range(n):
    if proto == "tcp":
        c, peer = s.accept()
        data = c.recv(1024)
        c.sendall(b"echo:" + data)
        c.close()
    else:
        data, peer = s.recvfrom(1024)
        s.sendto(b"echo:" + data, peer)
"""

CLIENT = r"""
import socket, sys
proto, host, port, msg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
addr = socket.getaddrinfo(host, port, socket.AF_INET, kind)[0][4]
s = socket.socket(socket.AF_INET, kind)
s.settimeout(2)
if proto == "tcp":
    s.connect(addr)
    s.sendall(msg)
    print(s.recv(1024).decode())
else:
    s.sendto(msg, addr)
    print(s.recvfrom(1024)[0].decode())
"""


def wrap(sb: Sandbox | None, argv: list[str]) -> list[str]:
    if sb is None:
        return argv
    mounts = (f"mount --bind {sb.hosts_path} /etc/hosts && "
              f"mount --bind {sb.resolv_path} /etc/resolv.conf && exec \"$@\"")
    return ["nsenter", f"--net={sb.netns_path}", "unshare", "-m", "--propagation", "private",
            "sh", "-c", mounts, "sh", *argv]


@dataclass
class Server:
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def serve(sb: Sandbox | None, proto: str, port: int, n: int = 1) -> Server:
    p = subprocess.Popen(wrap(sb, [sys.executable, "-c", SERVER, proto, str(port), str(n)]),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.strip() == "ready", line
    return Server(p)


def ask(sb: Sandbox | None, proto: str, host: str, port: int, msg: str = "hi") -> str | None:
    """The server's reply, or None when the peer cannot be reached or resolved."""
    r = subprocess.run(wrap(sb, [sys.executable, "-c", CLIENT, proto, host, str(port), msg]),
                       capture_output=True, text=True, timeout=15)
    return r.stdout.strip() if r.returncode == 0 else None


def run_in(sb: Sandbox, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(wrap(sb, list(argv)), capture_output=True, text=True, timeout=15)


@contextmanager
def project_manager(prefix: str) -> Iterator[NetworkManager]:
    """A NetworkManager of a fresh project (`prefix` + 6 hex digits), torn down after."""
    m = NetworkManager(prefix + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()
