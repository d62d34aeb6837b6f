"""The dependency rule (config/deps.py) and the graph of `pystack graph`: edges with
conditions, implicit dependencies, cycles, DOT and Mermaid."""

from __future__ import annotations

from collections.abc import Callable

from pystack.orchestrator.config import deps, graph
from pystack.orchestrator.config.model import DependsOn, Project, Service
from tests.unit.config_model.conftest import Loader


def _project(**deps: dict[str, str]) -> Project:
    services = {name: Service(name=name, depends_on={d: DependsOn(condition=c)
                                                     for d, c in spec.items()})
                for name, spec in deps.items()}
    return Project(name="demo", working_dir="/p", services=services)


def test_edges_carry_their_condition() -> None:
    p = _project(web={"api": "service_healthy", "cache": "service_started"},
                 api={"db": "service_started"}, worker={"db": "service_completed_successfully"},
                 cache={}, db={})
    g = graph.dependency_graph(p)
    assert sorted(g.edges) == [("api", "db"), ("web", "api"), ("web", "cache"),
                               ("worker", "db")]
    assert g.edges["web", "api"]["condition"] == "service_healthy"
    assert g.edges["worker", "db"]["condition"] == "service_completed_successfully"


def test_implicit_dependencies_are_depends_on_after_loading(load: Loader) -> None:
    """The one rule (config/deps.py): normalize writes links, volumes_from and `service:`
    modes into depends_on; the model and the graph read only that."""
    p = load("services:\n"
             "  a: {image: x, links: ['b:bee'], volumes_from: ['c:ro', 'container:x']}\n"
             "  b: {image: x, network_mode: 'service:c'}\n"
             "  c: {image: x, ipc: 'service:d'}\n"
             "  d: {image: x}\n")
    assert {n: s.dependencies() for n, s in p.services.items()} == {
        "a": ("b", "c"), "b": ("c",), "c": ("d",), "d": ()}
    assert p.services["a"].depends_on["b"] == DependsOn(condition="service_started",
                                                        restart=True, required=True)
    g = graph.dependency_graph(p)
    assert sorted(g.edges) == [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")]


def test_one_cycle_finder_names_each_loop_once() -> None:
    assert deps.cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"], "e": []}) == [
        ["a", "b", "c", "a"], ["d", "d"]]
    assert deps.cycles({"a": ["b", "zz"], "b": []}) == []


def test_cycles_through_implicit_dependencies_are_config_errors(
        problems: Callable[..., list[str]]) -> None:
    got = problems("services:\n  a: {image: x, links: [b]}\n"
                   "  b: {image: x, volumes_from: [a]}\n")
    assert any("dependency cycle: a -> b -> a" in p for p in got), got


def test_dot_and_mermaid() -> None:
    p = _project(web={"db": "service_healthy"}, db={})
    assert graph.to_dot(p) == (
        'digraph "demo" {\n  rankdir=LR;\n  "db";\n  "web";\n'
        '  "web" -> "db" [label="service_healthy"];\n}\n')
    assert graph.to_mermaid(p) == (
        'graph LR\n  n0["db"]\n  n1["web"]\n  n1 -->|service_healthy| n0\n')
