"""Rendering the canonical project for `pystack config`: JSON or YAML in Compose v2's shape,
and the one-per-line listings (--services, --volumes, --networks, --profiles, --images,
--hash).  Returns text; only the CLI prints it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pystack.orchestrator.config.model import Project
from pystack.orchestrator.config.scalars import resolve_plain

_NOT_PRINTED_TOP = frozenset({"models"})
_NOT_PRINTED_SERVICE = frozenset({"pull_refresh_after"})
_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs")


def escape_dollars(value: Any) -> Any:
    """`$` -> `$$` in every string value, as Compose v2's `config` prints interpolated values
    (so the output can be loaded again without being re-interpolated).  Mapping keys are
    never interpolated, so they are printed as they are (Compose v2 escapes them too, and
    then reads back a different key: `pystack config` output loads back to the same
    project)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


def document(project: Project, *, interpolated: bool = True) -> dict[str, Any]:
    """The mapping `pystack config` prints (keys in Compose's top-level order)."""
    data = {k: v for k, v in project.data.items() if k not in _NOT_PRINTED_TOP}
    # Compose v2 does not print a service's x-* keys and a few others (the model keeps them).
    data["services"] = {name: {k: v for k, v in svc.items()
                               if not k.startswith("x-") and k not in _NOT_PRINTED_SERVICE}
                        for name, svc in (data.get("services") or {}).items()}
    out = {k: data[k] for k in _ORDER if k in data}
    out.update({k: v for k, v in sorted(data.items()) if k not in out})
    return escape_dollars(out) if interpolated else out


def render(project: Project, fmt: str = "yaml", *, interpolated: bool = True) -> str:
    doc = document(project, interpolated=interpolated)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.dump(doc, Dumper=_dumper(), sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=10_000)


_STR_TAG = "tag:yaml.org,2002:str"
_RETYPED_TAG = "tag:yaml.org,2002:float"     # any tag but str: the emitter then quotes


def _reads_back(text: str) -> bool:
    """True when the loader reads the plain scalar `text` back as that same string."""
    value = resolve_plain(text)
    return type(value) is str and value == text


_LONG = 256     # scalars at least this long are analysed and rendered once per distinct text


def _dumper() -> type[Any]:
    """PyYAML's SafeDumper with list items indented under their key (Compose v2's style),
    and long scalars analysed and written once per distinct text and position: an aliased
    20 KB string printed 5,000 times costs one rendering, not 100 MB of per-character work."""
    import io

    import yaml

    class Dumper(yaml.SafeDumper):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self._analysed: dict[str, Any] = {}
            self._rendered: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = {}

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            # PyYAML's resolver is YAML 1.1's; the loader reads plain scalars as go-yaml v3
            # (scalars.py), which also types `0E0`, `1e3`, `0o7`, `+.5`...  A string the
            # loader would read as something else is not plain: it gets quoted.
            tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            if (kind is yaml.ScalarNode and implicit[0] and tag == _STR_TAG
                    and not _reads_back(value)):
                return _RETYPED_TAG
            return tag

        def choose_scalar_style(self) -> str:
            # PyYAML writes NEL and the Unicode line separators raw in single quotes, where
            # a reader folds them into spaces: double quotes escape them (\N, \L, \P).
            value = getattr(self.event, "value", "")
            if any(c in value for c in "\x85\u2028\u2029"):
                return '"'
            return super().choose_scalar_style()  # type: ignore[no-any-return]

        def analyze_scalar(self, scalar: str) -> Any:
            if len(scalar) < _LONG:
                return super().analyze_scalar(scalar)
            found = self._analysed.get(scalar)
            if found is None:
                found = self._analysed[scalar] = super().analyze_scalar(scalar)
            return found

        def process_scalar(self) -> None:
            value: str = getattr(self.event, "value", "")
            if len(value) < _LONG:
                return super().process_scalar()  # type: ignore[no-any-return]
            if self.analysis is None:
                self.analysis = self.analyze_scalar(value)
            if self.style is None:
                self.style = self.choose_scalar_style()
            key = (value, self.style, self.simple_key_context, self.flow_level, self.column,
                   self.indent, self.whitespace, self.indention, self.open_ended)
            hit = self._rendered.get(key)
            if hit is None:
                real, line = self.stream, self.line
                self.stream = io.StringIO()
                super().process_scalar()
                text = self.stream.getvalue()
                self.stream = real
                self._rendered[key] = (text, (self.column, self.whitespace, self.indention,
                                              self.open_ended, self.line - line))
            else:
                self.analysis = None
                self.style = None
                text, (self.column, self.whitespace, self.indention, self.open_ended,
                       lines) = hit
                self.line += lines
            self.stream.write(text)
            return None

    return Dumper


def services(project: Project) -> list[str]:
    return sorted(project.services)


def volumes(project: Project) -> list[str]:
    return sorted(project.volumes)


def networks(project: Project) -> list[str]:
    return sorted(project.networks)


def profiles(project: Project) -> list[str]:
    return list(project.defined_profiles)


def images(project: Project) -> list[str]:
    """Each service's image; a service without one gets Compose's `<project>-<service>`."""
    return [project.services[name].image or f"{project.name}-{name}"
            for name in sorted(project.services)]


def hashes(project: Project, which: str) -> list[str]:
    """`<service> <hash>` lines for `--hash '*'` or `--hash a,b`."""
    names = sorted(project.services) if which.strip() == "*" else [
        n.strip() for n in which.split(",") if n.strip()]
    return [f"{name} {project.config_hash(name)}" for name in names]
