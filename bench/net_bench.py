"""Benchmark of pystack.net beside the physical floor (root; never a test).

  sudo .venv/bin/python bench/net_bench.py [--rounds 3] [--no-floor] [--no-ports] [--no-dns]

1. One network + 20 sandboxes attached (netns pin, veth born in the netns, address, routes,
   hosts files), then full teardown; beside bench/floor/floor-net.sh
   `up/down 20 direct` run in the same process (RESULTS.md: 0.258 s up, ~0.085-0.4 s down).
2. Published-port TCP on loopback: connection rate and bulk throughput to a server in a
   sandbox, (a) direct to the container address (no NAT: the floor), (b) through pystack's
   nftables DNAT on 127.0.0.1, (c) through a userland proxy (asyncio, like docker-proxy).
3. Name lookup: a hosts-file lookup (getaddrinfo inside a sandbox) vs a query to an
   embedded dnslib server on loopback — the two service-discovery designs.
All traffic stays on loopback and inside the namespaces/bridge this script creates.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FLOOR = Path(__file__).resolve().parent / "floor" / "floor-net.sh"
N = 20

SERVER = r"""
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(128); print("ready", flush=True)
def handle(c):
    mode = c.recv(1)
    if mode == b"E":
        c.sendall(c.recv(64))
    else:
        n = 0
        while True:
            b = c.recv(1 << 18)
            if not b:
                break
            n += len(b)
        c.sendall(str(n).encode())
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""

PROXY = r"""
import asyncio, sys
# argv: listen_port target_ip target_port marker(PYSTACK_ROOT, for leak checks)
async def pipe(r, w):
    while (b := await r.read(1 << 18)):
        w.write(b); await w.drain()
    if w.can_write_eof():
        w.write_eof()
async def handle(r, w):
    tr, tw = await asyncio.open_connection(sys.argv[2], int(sys.argv[3]))
    try:
        await asyncio.gather(pipe(r, tw), pipe(tr, w))
    finally:
        w.close(); tw.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await srv.serve_forever()
asyncio.run(main())
"""

LOOKUP = r"""
import socket, sys, time
n = int(sys.argv[2]); t = time.perf_counter()
for _ in range(n):
    socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)
print((time.perf_counter() - t) / n)
"""


def _env() -> Path:
    base = Path(tempfile.mkdtemp(prefix="pystack-netbench-"))
    os.environ.update(PYSTACK_ROOT=str(base / "root"), PYSTACK_RUN=str(base / "run"),
                      PYSTACK_IFPREFIX="pb" + secrets.token_hex(1),
                      PYSTACK_NFT_TABLE="pystack_bench" + secrets.token_hex(2))
    return base


def floor_round() -> tuple[float, float]:
    t = time.perf_counter()
    subprocess.run(["sh", str(FLOOR), "up", str(N), "direct"], check=True)
    up = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["sh", str(FLOOR), "down", str(N), "direct"], check=True)
    down = time.perf_counter() - t
    while any(n.startswith("pfh") for n in os.listdir("/sys/class/net")):
        time.sleep(0.05)                # the kernel frees the pairs after `netns del`
    return up, down


def pystack_round() -> tuple[float, float, float]:
    """(up wall, down wall, up cpu) of one network + N attachments, then teardown."""
    from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
    from pystack.net.manager import NetworkManager

    t, c = time.perf_counter(), time.process_time()
    m = NetworkManager("bench")
    m.ensure_network(NetworkSpec("bench_default", "bench"))
    for i in range(N):
        m.create_sandbox(f"bench-c{i}", DnsConfig(servers=("127.0.0.1",)))
        m.attach(f"bench-c{i}", AttachSpec("bench_default", aliases=(f"s{i}", "svc")))
    up, cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    m.teardown()                        # waits until the kernel has freed every veth
    m.close()
    return up, time.perf_counter() - t, cpu


