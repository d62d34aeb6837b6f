"""`build.ssh` / `--ssh` values -> the agents a build is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystack.orchestrator.engine.build import ssh_sources
from pystack.orchestrator.errors import OrchestratorError


def test_forms() -> None:
    env = {"SSH_AUTH_SOCK": "/run/agent.sock"}
    base = Path("/proj")
    assert ssh_sources(["default"], env, base, "x") == {"default": ("/run/agent.sock",)}
    assert ssh_sources(["gh=keys/a,/abs/b"], env, base, "x") == {
        "gh": ("/proj/keys/a", "/abs/b")}
    assert ssh_sources({"default": None, "s": "/s.sock"}, env, base, "x") == {
        "default": ("/run/agent.sock",), "s": ("/s.sock",)}


def test_errors() -> None:
    with pytest.raises(OrchestratorError) as e:
        ssh_sources(["default"], {}, Path("/p"), "services.app.build.ssh")
    assert "services.app.build.ssh: default: SSH_AUTH_SOCK is not set" in e.value.message
    with pytest.raises(OrchestratorError):
        ssh_sources(["=/x"], {}, Path("/p"), "--ssh")
