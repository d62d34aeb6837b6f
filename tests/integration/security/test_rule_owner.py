"""Two state roots sharing the nftables table, one project name (issue 9 item 10): a `down`
(teardown) in the second must not delete the first one's rules.  On the old code every rule
of project `p` went, whichever PYSTACK_ROOT had made it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec, PortSpec
from pystack.net.manager import NetworkManager

pytestmark = pytest.mark.root


def test_teardown_removes_only_its_own_state_roots_rules(tmp_path: Path) -> None:
    project = "ro" + secrets.token_hex(3)
    first = NetworkManager(project)
    second = NetworkManager(project, root=tmp_path / "root", run=tmp_path / "run")
    try:
        first.ensure_network(NetworkSpec(f"{project}_a", project))
        first.create_sandbox(f"{project}-1", DnsConfig(servers=("127.0.0.1",)))
        first.attach(f"{project}-1", AttachSpec(f"{project}_a"))
        first.publish(f"{project}-1", [PortSpec(target=80)])
        mine = sorted(first.table.comments())
        assert len(mine) > 4
        second.ensure_network(NetworkSpec(f"{project}_b", project))
        assert sorted(first.table.comments()) == mine      # each sees only its own
        second.teardown()
        assert sorted(first.table.comments()) == mine
        assert second.table.comments() == []
    finally:
        second.teardown()
        second.close()
        first.teardown()
        first.close()
