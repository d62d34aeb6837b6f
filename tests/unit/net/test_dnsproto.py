"""The embedded DNS server's answers (net/dnsproto.py): names of the asker's networks only,
replicas rotated, links of the asker, PTR, empty answers for a known name's other family,
and everything else left to forwarding; garbage never raises."""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.net import dnsproto, dnswire


def _rec(cid: str, *atts: dict[str, Any], links: list[list[str]] | None = None,
         servers: list[str] | None = None) -> dict[str, Any]:
    return {"id": cid, "project": "p", "attachments": list(atts),
            "dns": {"embedded": True, "links": links or [], "servers": servers or []}}


def _att(net: str, ip: str, *aliases: str, ipv6: str | None = None,
         internal: bool = False) -> dict[str, Any]:
    return {"network": net, "ipv4": ip, "ipv6": ipv6, "aliases": list(aliases),
            "internal": internal}


TABLE = dnsproto.Table([
    _rec("web1", _att("p_front", "10.1.0.2", "p-web-1", "web"),
         _att("p_back", "10.2.0.2", "p-web-1", "web"), links=[["database", "db"]]),
    _rec("web2", _att("p_front", "10.1.0.3", "p-web-2", "web", ipv6="fd00::3")),
    _rec("db1", _att("p_back", "10.2.0.9", "p-db-1", "db", "DataBase-Alias")),
    _rec("other", _att("q_default", "10.3.0.2", "q-web-1", "web")),
])


def _ask(cid: str, name: str, qtype: str = "A") -> DNSRecord | None:
    q = dnswire.parse(bytes(DNSRecord.question(name, qtype).pack()))
    assert q is not None
    raw = dnsproto.answer(q, TABLE, TABLE.askers[cid])
    return None if raw is None else DNSRecord.parse(raw)


def _ips(r: DNSRecord | None) -> list[str]:
    assert r is not None
    return [str(x.rdata) for x in r.rr]


def test_replicas_rotate_and_networks_stay_apart() -> None:
    firsts = {_ips(_ask("db1", "web"))[0] for _ in range(4)}
    assert firsts == {"10.2.0.2"}                       # db1 sees only web1 (p_back)
    seen = [_ips(_ask("web2", "web")) for _ in range(3)]
    assert seen[0] != seen[1] and sorted(seen[0]) == ["10.1.0.2", "10.1.0.3"]
    assert _ips(_ask("other", "web")) == ["10.3.0.2"]    # another project's network
    assert _ask("other", "p-db-1") is None               # forwarded: not its network
    assert _ask("web2", "db") is None                    # web2 is not on p_back


def test_aliases_links_case_suffix_and_families() -> None:
    assert _ips(_ask("web1", "database-alias.")) == ["10.2.0.9"]
    assert _ips(_ask("web1", "database")) == ["10.2.0.9"]     # its link
    assert _ask("db1", "database") is None                    # not db1's link
    assert _ips(_ask("web1", "p-db-1.p_back")) == ["10.2.0.9"]
    empty = _ask("web1", "db", "AAAA")
    assert empty is not None and empty.header.rcode == RCODE.NOERROR and not empty.rr
    assert _ips(_ask("web1", "p-web-2", "AAAA")) == ["fd00::3"]
    assert _ask("web1", "example.org") is None


def test_ptr_of_peer_addresses() -> None:
    r = _ask("web1", "9.0.2.10.in-addr.arpa", "PTR")
    assert r is not None and str(r.rr[0].rdata) == "p-db-1."
    assert _ask("other", "9.0.2.10.in-addr.arpa", "PTR") is None
    assert _ask("web1", "1.1.1.1.in-addr.arpa", "PTR") is None


def test_asker_facts() -> None:
    a = dnsproto.Table([_rec("x", _att("n", "10.0.0.2", "x", internal=True),
                             servers=["127.0.0.153"])]).askers["x"]
    assert a.servers == ("127.0.0.153",) and not a.outside


def test_truncation_sets_tc() -> None:
    many = dnsproto.Table([_rec(f"c{i}", _att("n", f"10.0.{i // 200}.{i % 200 + 2}", "svc"))
                           for i in range(60)])
    q = dnswire.parse(bytes(DNSRecord.question("svc").pack()))
    assert q is not None
    raw = dnsproto.answer(q, many, many.askers["c0"])
    assert raw is not None and len(raw) > 512
    assert len(DNSRecord.parse(raw).rr) == 60                 # fine over TCP
    cut = DNSRecord.parse(dnswire.truncated(q, raw, dnswire.udp_limit(q)))
    assert cut.header.tc == 1 and not cut.rr and str(cut.q.qname) == "svc."
    assert DNSRecord.parse(dnswire.failure(q)).header.rcode == RCODE.SERVFAIL
    assert QTYPE.A == dnswire.A


def test_wire_reply_is_what_dnslib_reads() -> None:
    query = DNSRecord.question("Web.Example", "A")
    query.header.id = 4242
    q = dnswire.parse(bytes(query.pack()))
    assert q is not None and q.name == "web.example" and not q.edns
    r = DNSRecord.parse(dnswire.reply(q, [dnswire.address("10.0.0.7"),
                                          dnswire.address("fd00::1")], 600))
    assert r.header.id == 4242 and r.header.qr == 1 and r.header.rd == 1
    assert [str(x.rdata) for x in r.rr] == ["10.0.0.7", "fd00::1"]
    assert str(r.rr[0].rname) == "Web.Example."                # the question, by pointer
    assert dnswire.parse(bytes(r.pack())) is None              # a response is not a query
    assert dnswire.parse(b"\x00" * 12 + b"\xc0\x0c\x00\x01\x00\x01") is None


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    q = dnswire.parse(data)
    if q is not None:
        raw = dnsproto.answer(q, TABLE, TABLE.askers["web1"])
        for out in (raw, dnswire.failure(q)):
            if out is not None:
                DNSRecord.parse(out)                           # well-formed replies


@settings(max_examples=100)
@given(st.lists(st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True), min_size=1, max_size=4),
       st.sampled_from(["A", "AAAA", "PTR", "MX", "TXT"]))
def test_parse_agrees_with_dnslib(labels: list[str], qtype: str) -> None:
    name = ".".join(labels)
    q = dnswire.parse(bytes(DNSRecord.question(name, qtype).pack()))
    assert q is not None and q.name == name and q.qtype == getattr(QTYPE, qtype)
