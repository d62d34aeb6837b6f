"""The benchmark stacks (bench/stacks a, b, c, the peers' stacks) run unchanged under pystack
(stack a with its published port moved to a free one, so parallel sessions never collide)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project, free_port

pytestmark = pytest.mark.root

STACKS = Path(__file__).resolve().parents[3] / "bench" / "stacks"


@pytest.mark.parametrize("key", ["a", "b", "c"])
def test_peer_stack_up_down(key: str, make_project: Callable[[str], Project]) -> None:
    text = (STACKS / f"stack-{key}.yml").read_text()
    port = free_port()
    p = make_project(text.replace("18080", str(port)))
    p.run("up", "-d", "--wait", "--wait-timeout", "30", timeout=120)
    rows = p.ps()
    assert rows and all(r["State"] == "running" for r in rows)
    expected = {"a": 3, "b": 20, "c": 3}[key]
    assert len(rows) == expected
    if key == "a":
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.read() == b"hello from pystack\n"
    if key == "c":
        health = {str(r["Service"]): str(r["Health"]) for r in rows}
        assert health["c1"] == health["c2"] == "healthy"
    p.run("down")
    assert p.ps() == []
