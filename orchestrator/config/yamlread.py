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

import datetime
import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pystack.orchestrator.config.marks import Mark, format_path, problem

RESET = "!reset"
OVERRIDE = "!override"
_STR = "tag:yaml.org,2002:str"
_PLAIN = "?plain"
_MAX_NODES = 500_000  # alias expansion budget ("billion laughs"); real files use ~1%


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


class YamlProblems(Exception):
    """Raised by read_yaml with every problem found; the loader adds them to its list."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- scalars: go-yaml v3's resolve() ------------------------------------------------------

_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT_RE = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_SPECIAL: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}
_INT64 = (-(2**63), 2**63 - 1)
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) then ParseUint: None when go would fail."""
    s = text
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    base = 10
    if len(s) > 1 and s[0] == "0":
        p = s[1].lower()
        if p in "xob":
            base = {"x": 16, "o": 8, "b": 2}[p]
            s = s[2:]
        else:
            base = 8
            s = s[1:]
    if not s or any(c not in _DIGITS[base] for c in s):
        return None
    v = sign * int(s, base)
    if _INT64[0] <= v <= _INT64[1]:
        return v
    if text[:1] not in "+-" and v < 2**64:
        return v
    return None


_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def _timestamp(text: str) -> str | None:
    # go-yaml v3 decodes an unquoted date into a time.Time; Compose prints it as RFC 3339.
    m = _DATE_RE.match(text)
    if m is None:
        return None
    try:
        d = datetime.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return f"{d.isoformat()}T00:00:00Z"


def resolve_plain(text: str) -> Any:
    """The value of a plain (unquoted) scalar, as go-yaml v3 decodes it into interface{}."""
    if text in _SPECIAL:
        return _SPECIAL[text]
    first = text[:1]
    if first == ".":
        if _DOT_FLOAT_RE.match(text):
            return float(text)
        return text
    if first and ((first.isdigit() and first.isascii()) or first in "+-"):
        if _DATE_RE.match(text):
            stamp = _timestamp(text)
            if stamp is not None:
                return stamp
        plain = text.replace("_", "")
        if not plain:
            return text
        v = _go_parse_int(plain)
        if v is not None:
            return v
        if _FLOAT_RE.match(plain):
            f = float(plain)
            return text if math.isinf(f) else f
    return text


_EXPLICIT = {
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class _Loader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
    """CSafeLoader whose resolver leaves plain scalars for `resolve_plain` (YAML 1.2)."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call,no-any-return]


# --- construction ---------------------------------------------------------------------------


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[str] = []
        self.budget = _MAX_NODES
        self.active: set[int] = set()

    def mark(self, node: Node) -> Mark:
        m = node.start_mark
        return Mark(self.filename, m.line + 1, m.column + 1)

    def build(self, node: Node, path: tuple[str | int, ...]) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise YamlProblems([problem(self.mark(node), path,
                                        "document contains excessive aliasing")])
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise YamlProblems([problem(self.mark(node), path, "recursive alias")])
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self.sequence(node, path)
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: tuple[str | int, ...]) -> Any:
        tag = node.tag
        value: str = node.value
        if tag == _PLAIN:
            return resolve_plain(value)
        if tag in (_STR, RESET, OVERRIDE) or not tag.startswith("tag:yaml.org,2002:"):
            if tag in (RESET, OVERRIDE) and node.style is None:
                return resolve_plain(value)
            return value
        if tag in _EXPLICIT:
            v = resolve_plain(value)
            want = tag.rsplit(":", 1)[1]
            ok = {"int": lambda x: isinstance(x, int) and not isinstance(x, bool),
                  "float": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
                  "bool": lambda x: isinstance(x, bool), "null": lambda x: x is None}[want](v)
            if not ok:
                self.problems.append(problem(self.mark(node), path,
                                             f"cannot decode {value!r} as !!{want}"))
                return value
            return float(v) if want == "float" else v
        return value

    def sequence(self, node: SequenceNode, path: tuple[str | int, ...]) -> MList:
        out = MList()
        for child in node.value:
            if child.tag == RESET:
                continue
            out.add(self.build(child, (*path, len(out))), self.mark(child))
        return out

    def mapping(self, node: MappingNode, path: tuple[str | int, ...]) -> MDict:
        out = MDict()
        merged: list[MDict] = []
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge" or (
                isinstance(knode, ScalarNode) and knode.tag == _PLAIN and knode.value == "<<"
            ):
                merged.extend(self.merge_sources(vnode, path))
                continue
            if not isinstance(knode, ScalarNode):
                self.problems.append(problem(self.mark(knode), path,
                                             "a mapping key must be a scalar"))
                continue
            key = knode.value
            kmark = self.mark(knode)
            if knode.tag == _PLAIN and not isinstance(resolve_plain(key), str):
                where = format_path(path) or "the top level"
                self.problems.append(problem(kmark, (*path, key),
                                             f"non-string key in {where}: {key} "
                                             "(quote the key)"))
                continue
            if key in seen:
                self.problems.append(problem(kmark, (*path, key),
                                             f"mapping key {key!r} already defined at line "
                                             f"{seen[key]}"))
                continue
            seen[key] = kmark.line
            if vnode.tag == RESET:
                # Dropped here (a `<<` merge may still fill it); remembered so that merging
                # this file over earlier ones removes their value.
                out.tags[key] = RESET
                continue
            out[key] = self.build(vnode, (*path, key))
            out.kmarks[key] = kmark
            out.vmarks[key] = self.mark(vnode)
            if vnode.tag == OVERRIDE:
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

    def merge_sources(self, vnode: Node, path: tuple[str | int, ...]) -> list[MDict]:
        nodes = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
        out: list[MDict] = []
        for n in nodes:
            if not isinstance(n, MappingNode):
                self.problems.append(problem(self.mark(n), path,
                                             "map merge requires map or sequence of maps "
                                             "as the value"))
                continue
            built = self.build(n, path)
            assert isinstance(built, MDict)
            out.append(built)
        return out


def read_documents(text: str, filename: str) -> list[MDict]:
    """Parse one compose file into its documents (Compose v2 merges them in order);
    raise YamlProblems with every problem found.  Empty documents are skipped."""
    loader = _Loader(text)
    nodes: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        where = Mark(filename, m.line + 1, m.column + 1) if m else None
        what = "; ".join(p for p in (e.context, e.problem) if p) or "invalid YAML"
        raise YamlProblems([problem(where, (), f"invalid YAML: {what}")]) from e
    except yaml.YAMLError as e:
        raise YamlProblems([problem(Mark(filename, 1, 1), (), f"invalid YAML: {e}")]) from e
    finally:
        loader.dispose()
    b = _Builder(filename)
    docs: list[MDict] = []
    for node in nodes:
        if isinstance(node, ScalarNode) and node.tag == _PLAIN and node.value in ("", "~"):
            continue
        data = b.build(node, ())
        if not isinstance(data, MDict):
            b.problems.append(problem(b.mark(node), (), "Top-level object must be a mapping"))
            continue
        docs.append(data)
    if b.problems:
        raise YamlProblems(b.problems)
    return docs
