"""`include`: other compose files loaded as projects of their own and added to this one
(Compose v2.40 / compose-go v2.9.1 semantics).

Owns: the short (`- path`) and long (`path` string or list, `project_directory`, `env_file`)
forms; each included project is loaded with its own working directory (default: the directory
of its first file) and its own environment (the parent's, plus what its env files add; default
`<project_directory>/.env`); its relative paths are made absolute; a name that is already
defined differently is an error (`services.a conflicts with imported resource`); include loops
are errors that name the loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pystack.orchestrator.config.envfile import EnvFileError, read_env_files
from pystack.orchestrator.config.marks import Mark, TreePath, problem
from pystack.orchestrator.config.merge import merge_mappings, strip_resets
from pystack.orchestrator.config.paths import rebase_project
from pystack.orchestrator.config.unicity import enforce_unicity
from pystack.orchestrator.config.yamlread import MDict, MList

if TYPE_CHECKING:
    from pystack.orchestrator.config.context import Context

SECTIONS = ("services", "networks", "volumes", "secrets", "configs", "models")


def _strings(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _entry(ctx: Context, item: object, mark: Mark | None, where: TreePath,
           base_dir: Path) -> tuple[list[str], Path, list[str]] | None:
    """(files, project_directory, env_files) of one include entry, all absolute."""
    env_files: list[str] = []
    proj: str | None = None
    if isinstance(item, str):
        files = [item]
    elif isinstance(item, MDict):
        got = _strings(item.get("path"))
        if not got:
            ctx.problems.append(problem(mark, (*where, "path"),
                                        "must be a file path or a list of file paths"))
            return None
        files = got
        if item.get("project_directory") is not None:
            if not isinstance(item["project_directory"], str):
                ctx.problems.append(problem(mark, (*where, "project_directory"),
                                            "must be a string"))
                return None
            proj = item["project_directory"]
        if item.get("env_file") is not None:
            envs = _strings(item["env_file"])
            if envs is None:
                ctx.problems.append(problem(mark, (*where, "env_file"),
                                            "must be a file path or a list of file paths"))
                return None
            env_files = envs
    else:
        ctx.problems.append(problem(mark, where, "must be a file path or a mapping with `path`"))
        return None
    for f in files:
        if "://" in f or f.startswith("git@") or f.startswith("oci:"):
            ctx.problems.append(problem(mark, where, f"remote include {f!r} is not supported "
                                        "(use a local file)"))
            return None
    abs_files = [os.path.normpath(os.path.join(base_dir, os.path.expanduser(f)))
                 for f in files]
    project_dir = (Path(os.path.normpath(os.path.join(base_dir, proj))) if proj
                   else Path(abs_files[0]).parent)
    abs_env = [os.path.normpath(os.path.join(base_dir, e)) for e in env_files]
    return abs_files, project_dir, abs_env


def apply(ctx: Context, tree: MDict, path: str, base_dir: Path, working_dir: Path,
          env: Mapping[str, str]) -> None:
    """Load every `include` of `tree` (read from `path`) and add its resources to `tree`."""
    includes = tree.pop("include", None)
    tree.kmarks.pop("include", None)
    if includes is None:
        return
    if not isinstance(includes, MList):
        ctx.problems.append(problem(tree.vmarks.get("include"), ("include",),
                                    "must be a list of files or include mappings"))
        return
    ctx.include_stack.append(path)
    try:
        for i, item in enumerate(includes):
            mark = includes.vmarks[i] if i < len(includes.vmarks) else None
            _one(ctx, tree, item, mark, ("include", i), base_dir, env)
    finally:
        ctx.include_stack.pop()


def _one(ctx: Context, tree: MDict, item: object, mark: Mark | None, where: TreePath,
         base_dir: Path, env: Mapping[str, str]) -> None:
    entry = _entry(ctx, item, mark, where, base_dir)
    if entry is None:
        return
    files, project_dir, env_files = entry
    for f in files:
        if f in ctx.include_stack:
            loop = [ctx.display(p) for p in ctx.include_stack[ctx.include_stack.index(f):]]
            ctx.problems.append(problem(mark, where, "include cycle: "
                                        + " -> ".join([*loop, ctx.display(f)])))
            return
    if not env_files:
        dot = project_dir / ".env"
        if dot.is_file():
            env_files = [str(dot)]
    child_env: Mapping[str, str] = env
    if env_files:
        try:
            from_files = read_env_files([Path(e) for e in env_files], env,
                                        [ctx.display(e) for e in env_files])
        except EnvFileError as e:
            ctx.problems.extend(problem(mark, where, p) for p in e.problems)
            return
        child_env = {**from_files, **env}  # compose-go Mapping.Merge: the parent's env wins
    before = len(ctx.problems)
    included = MDict()
    for f in files:
        if not os.path.exists(f):
            ctx.problems.append(problem(mark, where, f"{ctx.display(f)}: no such file "
                                        "(included file not found)"))
            continue
        part = ctx.load_project_file(f, project_dir, child_env)
        if part is not None:
            included = enforce_unicity(merge_mappings(included, part, ()))
    if len(ctx.problems) > before:
        return
    strip_resets(included)
    rebase_project(included, str(project_dir))
    for section in SECTIONS:
        src = included.get(section)
        if not isinstance(src, MDict):
            continue
        dst = tree.get(section)
        if not isinstance(dst, MDict):
            dst = MDict()
            tree[section] = dst
            tree.kmarks[section] = included.kmarks.get(section, mark)  # type: ignore[assignment]
            tree.vmarks[section] = included.vmarks.get(section, mark)  # type: ignore[assignment]
        for name, value in src.items():
            if name in dst:
                if dst[name] != value:
                    ctx.problems.append(problem(
                        dst.kmarks.get(name), (section, name),
                        "conflicts with imported resource",
                        f"an included file defines {section}.{name} differently; "
                        "rename one of them"))
                continue
            dst[name] = value
            if name in src.kmarks:
                dst.kmarks[name] = src.kmarks[name]
            if name in src.vmarks:
                dst.vmarks[name] = src.vmarks[name]
