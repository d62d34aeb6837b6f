"""The dependency graph: edges with conditions, generations, stop order, DOT and Mermaid."""

from __future__ import annotations

import pytest

from pystack.orchestrator.config import graph
from pystack.orchestrator.config.model import DependsOn, Project, Service
from pystack.orchestrator.errors import ConfigError


def _project(**deps: dict[str, str]) -> Project:
    services = {name: Service(name=name, depends_on={d: DependsOn(condition=c)
                                                     for d, c in spec.items()})
                for name, spec in deps.items()}
    return Project(name="demo", working_dir="/p", services=services)


def test_generations_and_stop_order() -> None:
    p = _project(web={"api": "service_healthy", "cache": "service_started"},
                 api={"db": "service_started"}, worker={"db": "service_completed_successfully"},
                 cache={}, db={})
    assert graph.start_generations(p) == [["cache", "db"], ["api", "worker"], ["web"]]
    assert graph.stop_order(p) == [["web"], ["api", "worker"], ["cache", "db"]]
    g = graph.dependency_graph(p)
    assert g.edges["web", "api"]["condition"] == "service_healthy"
    assert g.edges["worker", "db"]["condition"] == "service_completed_successfully"


def test_implicit_edges() -> None:
    services = {
        "a": Service(name="a", links=("b:bee",), volumes_from=("c:ro", "container:x")),
        "b": Service(name="b", network_mode="service:c"),
        "c": Service(name="c"),
    }
    g = graph.dependency_graph(Project(name="d", working_dir="/", services=services))
    assert sorted(g.edges) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert g.edges["a", "b"]["kind"] == "links"
    assert g.edges["b", "c"]["kind"] == "network_mode"


def test_cycle_is_named() -> None:
    p = _project(a={"b": "service_started"}, b={"c": "service_started"},
                 c={"a": "service_started"})
    assert graph.find_cycle(graph.dependency_graph(p)) == ["a", "b", "c", "a"]
    with pytest.raises(ConfigError, match=r"dependency cycle: a -> b -> c -> a"):
        graph.start_generations(p)


def test_dot_and_mermaid() -> None:
    p = _project(web={"db": "service_healthy"}, db={})
    assert graph.to_dot(p) == (
        'digraph "demo" {\n  rankdir=LR;\n  "db";\n  "web";\n'
        '  "web" -> "db" [label="service_healthy"];\n}\n')
    assert graph.to_mermaid(p) == (
        'graph LR\n  n0["db"]\n  n1["web"]\n  n1 -->|service_healthy| n0\n')
