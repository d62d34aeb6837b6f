"""The documented normalisations applied to both outputs before comparing (as
the reference's README describes them): drop nulls and empty maps the JSON output adds (except the
`null` of a service's network attachment, which means "attached with defaults"), and replace
the project directory by a placeholder."""

from __future__ import annotations

from typing import Any

PLACEHOLDER = "<PROJECT_DIR>"


def normalise(doc: Any, project_dir: str) -> Any:
    return _walk(doc, project_dir, ())


def _walk(node: Any, project_dir: str, path: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        keep_nulls = len(path) == 3 and path[0] == "services" and path[2] == "networks"
        out = {}
        for k, v in node.items():
            v = _walk(v, project_dir, (*path, str(k)))
            if v is None and not keep_nulls:
                continue
            if v == {} and not keep_nulls:
                continue
            out[k] = v
        return out
    if isinstance(node, list):
        return [_walk(v, project_dir, path) for v in node]
    if isinstance(node, str) and project_dir and project_dir in node:
        return node.replace(project_dir, PLACEHOLDER)
    return node
