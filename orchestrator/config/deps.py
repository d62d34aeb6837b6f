"""THE dependency rule: which services a service refers to and needs started first.

`depends_on`, plus the implicit dependencies compose-go adds (`inferImplicitDependencies`):
`links`, `volumes_from` (but `container:NAME`) and `network_mode|ipc|pid: service:NAME`.  Every
stage that needs them reads them here, on the loaded tree: semantic.py (unknown services),
crosschecks.py (cycles), profiles.py (a service's dependencies are enabled with it) and
normalize.py, which writes the implicit ones into `depends_on` (condition service_started,
restart: true, as compose-go).  After the model, `Service.depends_on` holds them all: the
engine and `pystack graph` read only that.  `cycles` is the one loop finder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from pystack.orchestrator.config.marks import TreePath

MODES = ("network_mode", "ipc", "pid")


class Ref(NamedTuple):
    path: TreePath              # where in the service the reference is written
    service: str
    required: bool = True


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def implicit(svc: Mapping[str, Any]) -> list[Ref]:
    """The implicit dependencies of a loaded service mapping, in file order."""
    out = [Ref(("links", i), str(link).split(":", 1)[0])
           for i, link in enumerate(_list(svc.get("links")))]
    for key in MODES:
        mode = svc.get(key)
        if isinstance(mode, str) and mode.startswith("service:"):
            out.append(Ref((key,), mode[len("service:"):]))
    for i, src in enumerate(_list(svc.get("volumes_from"))):
        first = str(src).split(":", 1)[0]
        if first != "container":
            out.append(Ref(("volumes_from", i), first))
    return out


def references(svc: Mapping[str, Any]) -> list[Ref]:
    """Every service a loaded service mapping refers to: depends_on (with `required`), then
    the implicit ones."""
    out: list[Ref] = []
    deps = svc.get("depends_on")
    if isinstance(deps, Mapping):
        for name, spec in deps.items():
            required = not (isinstance(spec, Mapping) and spec.get("required") is False)
            out.append(Ref(("depends_on", name), str(name), required))
    else:
        out.extend(Ref(("depends_on", i), str(d)) for i, d in enumerate(_list(deps)))
    return out + implicit(svc)


def cycles(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every dependency loop (once each, whichever node it is found from) as [a, b, ..., a];
    nodes are visited in sorted order, so the result is stable."""
    edges = {n: list(dict.fromkeys(d for d in ds if d in deps)) for n, ds in deps.items()}
    state: dict[str, int] = {}
    seen: set[frozenset[str]] = set()
    loops: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt):], nxt]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    loops.append(loop)
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [])
    return loops