def _conn_rate(host: str, port: int, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        with socket.create_connection((host, port), timeout=5) as c:
            c.sendall(b"Eping")
            c.recv(64)
    return n / (time.perf_counter() - t)


def _throughput(host: str, port: int, megabytes: int) -> float:
    chunk = b"x" * (1 << 18)
    total = megabytes << 20
    t = time.perf_counter()
    with socket.create_connection((host, port), timeout=10) as c:
        c.sendall(b"S")
        sent = 0
        while sent < total:
            c.sendall(chunk)
            sent += len(chunk)
        c.shutdown(socket.SHUT_WR)
        got = int(c.recv(64))
    assert got == total, (got, total)
    return megabytes / (time.perf_counter() - t)


def _start(argv: list[str]) -> subprocess.Popen[str]:
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def ports_bench() -> dict[str, tuple[float, float]]:
    from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec, PortSpec
    from pystack.net.manager import NetworkManager

    m = NetworkManager("benchp")
    procs: list[subprocess.Popen[str]] = []
    try:
        m.ensure_network(NetworkSpec("benchp_default", "benchp"))
        sb = m.create_sandbox("benchp-srv", DnsConfig(servers=("127.0.0.1",)))
        ip = m.attach("benchp-srv", AttachSpec("benchp_default")).ipv4_address
        port = m.publish("benchp-srv", [PortSpec(target=8080)])[0].published
        procs.append(_start(["nsenter", f"--net={sb.netns_path}", sys.executable, "-c",
                             SERVER, "8080"]))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            pport = s.getsockname()[1]
        procs.append(_start([sys.executable, "-c", PROXY, str(pport), ip, "8080",
                             os.environ["PYSTACK_ROOT"]]))
        out = {}
        cases = (("direct to container (floor)", ip, 8080),
                 ("nftables DNAT 127.0.0.1", "127.0.0.1", port),
                 ("userland proxy 127.0.0.1", "127.0.0.1", pport))
        for _label, host, p in cases:
            _conn_rate(host, p, 200)
        rates: dict[str, list[float]] = {c[0]: [] for c in cases}
        tps: dict[str, list[float]] = {c[0]: [] for c in cases}
        for _ in range(3):              # interleaved rounds, median: the machine is shared
            for label, host, p in cases:
                rates[label].append(_conn_rate(host, p, 500))
                tps[label].append(_throughput(host, p, 200))
        for label, _host, _p in cases:
            out[label] = (statistics.median(rates[label]), statistics.median(tps[label]))
        return out
    finally:
        for p in procs:
            p.kill()
            p.wait()
        m.teardown()
        m.close()


def dns_bench() -> tuple[float, float, float]:
    """(hosts-file lookup s, dnslib query s, hosts rewrite for 20 peers s)."""
    from dnslib import QTYPE, RR, A, DNSRecord
    from dnslib.server import BaseResolver, DNSLogger, DNSServer

    from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
    from pystack.net.manager import NetworkManager
    from tests.integration.net.helpers import wrap

    m = NetworkManager("benchd")
    try:
        m.ensure_network(NetworkSpec("benchd_default", "benchd"))
        for i in range(N):
            m.create_sandbox(f"benchd-c{i}", DnsConfig(servers=("127.0.0.1",)))
            m.attach(f"benchd-c{i}", AttachSpec("benchd_default", aliases=(f"s{i}", "svc")))
        sb = m.sandbox("benchd-c0")
        assert sb is not None
        r = subprocess.run(wrap(sb, [sys.executable, "-c", LOOKUP, "s19", "2000"]),
                           capture_output=True, text=True, check=True)
        hosts_lookup = float(r.stdout)
        from pystack.net.endpoints import refresh_names

        t = time.perf_counter()
        with m.store.lock():
            for _ in range(10):
                refresh_names(m, {"benchd_default"})
        rewrite = (time.perf_counter() - t) / 10
    finally:
        m.teardown()
        m.close()

    class Resolver(BaseResolver):       # type: ignore[misc]
        def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
            reply = request.reply()
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("172.17.0.5"), ttl=0))
            return reply

    quiet = DNSLogger(logf=lambda _s: None)
    srv = DNSServer(Resolver(), address="127.0.0.1", port=0, logger=quiet)
    srv.start_thread()
    port = srv.server.server_address[1]
    q = DNSRecord.question("svc").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(2)
        t = time.perf_counter()
        for _ in range(2000):
            c.sendto(q, ("127.0.0.1", port))
            c.recv(512)
        dns = (time.perf_counter() - t) / 2000
    srv.stop()
    threading.Event().wait(0.05)
    return hosts_lookup, dns, rewrite


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--no-ports", action="store_true")
    ap.add_argument("--no-dns", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("net_bench needs root")
    base = _env()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    t = time.perf_counter()
    import pystack.net.manager  # noqa: F401  (net's import, paid once per CLI run)

    imp = time.perf_counter() - t
    use_floor = not args.no_floor and FLOOR.exists()
    ps, fl = [], []
    for _ in range(args.rounds):        # interleaved: the machine is shared and noisy
        ps.append(pystack_round())
        if use_floor:
            fl.append(floor_round())
    up, down, cpu = (statistics.median(x[i] for x in ps) for i in range(3))
    print(f"1 network + {N} attachments (median of {args.rounds} interleaved rounds):")
    if use_floor:
        fu, fd = (statistics.median(x[i] for x in fl) for i in range(2))
        print(f"  floor-net.sh direct (this run)   up {fu:.3f} s   down {fd:.3f} s "
              "(down does not wait for the kernel to free the veths)")
    else:
        fu, fd = 0.258, 0.4
        print(f"  floor (RESULTS.md)               up {fu:.3f} s   down {fd:.3f} s")
    print(f"  pystack.net                      up {up:.3f} s   down {down:.3f} s   "
          f"(up cpu {cpu:.3f} s; pystack.net import {imp:.3f} s once)")
    print(f"  ratio pystack/floor              up {up / fu:.2f}x     down {down / fd:.2f}x")
    if not args.no_ports:
        print("published TCP port on loopback (median of 3 x 500 connections / 200 MiB stream):")
        res = ports_bench()
        base_rate, base_tp = next(iter(res.values()))
        for label, (rate, tp) in res.items():
            print(f"  {label:30s} {rate:8.0f} conn/s ({rate / base_rate:.2f}x)  "
                  f"{tp:8.0f} MiB/s ({tp / base_tp:.2f}x)")
    if not args.no_dns:
        hosts, dns, rewrite = dns_bench()
        print("name lookup (one name, 2000 lookups):")
        print(f"  hosts file (getaddrinfo in sandbox) {hosts * 1e6:7.1f} us/lookup")
        print(f"  embedded dnslib server, UDP        {dns * 1e6:7.1f} us/query (server side "
              "only, no resolver library)")
        print(f"  hosts rewrite of {N} sandboxes      {rewrite * 1e3:7.2f} ms per membership "
              "change")
    subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    main()
