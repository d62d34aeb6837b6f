"""The service dependency graph: a networkx DiGraph with an edge service -> dependency for
depends_on, links, `network_mode|ipc|pid: service:X` and volumes_from, each edge carrying its
condition; start generations (parallel waves), stop order, and DOT / Mermaid renderings.

networkx is slow to import (~150 ms): it is imported inside the functions, never at module top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pystack.orchestrator.config.model import Project
from pystack.orchestrator.errors import ConfigError

if TYPE_CHECKING:
    import networkx as nx


def dependency_graph(project: Project) -> nx.DiGraph[str]:
    """Nodes are service names; an edge a -> b means `a` needs `b` first.  Edge attributes:
    `condition` (service_started|service_healthy|service_completed_successfully), `kind`
    (depends_on|links|network_mode|ipc|pid|volumes_from), `required`, `restart`."""
    import networkx as nx

    g: nx.DiGraph[str] = nx.DiGraph()
    for name in project.services:
        g.add_node(name)
    for name, svc in project.services.items():
        for dep, spec in svc.depends_on.items():
            if dep in project.services:
                g.add_edge(name, dep, condition=spec.condition, kind="depends_on",
                           required=spec.required, restart=spec.restart)
        implicit: list[tuple[str, str]] = [("links", link.split(":", 1)[0])
                                           for link in svc.links]
        for key, mode in (("network_mode", svc.network_mode), ("ipc", svc.ipc),
                          ("pid", svc.pid)):
            if mode and mode.startswith("service:"):
                implicit.append((key, mode[len("service:"):]))
        for src in svc.volumes_from:
            first = src.split(":", 1)[0]
            if first != "container":
                implicit.append(("volumes_from", first))
        for kind, dep in implicit:
            if dep in project.services and not g.has_edge(name, dep):
                g.add_edge(name, dep, condition="service_started", kind=kind,
                           required=True, restart=True)
    return g


def find_cycle(g: nx.DiGraph[str]) -> list[str] | None:
    """A dependency loop as [a, b, c, a], or None."""
    import networkx as nx

    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return None
    loop = [str(e[0]) for e in edges]
    return [*loop, loop[0]]


def start_generations(project: Project) -> list[list[str]]:
    """Waves of services that can start in parallel, dependencies first (sorted in a wave)."""
    import networkx as nx

    g = dependency_graph(project)
    loop = find_cycle(g)
    if loop:
        raise ConfigError([f"dependency cycle: {' -> '.join(loop)}"])
    return [sorted(gen) for gen in nx.topological_generations(g.reverse(copy=False))]


def stop_order(project: Project) -> list[list[str]]:
    """Waves for stopping: dependents first (the reverse of start_generations)."""
    return list(reversed(start_generations(project)))


def _label(g: nx.DiGraph[str], a: str, b: str) -> str:
    data = g.edges[a, b]
    kind = str(data.get("kind"))
    return str(data.get("condition")) if kind == "depends_on" else kind


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
