"""Rebasing relative paths of a tree that comes from another directory (a service extended
from another file, an included project), so every relative path left in the final tree is
relative to the main project's working directory.  Paths are made absolute, as compose-go
does for included projects and extended files.

Owns the list of path-valued fields: build (context, additional_contexts), env_file,
label_file, bind-mount volume sources, extends.file, and top-level secrets/configs `file`.
"""

from __future__ import annotations

import os
from typing import Any

from pystack.orchestrator.config.yamlread import MDict, MList


def _abs(base: str, p: str) -> str:
    if not p or os.path.isabs(p) or p.startswith("~") or "://" in p:
        return p
    return os.path.normpath(os.path.join(base, p))


def _is_git_or_url(p: str) -> bool:
    return "://" in p or p.startswith("git@") or p.startswith("github.com/")


def _short_volume(v: str, base: str) -> str:
    src, sep, rest = v.partition(":")
    if sep and (src.startswith(".") or src in (".", "..")):
        return _abs(base, src) + sep + rest
    return v


def _context_path(value: str, base: str) -> str:
    if "://" in value or value.startswith("service:"):
        return value
    return _abs(base, value)


def _rebase_contexts(build: MDict, base: str) -> None:
    extra = build.get("additional_contexts")
    if isinstance(extra, MDict):
        for name, value in extra.items():
            if isinstance(value, str):
                extra[name] = _context_path(value, base)
    elif isinstance(extra, MList):
        for i, item in enumerate(extra):
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                extra[i] = f"{name}={_context_path(value, base)}"


def rebase_service(svc: Any, base: str, default_context: bool = False) -> None:
    """Make the relative paths of one service absolute against `base` (in place).
    `default_context`: a build without context builds `base` (an included project is a
    project of its own; an extended service keeps the extending project's default)."""
    if not isinstance(svc, MDict):
        return
    build = svc.get("build")
    if isinstance(build, str) and not _is_git_or_url(build):
        svc["build"] = _abs(base, build)
    elif isinstance(build, MDict):
        ctx = build.get("context")
        if isinstance(ctx, str) and not _is_git_or_url(ctx):
            build["context"] = _abs(base, ctx)
        elif ctx is None and default_context:
            build["context"] = base
        _rebase_contexts(build, base)
    for key in ("env_file", "label_file"):
        val = svc.get(key)
        if isinstance(val, str):
            svc[key] = _abs(base, val)
        elif isinstance(val, MList):
            for i, item in enumerate(val):
                if isinstance(item, str):
                    val[i] = _abs(base, item)
                elif isinstance(item, MDict) and isinstance(item.get("path"), str):
                    item["path"] = _abs(base, item["path"])
    vols = svc.get("volumes")
    if isinstance(vols, MList):
        for i, v in enumerate(vols):
            if isinstance(v, str):
                vols[i] = _short_volume(v, base)
            elif isinstance(v, MDict) and v.get("type", "volume") == "bind":
                src = v.get("source")
                if isinstance(src, str):
                    v["source"] = _abs(base, src)
    ext = svc.get("extends")
    if isinstance(ext, MDict) and isinstance(ext.get("file"), str):
        ext["file"] = _abs(base, ext["file"])


def rebase_project(tree: MDict, base: str) -> None:
    """Rebase every service and top-level secrets/configs `file` of a tree."""
    services = tree.get("services")
    if isinstance(services, MDict):
        for svc in services.values():
            rebase_service(svc, base, default_context=True)
    for top in ("secrets", "configs"):
        section = tree.get(top)
        if isinstance(section, MDict):
            for item in section.values():
                if isinstance(item, MDict) and isinstance(item.get("file"), str):
                    item["file"] = _abs(base, item["file"])
