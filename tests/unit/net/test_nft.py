"""The nft scripts pystack feeds to `nft -f -` (captured, not run): chains, isolation order,
NAT, DNAT, and exact removal by comment."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from pystack.net import nft


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    out: list[str] = []
    monkeypatch.setattr(nft, "run", out.append)
    return out


def test_network_rules(scripts: list[str]) -> None:
    nft.Table("pt").add_network("proj", "proj_a", "psb1", "172.18.0.0/16", internal=False)
    lines = scripts[0].splitlines()
    assert lines[0] == "add table inet pt"
    assert "add chain inet pt forward { type filter hook forward priority 0; policy accept; }" \
        in lines
    c = 'comment "p=proj net=proj_a"'
    inserted = [ln for ln in lines if ln.startswith("insert rule")]
    # inserted in reverse, so the chain reads: established, dnat, then the isolation drop
    assert inserted == [
        f'insert rule inet pt forward oifname "psb1" iifname != "psb1" drop {c}',
        f'insert rule inet pt forward oifname "psb1" ct status dnat accept {c}',
        f'insert rule inet pt forward oifname "psb1" ct state established,related accept {c}',
    ]
    assert f'add rule inet pt forward iifname "psb1" accept {c}' in lines
    assert (f'add rule inet pt postrouting ip saddr 172.18.0.0/16 oifname != "psb1" '
            f'masquerade {c}') in lines


def test_internal_network_has_no_nat(scripts: list[str]) -> None:
    nft.Table("pt").add_network("proj", "proj_i", "psb2", "172.19.0.0/16", internal=True)
    text = scripts[0]
    assert "masquerade" not in text and 'iifname "psb2" accept' not in text
    assert 'iifname "psb2" oifname != "psb2" drop' in text


def test_port_rules(scripts: list[str]) -> None:
    nft.Table("pt").add_ports("proj", "c1", [("tcp", "", 8080, "172.18.0.2", 80),
                                             ("udp", "127.0.0.1", 53, "172.18.0.2", 5353)])
    rules = [ln for ln in scripts[0].splitlines() if ln.startswith("add rule")]
    assert rules == [
        'add rule inet pt prerouting meta nfproto ipv4 fib daddr type local tcp dport 8080 '
        'dnat ip to 172.18.0.2:80 comment "p=proj ctr=c1"',
        'add rule inet pt output meta nfproto ipv4 fib daddr type local tcp dport 8080 '
        'dnat ip to 172.18.0.2:80 comment "p=proj ctr=c1"',
        'add rule inet pt prerouting ip daddr 127.0.0.1 fib daddr type local udp dport 53 '
        'dnat ip to 172.18.0.2:5353 comment "p=proj ctr=c1"',
        'add rule inet pt output ip daddr 127.0.0.1 fib daddr type local udp dport 53 '
        'dnat ip to 172.18.0.2:5353 comment "p=proj ctr=c1"',
    ]


def _listing(rules: list[dict[str, Any]]) -> Any:
    def fake(argv: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        body = {"nftables": [{"metainfo": {}}, *({"rule": r} for r in rules)]}
        return subprocess.CompletedProcess(argv, 0, json.dumps(body), "")
    return fake


def test_remove_exactly_and_drop_empty_table(scripts: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [{"chain": "output", "handle": 4, "comment": "p=proj ctr=c1"},
             {"chain": "output", "handle": 5, "comment": "p=proj ctr=c10"},
             {"chain": "forward", "handle": 6, "comment": "p=other net=x"}]
    monkeypatch.setattr(nft.subprocess, "run", _listing(rules))
    monkeypatch.setattr(nft, "_nft", lambda: "nft")
    t = nft.Table("pt")
    assert t.remove("p=proj ctr=c1") == 1
    assert scripts[-1] == "delete rule inet pt output handle 4\n"
    assert t.remove("p=proj ") == 2
    assert scripts[-1] == ("delete rule inet pt output handle 4\n"
                           "delete rule inet pt output handle 5\n")
    assert t.remove("p=other ") == 1 and scripts[-1] == "delete rule inet pt forward handle 6\n"
    monkeypatch.setattr(nft.subprocess, "run", _listing(rules[:1]))
    assert t.remove("p=proj ") == 1 and scripts[-1] == "delete table inet pt\n"
