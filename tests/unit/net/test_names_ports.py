"""Name files (hosts, resolv.conf), port checks and host-object naming — no root needed."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.net import names, ports
from pystack.net.api import DnsConfig, PortSpec
from pystack.net.errors import NetConfigError, PortInUseError
from pystack.net.state import Knobs


def test_hosts_only_shared_networks_and_replicas() -> None:
    own = [names.Peer("a", "172.17.0.2", None, ("web",))]
    peers = [*own,
             names.Peer("a", "172.17.0.3", None, ("api", "p-api-1")),
             names.Peer("a", "172.17.0.4", "fd00::4", ("api", "p-api-2")),
             names.Peer("b", "172.18.0.2", None, ("db",))]
    text = names.render_hosts(DnsConfig(hostname="web1", domainname="example.org",
                                        extra_hosts=(("gw", "10.0.0.1"),)), own, peers)
    lines = text.splitlines()
    assert "127.0.0.1\tlocalhost" in lines
    assert "172.17.0.2\tweb1.example.org web1" in lines
    assert "10.0.0.1\tgw" in lines
    assert "172.17.0.3\tapi p-api-1" in lines and "172.17.0.4\tapi p-api-2" in lines
    assert "fd00::4\tapi p-api-2" in lines
    assert "db" not in text


def test_resolv_from_host_drops_loopback(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("# hi\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan\n"
                    "options edns0\n")
    assert names.render_resolv(DnsConfig(), host) == \
        "nameserver 10.0.0.2\nsearch lan\noptions edns0\n"
    host.write_text("nameserver 127.0.0.53\n")
    assert names.render_resolv(DnsConfig(), host) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert names.render_resolv(DnsConfig(servers=("1.1.1.1",), search=("a", "b"),
                                         options=("ndots:1",)), host) == \
        "nameserver 1.1.1.1\nsearch a b\noptions ndots:1\n"


def test_write_in_place_keeps_inode(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    names.write_in_place(f, "one long line\n")
    ino = f.stat().st_ino
    names.write_in_place(f, "short\n")
    assert f.read_text() == "short\n" and f.stat().st_ino == ino


def test_port_conflicts_by_record() -> None:
    claims: list[ports.Claim] = [("tcp", 8080, ""), ("udp", 53, "127.0.0.1")]
    assert ports.claimed(claims, "tcp", 8080, "10.0.0.1")
    assert not ports.claimed(claims, "udp", 8080, "")
    assert ports.claimed(claims, "udp", 53, "")
    assert not ports.claimed(claims, "udp", 53, "10.0.0.1")
    with pytest.raises(PortInUseError) as e:
        ports.check([PortSpec(target=80, published=8080)], claims)
    assert str(e.value) == "Bind for 0.0.0.0:8080 failed: port is already allocated"
    with pytest.raises(PortInUseError):    # two specs of one request collide
        ports.check([PortSpec(target=80, published=40001),
                     PortSpec(target=81, published=40001)], [])


def test_port_taken_by_a_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(PortInUseError):
            ports.check([PortSpec(target=80, published=port, host_ip="127.0.0.1")], [])


@pytest.mark.parametrize("spec, message", [
    (PortSpec(target=0), "invalid container port 0"),
    (PortSpec(target=80, published=70000), "invalid host port 70000"),
    (PortSpec(target=80, host_ip="203.0.113.9"),
     "host_ip 203.0.113.9 is not an address of this host"),
])
def test_port_bad_input(spec: PortSpec, message: str) -> None:
    with pytest.raises(NetConfigError) as e:
        ports.check([spec], [])
    assert str(e.value) == message


def test_ephemeral_choice_avoids_claims() -> None:
    got = ports.choose([PortSpec(target=80), PortSpec(target=81)], [])
    assert len(set(got)) == 2 and all(32768 <= n <= 60999 for n in got)


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=40))
def test_link_names_fit_ifnamsiz(key: str) -> None:
    for prefix in ("ps", "t1ab", "abcdef"):
        k = Knobs(Path("/r"), Path("/u"), prefix, "t")
        for kind in ("b", "v"):
            name = k.link_name(kind, key)
            assert len(name) <= 15 and name.startswith(prefix + kind)
            assert name == k.link_name(kind, key)


def test_bad_prefix_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "PYSTACK_IFPREFIX", "Way-Too-Long")
    with pytest.raises(NetConfigError):
        Knobs.from_env()


@pytest.mark.parametrize("dns, message", [
    (DnsConfig(servers=("dns.example",)), "invalid dns server 'dns.example': not an IP address"),
    (DnsConfig(search=("a b",)), "invalid dns_search domain 'a b': use letters, digits, "
                                 "'-', '_', '.'"),
    (DnsConfig(options=("ndots:1\nnameserver 6.6.6.6",)),
     "invalid dns_opt 'ndots:1\\nnameserver 6.6.6.6'"),
    (DnsConfig(extra_hosts=(("evil\n1.2.3.4 x", "10.0.0.1"),)),
     "invalid extra_hosts name 'evil\\n1.2.3.4 x': use letters, digits, '-', '_', '.'"),
    (DnsConfig(extra_hosts=(("ok", "nope"),)),
     "invalid extra_hosts address of ok 'nope': not an IP address"),
])
def test_dns_config_checked(dns: DnsConfig, message: str) -> None:
    with pytest.raises(NetConfigError) as e:
        names.check_dns(dns)
    assert str(e.value) == message


@settings(max_examples=80)
@given(st.text(max_size=30))
def test_accepted_names_cannot_break_a_hosts_line(name: str) -> None:
    try:
        names.check_hostname("alias", name)
    except NetConfigError:
        return
    text = names.render_hosts(DnsConfig(), [names.Peer("n", "10.0.0.2", None, (name,))],
                              [names.Peer("n", "10.0.0.2", None, (name,))])
    assert text.splitlines()[-1] == f"10.0.0.2\t{name}"


@pytest.mark.parametrize("name", ["0\n", "web\n", "a.b\n"])
def test_a_trailing_newline_is_refused(name: str) -> None:
    """`$` matches before a final newline; the validators anchor with \\Z."""
    with pytest.raises(NetConfigError):
        names.check_hostname("alias", name)
