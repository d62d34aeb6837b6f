"""The service dependency graph for `pystack graph`: a networkx DiGraph with an edge service ->
dependency per `depends_on` entry (which holds the implicit ones too: config/deps.py), each
edge carrying its condition, and its DOT / Mermaid renderings.  The engine does not use it
(it walks `depends_on` itself, engine/execute.py); dependency cycles are found once, by
config/deps.py, when the file is checked.

networkx is slow to import (~150 ms): it is imported inside the functions, never at module top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pystack.orchestrator.config.model import Project

if TYPE_CHECKING:
    import networkx as nx


def dependency_graph(project: Project) -> nx.DiGraph[str]:
    """Nodes are service names; an edge a -> b means `a` needs `b` first.  Edge attributes:
    `condition` (service_started|service_healthy|service_completed_successfully), `required`,
    `restart`."""
    import networkx as nx

    g: nx.DiGraph[str] = nx.DiGraph()
    for name in project.services:
        g.add_node(name)
    for name, svc in project.services.items():
        for dep, spec in svc.depends_on.items():
            if dep in project.services:
                g.add_edge(name, dep, condition=spec.condition, required=spec.required,
                           restart=spec.restart)
    return g


def _label(g: nx.DiGraph[str], a: str, b: str) -> str:
    return str(g.edges[a, b]["condition"])


def to_dot(project: Project) -> str:
    g = dependency_graph(project)
    lines = [f'digraph "{project.name}" {{', "  rankdir=LR;"]
    lines.extend(f'  "{n}";' for n in sorted(g.nodes))
    for a, b in sorted(g.edges):
        lines.append(f'  "{a}" -> "{b}" [label="{_label(g, a, b)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(project: Project) -> str:
    g = dependency_graph(project)
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    lines = ["graph LR"]
    lines.extend(f'  {ids[n]}["{n}"]' for n in sorted(g.nodes))
    for a, b in sorted(g.edges):
        lines.append(f"  {ids[a]} -->|{_label(g, a, b)}| {ids[b]}")
    return "\n".join(lines) + "\n"
