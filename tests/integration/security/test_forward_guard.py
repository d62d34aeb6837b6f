"""pystack turning ip_forward on must not turn the host into a router for its other networks
(issue 9 item 10; Docker sets FORWARD to DROP when it enables forwarding).

All of it happens in a network namespace of the test's own (the "host" here), so the real
host's ip_forward is never touched: two outside networks A and B hang off it on veth pairs,
forwarding is off, then pystack creates a network.  A sends to B through the host; a control
packet from the host itself to B follows on the same CPU.  Once the control arrived, A's
packet has arrived too, or it was dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

HOST = r"""
import json, os, socket, subprocess, sys
from pathlib import Path
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
fwd = Path("/proc/sys/net/ipv4/ip_forward")
fwd.write_text("0")
sh = lambda *a: subprocess.run(a, check=True, capture_output=True)
outs = {}
for n, (name, net) in enumerate((("a", "10.250.1"), ("b", "10.250.2"))):
    p = subprocess.Popen(["unshare", "-n", "sh", "-c", "echo up; exec sleep 120"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout.readline().strip() == "up"
    outs[name] = p
    sh("ip", "link", "add", f"h{name}", "type", "veth", "peer", "name", f"o{name}")
    sh("ip", "link", "set", f"o{name}", "netns", str(p.pid))
    sh("ip", "addr", "add", f"{net}.1/24", "dev", f"h{name}")
    sh("ip", "link", "set", f"h{name}", "up")
    ns = ["nsenter", "-t", str(p.pid), "-n"]
    sh(*ns, "ip", "addr", "add", f"{net}.2/24", "dev", f"o{name}")
    sh(*ns, "ip", "link", "set", f"o{name}", "up")
    sh(*ns, "ip", "link", "set", "lo", "up")
    sh(*ns, "ip", "route", "add", "default", "via", f"{net}.1")
nsb = ["nsenter", "-t", str(outs["b"].pid), "-n"]
nsa = ["nsenter", "-t", str(outs["a"].pid), "-n"]
RECV = '''
import os, socket
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.250.2.2", 9999)); print("ready", flush=True); s.settimeout(10)
got = []
while b"control" not in got:
    got.append(s.recv(64))
print(b",".join(got).decode(), flush=True)
'''
SEND = '''
import os, socket, sys
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), ("10.250.2.2", 9999))
'''

def attempt(tag):
    r = subprocess.Popen([*nsb, sys.executable, "-c", RECV], stdout=subprocess.PIPE, text=True)
    assert r.stdout.readline().strip() == "ready"
    subprocess.run([*nsa, sys.executable, "-c", SEND, tag], check=True)
    subprocess.run([sys.executable, "-c", SEND, "control"], check=True)
    out = r.stdout.readline().strip()
    r.wait()
    return out

from pystack.net.api import NetworkSpec
from pystack.net.manager import NetworkManager
m = NetworkManager("fg", root=Path(sys.argv[1]) / "root", run=Path(sys.argv[1]) / "run")
res = {"before": attempt("forwarded-before")}
try:
    m.ensure_network(NetworkSpec("fg_a", "fg"))
    res["forwarding"] = fwd.read_text().strip()
    res["during"] = attempt("forwarded-during")
finally:
    m.teardown()
    m.close()
res["after"] = fwd.read_text().strip()
res["rules"] = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
for p in outs.values():
    p.kill(); p.wait()
print(json.dumps(res))
"""


def test_forwarding_pystack_turned_on_routes_only_its_bridges(tmp_path: Path) -> None:
    # its own net and mount namespaces: /sys shows the test namespace's links
    out = subprocess.run(["unshare", "-n", "-m", "--propagation", "private", "sh", "-c",
                          'mount -t sysfs none /sys && exec "$@"', "sh",
                          sys.executable, "-c", HOST, str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"] == "control"                  # forwarding off: not routed
    assert res["forwarding"] == "1"                    # pystack turned it on
    assert res["during"] == "control", "the host routed between two non-pystack networks"
    assert res["after"] == "0" and "pystack" not in res["rules"]
