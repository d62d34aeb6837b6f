"""Stage 1 of the loader: YAML text -> a tree of mappings, sequences and scalars with marks.

Owns: the YAML 1.2 scalar rules as Compose v2 (go-yaml v3) reads them (`22:22`, `yes`, `off`
stay strings; `true`/`false`, ints incl. `0x`/`0o`/`0b` and go's legacy `0755` octal, floats,
`null`/`~`), anchors, aliases (with an expansion budget), `<<` merge keys, duplicate keys (an
error), the `!reset` / `!override` tags, and one line/column mark for every key and value.

The tree uses `MDict` / `MList`: plain dict/list subclasses that carry the marks of their
children (and the reset/override tags) so later stages (interpolate, merge, extends, include)
keep the marks when they move values around.  `loader.finish` turns them into plain
dicts/lists and one `Marks` table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.cyaml import CParser  # type: ignore[attr-defined]
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from pystack.orchestrator.config.marks import Mark, format_path, problem
from pystack.orchestrator.config.scalars import resolve_plain, resolve_scalar

RESET = "!reset"
OVERRIDE = "!override"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 500_000  # alias expansion budget ("billion laughs"); real files use ~1%
_MAX_DEPTH = 200      # nesting of mappings/sequences; compose files use about 8


class MDict(dict[str, Any]):
    """A mapping that remembers where its keys and values came from."""

    __slots__ = ("kmarks", "tags", "vmarks")

    def __init__(self) -> None:
        super().__init__()
        self.kmarks: dict[str, Mark] = {}
        self.vmarks: dict[str, Mark] = {}
        self.tags: dict[str, str] = {}


class MList(list[Any]):
    """A sequence that remembers where its items came from."""

    __slots__ = ("tags", "vmarks")

    def __init__(self) -> None:
        super().__init__()
        self.vmarks: list[Mark | None] = []
        self.tags: dict[int, str] = {}

    def add(self, value: Any, mark: Mark | None) -> None:
        self.append(value)
        self.vmarks.append(mark)


def clone_tree(v: Any, tick: Callable[[], None] | None = None) -> Any:
    """A deep copy of a marked tree, marks and tags included (no generic deepcopy).  `tick`
    runs once per node: alias expansion uses it to enforce its budget."""
    if tick is not None:
        tick()
    if isinstance(v, MDict):
        d = MDict()
        for k, x in v.items():
            d[k] = clone_tree(x, tick)
        d.kmarks.update(v.kmarks)
        d.vmarks.update(v.vmarks)
        d.tags.update(v.tags)
        return d
    if isinstance(v, MList):
        lst = MList()
        lst.extend(clone_tree(x, tick) for x in v)
        lst.vmarks.extend(v.vmarks)
        lst.tags.update(v.tags)
        return lst
    return v


class YamlProblems(Exception):
    """Raised by read_yaml with every problem found; the loader adds them to its list."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- construction from the C parser's events ------------------------------------------------
# Building straight from events (no yaml.Node graph, no resolver round-trips) is about three
# times faster than compose() + a walk, which matters for 300-service files.


