"""Name lookups from a container: the hosts file against the embedded DNS server.

Brings up a small stack (busybox `web` x3 and `client` on one network, in a scratch
PYSTACK_ROOT/RUN), then, inside client's network namespace with its own /etc/hosts and
/etc/resolv.conf bind-mounted (what the runtime does), times glibc's getaddrinfo (the host's
Python: busybox has none) for a name the hosts file answers (client's own hostname) and for
peer names the embedded DNS server at 127.0.0.11 answers, and raw UDP queries to it.
Prints medians over rounds.  Root; loopback and the stack's own bridge only.
Run: .venv/bin/python bench/dns_bench.py [ROUNDS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

STACK = """
services:
  web:
    image: local/busybox:latest
    scale: 3
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
  client:
    image: local/busybox:latest
    hostname: client
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
"""

PROBE = r"""
import json, socket, sys, time
from dnslib import DNSRecord
n = int(sys.argv[1])
def gai(name):
    socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
    t = time.perf_counter()
    for _ in range(n):
        socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
    return (time.perf_counter() - t) / n * 1e6
def raw(name):
    q = bytes(DNSRecord.question(name).pack())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.11", 53))
    t = time.perf_counter()
    for _ in range(n):
        s.send(q)
        s.recv(4096)
    return (time.perf_counter() - t) / n * 1e6
print(json.dumps({"hosts file (own hostname)": gai("client"), "embedded DNS (web, 3 replicas)":
                  gai("web"), "embedded DNS raw UDP query": raw("web")}))
"""


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pystack = str(Path(sys.executable).parent / "pystack")
    with tempfile.TemporaryDirectory(prefix="pystack-dns-bench-") as tmp:
        env = dict(os.environ, PYSTACK_ROOT=f"{tmp}/root", PYSTACK_RUN=f"{tmp}/run")
        os.environ.update(env)
        from tests.support.busybox import IMAGE_CMD, IMAGE_ENV, build_rootfs, rootfs_tar

        tar = rootfs_tar(build_rootfs(Path(tmp) / "rootfs"), Path(tmp) / "rootfs.tar")
        subprocess.run([pystack, "image", "import", str(tar), "local/busybox:latest", "-c",
                        f"ENV {IMAGE_ENV[0]}", "-c", f"CMD {json.dumps(IMAGE_CMD)}"],
                       env=env, check=True, capture_output=True)
        (Path(tmp) / "stack.yml").write_text(STACK)
        base = [pystack, "-f", f"{tmp}/stack.yml", "-p", "dnsbench"]
        subprocess.run([*base, "up", "-d"], env=env, check=True, capture_output=True)
        try:
            out = subprocess.run([*base, "ps", "--format", "json"], env=env, check=True,
                                 capture_output=True).stdout
            ids = [json.loads(line) for line in out.splitlines()]   # one object per line
            short = next(r["ID"] for r in ids if r["Service"] == "client")
            files = Path(tmp) / "run" / "net" / "files"
            cid = next(c for c in os.listdir(files) if c.startswith(short))
            pin = Path(tmp) / "run" / "net" / "ns" / cid
            mounts = (f"mount --bind {files / cid / 'hosts'} /etc/hosts && "
                      f"mount --bind {files / cid / 'resolv.conf'} /etc/resolv.conf && ")
            results: dict[str, list[float]] = {}
            for _ in range(rounds):
                out = subprocess.run(
                    ["nsenter", f"--net={pin}", "unshare", "-m", "--propagation", "private",
                     "sh", "-c", mounts + f'exec "{sys.executable}" -c "$0" 300', PROBE],
                    check=True, capture_output=True, text=True).stdout
                for k, v in json.loads(out).items():
                    results.setdefault(k, []).append(v)
            for k, v in results.items():
                print(f"{k:34} median {statistics.median(v):7.0f} us/lookup "
                      f"({rounds} rounds of 300)")
        finally:
            subprocess.run([*base, "down", "-v"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
