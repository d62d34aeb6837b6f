"""Stage 2 of the loader: variable interpolation, exactly as compose-go's `template` package,
and the type casts of compose-go's `interpolateTypeCastMapping` afterwards.

Owns: `substitute` (one string: `$VAR`, `${VAR}`, `:-`, `-`, `:?`, `?`, `:+`, `+`, nested
defaults, `$$` -> `$`), `interpolate_tree` (every string value of a loaded tree; keys are never
interpolated) and the casts of known paths back to int/float/bool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pystack.orchestrator.config.marks import Mark, TreePath, problem
from pystack.orchestrator.config.yamlread import MDict, MList

_PATTERN = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)"
    r"|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))"
)
_OPS = (":?", "?", ":-", "-", ":+", "+")


class TemplateError(Exception):
    """A malformed template or a missing required variable (message as compose-go's).

    ``template`` is set (to the malformed text) for a malformed expression."""

    def __init__(self, message: str, template: str | None = None) -> None:
        super().__init__(message)
        self.template = template


class Lookup:
    """The variables seen by interpolation; remembers unset names (for the warnings)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.unset: list[str] = []

    def get(self, name: str, warn: bool) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        if warn and name not in self.unset:
            self.unset.append(name)
        return "", False


def _closing_brace(s: str) -> int:
    # compose-go's getFirstBraceClosingIndex, including its skip of the char after '{'.
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if s[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _pick_op(text: str) -> str:
    best, best_i = _OPS[0], -1
    for op in _OPS:
        i = text.find(op)
        if i >= 0 and (best_i < 0 or i < best_i):
            best, best_i = op, i
    return best


def _apply_op(op: str, substitution: str, lookup: Lookup) -> tuple[str, bool]:
    if op not in substitution:
        return "", False
    name, arg = substitution.split(op, 1)
    arg = substitute(arg, lookup)
    value, ok = lookup.get(name, warn=False)
    if op in (":?", "?"):
        if not ok or (op == ":?" and value == ""):
            if arg:
                raise TemplateError(f"required variable {name} is missing a value: {arg}")
            raise TemplateError(f"required variable {name} is missing a value")
        return value, True
    if op in (":-", "-"):
        if not ok or (op == ":-" and value == ""):
            return arg, True
        return value, True
    if ok and (op == "+" or value != ""):
        return arg, True
    return value, True


def _replace(match: re.Match[str], lookup: Lookup) -> str:
    substring = match.group(0)
    op = _pick_op(substring)
    close = _closing_brace(substring)
    rest = ""
    if close > -1:
        rest = substring[close + 1 :]
        substring = substring[: close + 1]
    m = _PATTERN.match(substring)
    assert m is not None  # the trimmed text still starts with "${" or "$name" or "$$"
    if m.group("escaped"):
        return "$"
    substitution = m.group("named")
    braced = False
    if not substitution:
        substitution = m.group("braced")
        braced = True
    if not substitution:
        raise TemplateError("", "")
    if braced:
        value, applied = _apply_op(op, substitution, lookup)
        if applied:
            return value + substitute(rest, lookup)
    return lookup.get(substitution, warn=True)[0]


def substitute(template: str, lookup: Lookup) -> str:
    """Interpolate one string; raise TemplateError like compose-go (first error wins)."""
    if "$" not in template:
        return template
    out: list[str] = []
    pos = 0
    first_error: TemplateError | None = None
    for m in _PATTERN.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        try:
            out.append(_replace(m, lookup))
        except TemplateError as e:
            if first_error is None:
                first_error = e
    out.append(template[pos:])
    if first_error is not None:
        if first_error.template == "":
            shown = template if len(template) <= 200 else template[:200] + "..."
            raise TemplateError(f"invalid interpolation format {_go_quote(shown)}", template)
        raise first_error
    return "".join(out)


def _go_quote(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


# --- casts (compose-go loader/interpolate.go) -------------------------------------------------

Cast = Callable[[str], Any]


def _to_int(v: str) -> int:
    s = v[1:] if v[:1] in "+-" else v
    if not s or not s.isascii() or not s.isdigit():
        raise ValueError(f'strconv.Atoi: parsing {_go_quote(v)}: invalid syntax')
    n = int(v)
    if not -(2**63) <= n < 2**63:
        raise ValueError(f'strconv.Atoi: parsing {_go_quote(v)}: value out of range')
    return n


_GO_FLOAT = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)$", re.I)


def _to_float(v: str) -> float:
    if not _GO_FLOAT.match(v):
        raise ValueError(f'strconv.ParseFloat: parsing {_go_quote(v)}: invalid syntax')
    return float(v)


class _BoolCast:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def __call__(self, v: str) -> bool:
        low = v.lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("y", "yes", "on", "n", "no", "off"):
            val = low in ("y", "yes", "on")
            self.warnings.append(f"{v!r} for boolean is not supported by YAML 1.2, "
                                 f"please use `{'true' if val else 'false'}`")
            return val
        raise ValueError(f"invalid boolean: {v}")


_S = ("services", "*")
_CASTS: dict[TreePath, str] = {
    (*_S, "configs", "[]", "mode"): "int", (*_S, "cpu_count"): "int",
    (*_S, "cpu_percent"): "float", (*_S, "cpu_period"): "int", (*_S, "cpu_quota"): "int",
    (*_S, "cpu_rt_period"): "int", (*_S, "cpu_rt_runtime"): "int", (*_S, "cpus"): "float",
    (*_S, "cpu_shares"): "int", (*_S, "init"): "bool", (*_S, "deploy", "replicas"): "int",
    (*_S, "deploy", "update_config", "parallelism"): "int",
    (*_S, "deploy", "update_config", "max_failure_ratio"): "float",
    (*_S, "deploy", "rollback_config", "parallelism"): "int",
    (*_S, "deploy", "rollback_config", "max_failure_ratio"): "float",
    (*_S, "deploy", "restart_policy", "max_attempts"): "int",
    (*_S, "deploy", "placement", "max_replicas_per_node"): "int",
    (*_S, "healthcheck", "retries"): "int", (*_S, "healthcheck", "disable"): "bool",
    (*_S, "oom_kill_disable"): "bool", (*_S, "oom_score_adj"): "int",
    (*_S, "pids_limit"): "int", (*_S, "ports", "[]", "target"): "int",
    (*_S, "privileged"): "bool", (*_S, "read_only"): "bool", (*_S, "scale"): "int",
    (*_S, "secrets", "[]", "mode"): "int", (*_S, "stdin_open"): "bool", (*_S, "tty"): "bool",
    (*_S, "ulimits", "*"): "int", (*_S, "ulimits", "*", "hard"): "int",
    (*_S, "ulimits", "*", "soft"): "int", (*_S, "volumes", "[]", "read_only"): "bool",
    (*_S, "volumes", "[]", "volume", "nocopy"): "bool",
    ("networks", "*", "external"): "bool", ("networks", "*", "internal"): "bool",
    ("networks", "*", "attachable"): "bool", ("networks", "*", "enable_ipv6"): "bool",
    ("volumes", "*", "external"): "bool", ("secrets", "*", "external"): "bool",
    ("configs", "*", "external"): "bool",
}


Trie = dict[str, Any]


def _cast_trie() -> Trie:
    # {"services": {"*": {"tty": {"": "bool"}, "ports": {"[]": {"target": {"": "int"}}}}}}
    root: Trie = {}
    for pattern, kind in _CASTS.items():
        node = root
        for part in pattern:
            node = node.setdefault(str(part), {})
        node[""] = kind
    return root


_TRIE = _cast_trie()


def _child(trie: Trie | None, key: str | int) -> Trie | None:
    if trie is None:
        return None
    if isinstance(key, int):
        return trie.get("[]")
    found = trie.get(key)
    return found if found is not None else trie.get("*")


class Interpolator:
    """Interpolates a loaded tree in place, collecting problems and warnings."""

    def __init__(self, env: Mapping[str, str], problems: list[str],
                 warnings: list[str], warned: set[str]) -> None:
        self.lookup = Lookup(env)
        self.problems = problems
        self.warnings = warnings
        self.warned = warned
        self.bools = _BoolCast()
        self._done: dict[str, tuple[str, TemplateError | None, tuple[str, ...]]] = {}

    def run(self, tree: MDict, file_mark: Mark | None) -> None:
        self._walk(tree, (), file_mark, _TRIE)

    def _value(self, value: str, path: TreePath, mark: Mark | None, kind: str | None) -> Any:
        out: Any = value
        if "$" in value:
            # One substitution per distinct text: an aliased scalar repeated thousands of
            # times costs its length once, not once per copy.
            done = self._done.get(value)
            if done is None:
                before = len(self.lookup.unset)
                try:
                    done = (substitute(value, self.lookup), None,
                            tuple(self.lookup.unset[before:]))
                except TemplateError as e:
                    done = (value, e, tuple(self.lookup.unset[before:]))
                except RecursionError:
                    done = (value, TemplateError("variable defaults are nested too deeply "
                                                 "(at most a few hundred levels)"), ())
                self._done[value] = done
            out, error, unset = done
            for name in unset:
                if name not in self.warned:
                    self.warned.add(name)
                    self.warnings.append(problem(
                        mark, path, f'the "{name}" variable is not set, '
                        "defaulting to a blank string"))
            if error is not None:
                hint = "you may need to escape any $ with another $" if error.template else None
                self.problems.append(problem(mark, path, str(error), hint))
                return value
        if kind is None:
            return out
        caster: Cast = _to_int if kind == "int" else _to_float if kind == "float" else self.bools
        try:
            result = caster(out)
        except ValueError as e:
            self.problems.append(problem(mark, path, f"failed to cast to expected type: {e}"))
            return out
        for w in self.bools.warnings:
            self.warnings.append(problem(mark, path, w))
        self.bools.warnings.clear()
        return result

    def _walk(self, node: MDict | MList, path: TreePath, mark: Mark | None,
              trie: Trie | None) -> None:
        # `trie` is where this node sits in the tree of cast paths (None: no cast below).
        if isinstance(node, MDict):
            for key, value in node.items():
                sub = _child(trie, key)
                if isinstance(value, str):
                    node[key] = self._value(value, (*path, key), node.vmarks.get(key, mark),
                                            sub.get("") if sub else None)
                elif isinstance(value, MDict | MList):
                    self._walk(value, (*path, key), node.vmarks.get(key, mark), sub)
        else:
            marks = node.vmarks
            sub = _child(trie, 0)
            kind = sub.get("") if sub else None
            for i, value in enumerate(node):
                if isinstance(value, str):
                    vm = marks[i] if i < len(marks) else mark
                    node[i] = self._value(value, (*path, i), vm, kind)
                elif isinstance(value, MDict | MList):
                    self._walk(value, (*path, i), marks[i] if i < len(marks) else mark, sub)