class _Builder:
    def __init__(self, parser: Any, filename: str) -> None:
        self.get = parser.get_event
        self.filename = filename
        self.problems: list[str] = []
        self.budget = _MAX_NODES
        self.anchors: dict[str, Any] = {}
        self.pending: set[str] = set()
        self.depth = 0

    def mark(self, ev: Any) -> Mark:
        m = ev.start_mark
        return Mark(self.filename, m.line + 1, m.column + 1)

    def value(self, ev: Any, path: tuple[str | int, ...]) -> Any:
        t = type(ev)
        if t is ScalarEvent:
            v, err = resolve_scalar(ev.tag, ev.implicit[0], ev.value)
            if err:
                self.problems.append(problem(self.mark(ev), path, err))
        elif t is MappingStartEvent or t is SequenceStartEvent:
            if ev.anchor:
                self.pending.add(ev.anchor)
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise YamlProblems([problem(self.mark(ev), path[:4],
                                            f"nested more than {_MAX_DEPTH} levels deep",
                                            "a compose file needs only a few levels")])
            v = self.mapping(path) if t is MappingStartEvent else self.sequence(path)
            self.depth -= 1
            if ev.anchor:
                self.pending.discard(ev.anchor)
        elif t is AliasEvent:
            return self.alias(ev, path)
        else:  # pragma: no cover - the parser guarantees a node here
            raise YamlProblems([problem(self.mark(ev), path, "invalid YAML: unexpected event")])
        if ev.anchor:
            self.anchors[ev.anchor] = v
        return v

    def alias(self, ev: Any, path: tuple[str | int, ...]) -> Any:
        name = ev.anchor
        if name in self.pending:
            raise YamlProblems([problem(self.mark(ev), path, f"recursive alias *{name}")])
        if name not in self.anchors:
            self.problems.append(problem(self.mark(ev), path, f"unknown anchor {name!r}"))
            return None
        return self.copy(self.anchors[name], path, self.mark(ev))

    def copy(self, v: Any, path: tuple[str | int, ...], mark: Mark) -> Any:
        def tick() -> None:
            self.budget -= 1
            if self.budget < 0:
                raise YamlProblems([problem(mark, path, "document contains excessive aliasing",
                                            f"aliases may expand to at most {_MAX_NODES} "
                                            "nodes; write the repeated part out fewer times")])

        return clone_tree(v, tick)

    def sequence(self, path: tuple[str | int, ...]) -> MList:
        out = MList()
        get = self.get
        while True:
            ev = get()
            if type(ev) is SequenceEndEvent:
                return out
            mark = self.mark(ev)
            self.budget -= 1
            v = self.value(ev, (*path, len(out)))
            if getattr(ev, "tag", None) != RESET:
                out.add(v, mark)

    def mapping(self, path: tuple[str | int, ...]) -> MDict:
        out = MDict()
        merged: list[MDict] = []
        seen: dict[str, int] = {}
        get = self.get
        while True:
            kev = get()
            if type(kev) is MappingEndEvent:
                break
            kmark = self.mark(kev)
            if type(kev) is not ScalarEvent:
                self.value(kev, path)  # consume it
                self.value(get(), path)
                self.problems.append(problem(kmark, path, "a mapping key must be a scalar"))
                continue
            key: str = kev.value
            plain = kev.implicit[0] and kev.tag is None
            if (plain and key == "<<") or kev.tag == _MERGE_TAG:
                vev = get()
                merged.extend(self.merge_sources(vev, self.value(vev, path), path))
                continue
            vev = get()
            self.budget -= 1
            if plain and not isinstance(resolve_plain(key), str):
                self.value(vev, (*path, key))
                where = format_path(path) or "the top level"
                self.problems.append(problem(kmark, (*path, key),
                                             f"non-string key in {where}: {key} (quote the key)"))
                continue
            if key in seen:
                self.value(vev, (*path, key))
                self.problems.append(problem(kmark, (*path, key),
                                             f"mapping key {key!r} already defined at line "
                                             f"{seen[key]}"))
                continue
            seen[key] = kmark.line
            tag = getattr(vev, "tag", None)
            value = self.value(vev, (*path, key))
            if tag == RESET:
                # Dropped here (a `<<` merge may still fill it); remembered so that merging
                # this file over earlier ones removes their value.
                out.tags[key] = RESET
                continue
            out[key] = value
            out.kmarks[key] = kmark
            out.vmarks[key] = self.mark(vev)
            if tag == OVERRIDE:
                out.tags[key] = OVERRIDE
        # `<<`: explicit keys win; among merged maps, the first one wins.
        for src in merged:
            for key, value in src.items():
                if key not in out:
                    out[key] = value
                    out.kmarks[key] = src.kmarks[key]
                    out.vmarks[key] = src.vmarks[key]
                    if src.tags.get(key) == OVERRIDE and key not in out.tags:
                        out.tags[key] = OVERRIDE
        return out

    def merge_sources(self, ev: Any, value: Any, path: tuple[str | int, ...]) -> list[MDict]:
        items = value if isinstance(value, MList) else [value]
        if all(isinstance(v, MDict) for v in items) and value is not None:
            return list(items)
        self.problems.append(problem(self.mark(ev), path, "map merge requires map or "
                                     "sequence of maps as the value"))
        return [v for v in items if isinstance(v, MDict)]


def _text_mark(filename: str, text: str, index: int) -> Mark:
    line = text.count("\n", 0, index) + 1
    return Mark(filename, line, index - (text.rfind("\n", 0, index) + 1) + 1)


def _yaml_problem(e: yaml.YAMLError, filename: str, text: str) -> YamlProblems:
    if isinstance(e, yaml.reader.ReaderError):
        # A character YAML does not allow (control characters, U+FFFE, ...).
        index = max(0, min(int(e.position), len(text)))
        char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or " ")
        return YamlProblems([problem(_text_mark(filename, text, index), (),
                                     f"invalid YAML: {e.reason} (U+{char:04X})",
                                     "remove it, or write it as an escape in a "
                                     "double-quoted string")])
    if not isinstance(e, yaml.MarkedYAMLError):
        return YamlProblems([problem(Mark(filename, 1, 1), (), f"invalid YAML: {e}")])
    m = e.problem_mark or e.context_mark
    where = Mark(filename, m.line + 1, m.column + 1) if m else None
    what = e.problem or "invalid YAML"
    c = e.context_mark
    if e.context:
        started = ""
        if c is not None and m is not None and (c.line, c.column) != (m.line, m.column):
            started = f" at line {c.line + 1}, column {c.column + 1}"
        what = f"{what} ({e.context}{started})"
    hint = None
    if m is not None and 0 <= m.index < len(text) and text[m.index] == "\t":
        hint = "YAML indentation must use spaces, not tabs"
    return YamlProblems([problem(where, (), f"invalid YAML: {what}", hint)])


def read_documents(text: str, filename: str) -> list[MDict]:
    """Parse one compose file into its documents (Compose v2 merges them in order);
    raise YamlProblems with every problem found.  Empty documents are skipped."""
    try:
        parser = CParser(text)
    except UnicodeEncodeError as e:  # lone surrogates (undecodable bytes from stdin)
        raise YamlProblems([problem(Mark(filename, 1, 1), (),
                                    f"not valid UTF-8 text ({e.reason})")]) from e
    b = _Builder(parser, filename)
    docs: list[MDict] = []
    try:
        parser.get_event()  # StreamStart
        while True:
            ev = parser.get_event()
            if type(ev) is StreamEndEvent:
                break
            assert type(ev) is DocumentStartEvent
            b.anchors.clear()
            node = parser.get_event()
            data = b.value(node, ())
            end = parser.get_event()
            assert type(end) is DocumentEndEvent
            if data is None:
                continue
            if not isinstance(data, MDict):
                b.problems.append(problem(b.mark(node), (),
                                          "Top-level object must be a mapping"))
                continue
            docs.append(data)
    except yaml.YAMLError as e:
        raise _yaml_problem(e, filename, text) from e
    finally:
        parser.dispose()
    if b.problems:
        raise YamlProblems(b.problems)
    return docs
