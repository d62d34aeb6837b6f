"""Selecting services (`up app`) keeps the services app's build needs as `service:` additional
contexts (to build them first, as Compose's addBuildDependencies), without making them
dependencies."""

from __future__ import annotations

from pystack.orchestrator.config import profiles
from pystack.orchestrator.config.marks import Marks


def test_service_context_is_kept_not_a_dependency() -> None:
    data = {"services": {
        "app": {"build": {"context": ".", "additional_contexts": {"base": "service:base"}}},
        "lib": {"build": {"context": ".", "additional_contexts": ["b=service:base"]}},
        "base": {"build": "."}, "other": {"image": "x"}}}
    sel = profiles.select(data, Marks(), (), ("app",))
    assert sorted(sel.data["services"]) == ["app", "base"]
    assert "depends_on" not in sel.data["services"]["app"]
    assert sorted(profiles.select(data, Marks(), (), ("lib",)).data["services"]) == [
        "base", "lib"]
