"""The `develop.watch` rules as the watcher applies them, pure (no I/O but reading a build
context's .dockerignore once): which rule a changed host path concerns, where that path goes
in the container, and what one batch of changes asks of each service.

As Compose v2 (pkg/compose/watch.go): a path concerns a rule when it is the rule's `path` or
below it, is matched by `include` (when given), and is matched by no ignore: the build
context's .dockerignore (`<Dockerfile>.dockerignore` first), editors' temporary files, `.git`
and the rule's own `ignore`.  Patterns are .dockerignore patterns (runtime/build/patterns.py),
`include`/`ignore` relative to the rule's `path`, .dockerignore to the build context.
Where Compose's own matcher misses (it anchors `.git/` at the filesystem root), a `.git`
component anywhere below the rule's path is ignored, which is what its comment intends.

`container_path` never answers a path outside the rule's `target`: the relative part is
normalised first and anything that climbs out is refused (the property the fuzz test checks).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pystack.orchestrator.config.model import Project, Service, WatchRule
from pystack.runtime.build.patterns import IgnoreMatcher

# Compose's EphemeralPathMatcher: GoLand, emacs, vim, kate and Go's umask probes.
EPHEMERAL = ("**/*___jb_old___", "**/*___jb_tmp___", "**/.idea/**", "**/.#*", "**/#*#",
             "**/4913", "**/*~", "**/.*.swp", "**/.*.swx", "**/.*.swo", "**/.*.swn",
             "**/.*.kate-swp", "**/*-go-tmp-umask")
_EPHEMERAL = IgnoreMatcher(list(EPHEMERAL))


@dataclass(frozen=True)
class Rule:
    """One rule of one service, with its matchers."""

    service: str
    index: int                          # position in the service's develop.watch
    spec: WatchRule
    include: IgnoreMatcher | None = None
    ignore: IgnoreMatcher | None = None
    context: str | None = None          # the build context the .dockerignore belongs to
    dockerignore: IgnoreMatcher | None = None

    @property
    def action(self) -> str:
        return self.spec.action


def below(root: str, path: str) -> str | None:
    """`path` relative to `root` ("" for root itself), or None when it is not under it."""
    root = os.path.normpath(root)
    path = os.path.normpath(path)
    if path == root:
        return ""
    prefix = root if root.endswith("/") else root + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def _dockerignore(svc: Service) -> tuple[str | None, IgnoreMatcher | None]:
    build: Mapping[str, Any] = svc.build or {}
    context = build.get("context")
    if not isinstance(context, str) or "://" in context or not os.path.isabs(context):
        return None, None
    from pathlib import Path

    from pystack.runtime.build.context import dockerignore_for

    dockerfile = build.get("dockerfile")
    path = Path(context) / dockerfile if isinstance(dockerfile, str) else None
    return context, dockerignore_for(Path(context), path)


def compile_rules(project: Project, services: Iterable[str]) -> list[Rule]:
    """The rules of the chosen services, in file order."""
    out: list[Rule] = []
    for name in services:
        svc = project.service(name)
        if not svc.watch:
            continue
        context, dockerignore = _dockerignore(svc)
        for i, spec in enumerate(svc.watch):
            out.append(Rule(
                name, i, spec,
                include=IgnoreMatcher(list(spec.include)) if spec.include else None,
                ignore=IgnoreMatcher(list(spec.ignore)) if spec.ignore else None,
                context=context, dockerignore=dockerignore))
    return out


def ignored(rule: Rule, path: str) -> bool:
    """Is `path` (absolute, under the rule's path) left out by an ignore of the rule?"""
    rel = below(rule.spec.path, path)
    if rel is None:
        return True
    if ".git" in rel.split("/"):
        return True
    if _EPHEMERAL.excluded(os.path.normpath(path).lstrip("/")):
        return True
    if rule.ignore is not None and rel and rule.ignore.excluded(rel):
        return True
    if rule.dockerignore is not None and rule.context is not None:
        crel = below(rule.context, path)
        if crel and rule.dockerignore.excluded(crel):
            return True
    return False


def matches(rule: Rule, path: str) -> bool:
    """Does a change of `path` concern this rule (Compose's watchRule.Matches)?"""
    rel = below(rule.spec.path, path)
    if rel is None:
        return False
    if rule.include is not None and not (rel and rule.include.excluded(rel)):
        return False
    return not ignored(rule, path)


def container_path(rule: Rule, path: str) -> str | None:
    """Where the host `path` goes in the container: the rule's target joined with the path
    relative to the rule's path; None when that would not be the target or below it."""
    target = rule.spec.target
    rel = below(rule.spec.path, path)
    if not target or rel is None or not target.startswith("/"):
        return None
    root = posixpath.normpath(target)
    if root.startswith("//"):
        root = "/" + root.lstrip("/")
    out = posixpath.normpath(posixpath.join(root, rel)) if rel else root
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    if out != root and not out.startswith(root.rstrip("/") + "/"):
        return None
    return out


@dataclass
class Batch:
    """What one batch of changed paths asks for, per service (Compose's handleWatchBatch)."""

    rebuild: set[str] = field(default_factory=set)
    restart: set[str] = field(default_factory=set)
    sync: dict[str, list[tuple[Rule, str, str]]] = field(default_factory=dict)  # host, ctr
    exec: dict[str, list[Rule]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.rebuild or self.restart or self.sync or self.exec)


def plan(rules: Iterable[Rule], paths: Iterable[str]) -> Batch:
    """Match every changed path against every rule."""
    out = Batch()
    rules = list(rules)
    for path in sorted(set(paths)):
        for rule in rules:
            if not matches(rule, path):
                continue
            svc, action = rule.service, rule.action
            if action == "rebuild":
                out.rebuild.add(svc)
            elif action == "restart":
                out.restart.add(svc)
            else:
                ctr = container_path(rule, path)
                if ctr is None:
                    continue
                out.sync.setdefault(svc, []).append((rule, path, ctr))
                if action == "sync+restart":
                    out.restart.add(svc)
                elif action == "sync+exec":
                    todo = out.exec.setdefault(svc, [])
                    if rule not in todo:
                        todo.append(rule)
    return out


def bind_mounted(svc: Service, path: str) -> bool:
    """Is `path` at or below the source of one of the service's bind mounts?  (Compose does not
    watch sync rules there: the container already sees the files.)"""
    return any(v.type == "bind" and v.source and below(v.source, path) is not None
               for v in svc.volumes)
