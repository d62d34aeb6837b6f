"""Profiles: which services are enabled (no profiles, an active profile, `*`, or named on the
command line, which also enables that service's profiles), and the selection of named services
plus everything they depend on.  A dependency on a disabled service is a problem that says so,
unless it is `required: false`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pystack.orchestrator.config import deps
from pystack.orchestrator.config.marks import Marks, TreePath, problem


@dataclass(frozen=True)
class Selection:
    data: dict[str, Any]                  # the mapping with only the enabled services
    active: tuple[str, ...]               # active profiles (sorted)
    disabled: tuple[str, ...]             # services left out
    defined: tuple[str, ...]              # every profile any service names (sorted)
    problems: list[str] = field(default_factory=list)


def _profiles_of(svc: Any) -> list[str]:
    if isinstance(svc, Mapping) and isinstance(svc.get("profiles"), list):
        return [str(p) for p in svc["profiles"]]
    return []


def select(data: Mapping[str, Any], marks: Marks, active: tuple[str, ...],
           requested: tuple[str, ...] = ()) -> Selection:
    """Filter `data` to the enabled services (and, when `requested`, to those services and
    their dependencies)."""
    services = data.get("services")
    if not isinstance(services, Mapping):
        return Selection(dict(data), tuple(sorted(set(active))), (), ())
    defined = sorted({p for svc in services.values() for p in _profiles_of(svc)})
    profiles = set(active)
    problems: list[str] = []
    for name in requested:
        if name in services:
            profiles.update(_profiles_of(services[name]))
        else:
            problems.append(problem(None, (), f"no such service: {name}"))

    def enabled(name: str) -> bool:
        wanted = _profiles_of(services[name])
        return not wanted or "*" in profiles or bool(profiles.intersection(wanted)) \
            or name in requested

    on = {name for name in services if enabled(name)}
    if requested:
        keep = _closure([n for n in requested if n in services], services)
        on &= keep | set(requested)
        wanted = keep
    else:
        wanted = on
    for name in sorted(wanted & on):
        for path, dep, required in _edges(services[name]):
            if dep in services and dep not in on and required:
                need = ", ".join(_profiles_of(services[dep])) or "?"
                problems.append(problem(
                    marks.key(("services", name, *path)) or marks.nearest(
                        ("services", name, *path)),
                    ("services", name, *path),
                    f"service '{name}' depends on service '{dep}', which is disabled by "
                    f"its profiles ({need})",
                    f"enable it with --profile {need.split(', ')[0]}, or mark the dependency "
                    "required: false"))
    out = dict(data)
    out["services"] = {n: s for n, s in services.items() if n in on}
    if requested:
        # Like compose-go's service selection: optional dependencies on services left out
        # are dropped.
        out["services"] = {n: _without_deps(s, on) for n, s in out["services"].items()}
    disabled = tuple(sorted(set(services) - on))
    return Selection(out, tuple(sorted(profiles)), disabled, tuple(defined), problems)


def _edges(svc: Any) -> list[tuple[TreePath, str, bool]]:
    """The service's references (config/deps.py, the one rule)."""
    if not isinstance(svc, Mapping):
        return []
    return [(r.path, r.service, r.required) for r in deps.references(svc)]


def _without_deps(svc: Any, on: set[str]) -> Any:
    if not isinstance(svc, Mapping) or not isinstance(svc.get("depends_on"), Mapping):
        return svc
    kept = {k: v for k, v in svc["depends_on"].items() if k in on}
    return {**svc, "depends_on": kept} if kept else {
        k: v for k, v in svc.items() if k != "depends_on"}


def _build_contexts(svc: Any) -> list[str]:
    """The services whose images `build.additional_contexts` names (`service:NAME`): kept in
    a selection so they can be built first, as Compose's addBuildDependencies (never started:
    they are not dependencies)."""
    build = svc.get("build") if isinstance(svc, Mapping) else None
    ctxs = build.get("additional_contexts") if isinstance(build, Mapping) else None
    values = ctxs.values() if isinstance(ctxs, Mapping) else [
        str(v).partition("=")[2] for v in ctxs] if isinstance(ctxs, list) else []
    return [str(v)[len("service:"):] for v in values if str(v).startswith("service:")]


def _closure(names: list[str], services: Mapping[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in services:
            continue
        seen.add(name)
        todo.extend(dep for _, dep, _ in _edges(services[name]))
        todo.extend(_build_contexts(services[name]))
    return seen
