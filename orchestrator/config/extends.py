"""`extends`: a service built on another one, from the same file or another file, chained;
loops are errors that name the loop (`a -> b -> a`).

Owns: finding the base service, resolving chains depth-first, rebasing the relative paths of a
base that comes from another directory, and merging base + service with the merge rules of
merge.py (the service wins; `command`, `entrypoint` replace; sequences append; ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pystack.orchestrator.config.marks import Mark, TreePath, problem
from pystack.orchestrator.config.merge import merge_values
from pystack.orchestrator.config.paths import rebase_service
from pystack.orchestrator.config.unicity import enforce_unicity
from pystack.orchestrator.config.yamlread import MDict

if TYPE_CHECKING:
    from pystack.orchestrator.config.context import Context

_Key = tuple[str, str]  # (file, service)


class _Resolver:
    def __init__(self, ctx: Context, env: Mapping[str, str], root: str, root_dir: Path) -> None:
        self.ctx = ctx
        self.env = env
        # `extends.file` is relative to the project's working directory in a project file,
        # and to the extended file's own directory in files reached through `extends`.
        self.root = root
        self.root_dir = root_dir
        self.done: dict[_Key, MDict | None] = {}
        self.files: dict[str, MDict | None] = {}

    def services_of(self, path: str, tree: MDict | None = None, mark: Mark | None = None,
                    where: TreePath = ()) -> MDict | None:
        if path not in self.files:
            if tree is None:
                tree = self.ctx.parse_file(path, self.env, mark, where, cache=True)
            self.files[path] = tree
        t = self.files[path]
        if t is None:
            return None
        s = t.get("services")
        return s if isinstance(s, MDict) else MDict()

    def resolve(self, path: str, name: str, stack: list[_Key]) -> MDict | None:
        key = (path, name)
        if key in self.done:
            return self.done[key]
        services = self.services_of(path)
        if services is None:
            return None
        svc = services.get(name)
        if not isinstance(svc, MDict) or "extends" not in svc:
            self.done[key] = svc if isinstance(svc, MDict) else None
            return self.done[key]
        if key in stack:
            loop = [n for _, n in stack[stack.index(key):]] + [name]
            for member in stack[stack.index(key):]:
                self.done[member] = None  # report the loop once, not once per member
            self.ctx.problems.append(problem(
                svc.vmarks.get("extends"), ("services", name, "extends"),
                "extends loop: " + " -> ".join(loop)))
            return None
        ext = svc["extends"]
        emark = svc.vmarks.get("extends")
        where = ("services", name, "extends")
        if isinstance(ext, str):
            base_name, base_file = ext, None
        elif isinstance(ext, MDict) and isinstance(ext.get("service"), str):
            base_name = ext["service"]
            base_file = ext.get("file")
            if base_file is not None and not isinstance(base_file, str):
                self.ctx.problems.append(problem(emark, (*where, "file"), "must be a string"))
                return None
        else:
            self.ctx.problems.append(problem(
                emark, where, "must be a service name or a mapping with `service`"))
            return None
        base_path = path
        if base_file:
            here = self.root_dir if path == self.root else Path(path).parent
            base_path = os.path.normpath(os.path.join(here, os.path.expanduser(base_file)))
        base_services = self.services_of(base_path, None, emark, where)
        if base_services is None:
            return None
        if base_name not in base_services:
            in_file = f" in {self.ctx.display(base_path)}" if base_file else ""
            self.ctx.problems.append(problem(
                emark, where, f"cannot extend service {name!r}: service {base_name!r} "
                f"not found{in_file}"))
            return None
        base = self.resolve(base_path, base_name, [*stack, key])
        if base is None:
            return None
        from pystack.orchestrator.config.context import clone

        base = clone(base)
        base.pop("extends", None)
        if base_path != path:
            rebase_service(base, os.path.dirname(base_path))
        own = MDict()
        for k, v in svc.items():
            if k != "extends":
                own[k] = v
                own.kmarks[k] = svc.kmarks.get(k)  # type: ignore[assignment]
                own.vmarks[k] = svc.vmarks.get(k)  # type: ignore[assignment]

        own.tags.update(svc.tags)
        merged = merge_values(base, own, ("services", name))
        merged = enforce_unicity(merged, ("services", name))
        assert isinstance(merged, MDict)
        services[name] = merged
        self.done[key] = merged
        return merged


def apply(ctx: Context, tree: MDict, path: str, base_dir: Path,
          env: Mapping[str, str]) -> None:
    """Resolve every `extends` of the services of `tree` (read from `path`, a file of the
    project whose working directory is `base_dir`) in place."""
    services = tree.get("services")
    if not isinstance(services, MDict):
        return
    if not any(isinstance(s, MDict) and "extends" in s for s in services.values()):
        return
    r = _Resolver(ctx, env, path, base_dir)
    r.services_of(path, tree)
    for name in list(services):
        if isinstance(services[name], MDict) and "extends" in services[name]:
            r.resolve(path, name, [])
