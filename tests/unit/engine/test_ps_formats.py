"""ps's formats next to Compose's documented ones: "N units ago", the Publishers list, Go
templates (fields, table headers, unknown fields refused)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pystack.orchestrator.errors import OrchestratorError
from pystack.orchestrator.ui.formats import ago, publishers, template


def test_ago_as_docker() -> None:
    t0 = 1_700_000_000.0
    stamp = "2023-11-14T22:13:20.000000000Z"          # == t0
    assert ago(stamp, t0) == "Less than a second ago"
    assert ago(stamp, t0 + 1) == "1 second ago"
    assert ago(stamp, t0 + 59) == "59 seconds ago"
    assert ago(stamp, t0 + 60) == "1 minute ago"
    assert ago(stamp, t0 + 3600) == "About an hour ago"
    assert ago(stamp, t0 + 2 * 86400) == "2 days ago"
    assert ago("", t0) == ""


@dataclass
class P:
    host_ip: str | None
    published: str
    target: int
    protocol: str


def test_publishers_list() -> None:
    assert publishers([P(None, "8080", 80, "tcp"), P("127.0.0.1", "53", 53, "udp")]) == [
        {"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"},
        {"URL": "127.0.0.1", "TargetPort": 53, "PublishedPort": 53, "Protocol": "udp"}]


def test_templates() -> None:
    rows = [{"Name": "p-web-1", "Service": "web", "RunningFor": "1 minute ago"},
            {"Name": "p-db-1", "Service": "db", "RunningFor": "2 minutes ago"}]
    assert template("{{.Name}}", rows) == ["p-web-1", "p-db-1"]
    assert template("table {{.Service}}\\t{{ .RunningFor }}", rows, {"RunningFor": "CREATED"}) == [
        "SERVICE   CREATED", "web       1 minute ago", "db        2 minutes ago"]
    with pytest.raises(OrchestratorError, match="not a field"):
        template("{{.Nope}}", rows)
