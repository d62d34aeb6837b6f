"""The issue 9 rules in the nft scripts (captured, not run): the loopback guard per network,
the forward guard, and the owner tag that scopes every rule to its state root."""

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


def test_loopback_guard_before_nat(scripts: list[str]) -> None:
    nft.Table("pt").add_network("proj", "proj_a", "psb1", "172.18.0.0/16", internal=True)
    lines = scripts[0].splitlines()
    assert "add chain inet pt guard { type filter hook prerouting priority -300; policy " \
        "accept; }" in lines
    assert 'add rule inet pt guard iifname "psb1" ip daddr 127.0.0.0/8 drop comment ' \
        '"p=proj net=proj_a"' in lines


def test_forward_guard_and_owner_tag(scripts: list[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    t = nft.Table("pt", owner="abc")
    t.add_forward_guard("psb")
    assert 'add rule inet pt fwdguard iifname != "psb*" oifname != "psb*" drop comment ' \
        '"o=abc forward-guard"' in scripts[0].splitlines()
    t.add_ports("proj", "c1", [("tcp", "", 80, "172.18.0.2", 80)])
    assert 'comment "o=abc p=proj ctr=c1"' in scripts[1]
    rules = [{"chain": "output", "handle": 4, "comment": "o=abc p=proj ctr=c1"},
             {"chain": "output", "handle": 5, "comment": "o=other p=proj ctr=c1"},
             {"chain": "fwdguard", "handle": 6, "comment": "o=abc forward-guard"}]

    def fake(argv: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        body = {"nftables": [{"metainfo": {}}, *({"rule": r} for r in rules)]}
        return subprocess.CompletedProcess(argv, 0, json.dumps(body), "")

    monkeypatch.setattr(nft.subprocess, "run", fake)
    monkeypatch.setattr(nft, "_nft", lambda: "nft")
    assert sorted(t.comments()) == ["forward-guard", "p=proj ctr=c1"]
    assert t.remove("p=proj ") == 1                  # the other root's rule stays
    assert scripts[-1] == "delete rule inet pt output handle 4\n"
    assert t.remove(nft.GUARD) == 1
