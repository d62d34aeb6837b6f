"""What the canonical model drops and the converter needs: the FILE:LINE:COL of each key (for
warnings) and the `x-k8s` extensions of top-level volumes.  The loader is run once more (it
is fast and side-effect free) to get them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pystack.orchestrator.config.project import ProjectOptions
from pystack.orchestrator.convert.context import TreePath


@dataclass(frozen=True)
class Source:
    position: Callable[[TreePath], str | None] = lambda _p: None
    raw: Mapping[str, Any] = field(default_factory=dict)


def source(opts: ProjectOptions) -> Source:
    from pystack.orchestrator.config.loader import LoadOptions, load

    try:
        raw = load(LoadOptions(
            files=tuple(opts.files), project_name=opts.project_name,
            project_directory=opts.project_directory, env_files=tuple(opts.env_files),
            profiles=tuple(opts.profiles), environ=dict(opts.environ)))
    except Exception:               # positions are a courtesy: the model itself loaded
        return Source()
    marks = raw.marks

    def at(path: TreePath) -> str | None:
        mark = marks.nearest(path)
        return str(mark) if mark is not None else None

    return Source(at, raw.data if isinstance(raw.data, Mapping) else {})
