"""Merging compose trees by Compose v2's rules (compose-go `override/merge.go` and
`override/uncity.go`): used for several `-f` files, several YAML documents in one file,
`extends` and `include`.

Rules: mappings merge key by key (`x-` keys are replaced whole), sequences append, scalars are
replaced, a null override keeps the base; `command`, `entrypoint`, `healthcheck.test` replace;
`environment`, `labels`, `build.args`, `sysctls`, ... merge as `KEY=VALUE` sequences; `build`
and `depends_on`/`networks` short forms are expanded before merging; `logging` merges only for
the same driver; afterwards ports/volumes/secrets/configs/... are unique by their keys (a later
entry replaces an earlier one in place, see unicity.py). `!reset` drops the key, `!override`
replaces it whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystack.orchestrator.config.marks import TreePath
from pystack.orchestrator.config.yamlread import RESET, MDict, MList

Merger = Callable[[Any, Any, TreePath], Any]


def _matches(path: TreePath, pattern: tuple[str, ...]) -> bool:
    if len(path) != len(pattern):
        return False
    for got, want in zip(path, pattern, strict=True):
        if want == "*":
            continue
        if want == "[]":
            if not isinstance(got, int):
                return False
        elif want != got:
            return False
    return True


def _copy_marks(dst: MDict, src: Any, key: str) -> None:
    if isinstance(src, MDict):
        if key in src.kmarks:
            dst.kmarks[key] = src.kmarks[key]
        if key in src.vmarks:
            dst.vmarks[key] = src.vmarks[key]


def to_sequence(value: Any) -> MList:
    """A KEY=VALUE sequence from a mapping (None values give the bare key), sorted like Go."""
    if isinstance(value, MList):
        return value
    out = MList()
    if isinstance(value, dict):
        for k in sorted(value):
            v = value[k]
            vm = value.vmarks.get(k) if isinstance(value, MDict) else None
            out.add(k if v is None else f"{k}={_go_str(v)}", vm)
    elif isinstance(value, list):
        for v in value:
            out.add(v, None)
    elif value is not None:  # a string_or_list field given as one string
        out.add(value, None)
    return out


def _go_str(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


def to_mapping(value: Any, default: Any) -> MDict:
    """A mapping from a list of names (each mapped to a copy of `default`)."""
    if isinstance(value, MDict):
        return value
    out = MDict()
    if isinstance(value, dict):
        out.update(value)
        return out
    if isinstance(value, list):
        marks = value.vmarks if isinstance(value, MList) else []
        for i, name in enumerate(value):
            key = str(name)
            out[key] = _fresh(default)
            if i < len(marks) and marks[i] is not None:
                out.kmarks[key] = marks[i]  # type: ignore[assignment]
                out.vmarks[key] = marks[i]  # type: ignore[assignment]
    return out


def _fresh(default: Any) -> Any:
    if isinstance(default, dict):
        d = MDict()
        d.update(default)
        return d
    return default


def _override(base: Any, other: Any, path: TreePath) -> Any:
    return other


def _to_seq(base: Any, other: Any, path: TreePath) -> Any:
    out = MList()
    for src in (to_sequence(base), to_sequence(other)):
        for i, v in enumerate(src):
            out.add(v, src.vmarks[i] if i < len(src.vmarks) else None)
    return out


def _depends_on(base: Any, other: Any, path: TreePath) -> Any:
    default = {"condition": "service_started", "required": True}
    return merge_mappings(to_mapping(base, default), to_mapping(other, default), path)


def _networks(base: Any, other: Any, path: TreePath) -> Any:
    return merge_mappings(to_mapping(base, None), to_mapping(other, None), path)


def _build(base: Any, other: Any, path: TreePath) -> Any:
    def as_map(v: Any) -> MDict:
        if isinstance(v, str):
            d = MDict()
            d["context"] = v
            return d
        return v if isinstance(v, MDict) else to_mapping(v, None)
    return merge_mappings(as_map(base), as_map(other), path)


def _logging(base: Any, other: Any, path: TreePath) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return other
    if "driver" not in other or "driver" not in base or other["driver"] == base["driver"]:
        return merge_mappings(to_mapping(base, None), to_mapping(other, None), path)
    return other


def _ulimit(base: Any, other: Any, path: TreePath) -> Any:
    if isinstance(base, dict) and isinstance(other, dict):
        return merge_mappings(to_mapping(base, None), to_mapping(other, None), path)
    return other


def _extra_hosts(base: Any, other: Any, path: TreePath) -> Any:
    def seq(v: Any) -> MList:
        if isinstance(v, dict):
            out = MList()
            for k in sorted(v):
                vals = v[k] if isinstance(v[k], list) else [v[k]]
                for ip in vals:
                    out.add(f"{k}={_go_str(ip)}", None)
            return out
        return to_sequence(v)
    return _to_seq(seq(base), seq(other), path)


def _ipam_config(base: Any, other: Any, path: TreePath) -> Any:
    if not isinstance(base, list) or not isinstance(other, list):
        return other
    out = MList()
    for i, v in enumerate(base):
        out.add(v, base.vmarks[i] if isinstance(base, MList) else None)
    for j, o in enumerate(other):
        om = other.vmarks[j] if isinstance(other, MList) else None
        for i, b in enumerate(out):
            if isinstance(b, dict) and isinstance(o, dict) and b.get("subnet") == o.get("subnet"):
                out[i] = merge_mappings(to_mapping(b, None), to_mapping(o, None), (*path, i))
                break
        else:
            out.add(o, om)
    return out


_SPECIALS: list[tuple[tuple[str, ...], Merger]] = [
    (("networks", "*", "ipam", "config"), _ipam_config),
    (("networks", "*", "labels"), _to_seq),
    (("volumes", "*", "labels"), _to_seq),
    (("services", "*", "annotations"), _to_seq),
    (("services", "*", "build"), _build),
    (("services", "*", "build", "args"), _to_seq),
    (("services", "*", "build", "additional_contexts"), _to_seq),
    (("services", "*", "build", "extra_hosts"), _extra_hosts),
    (("services", "*", "build", "labels"), _to_seq),
    (("services", "*", "command"), _override),
    (("services", "*", "depends_on"), _depends_on),
    (("services", "*", "deploy", "labels"), _to_seq),
    (("services", "*", "dns"), _to_seq),
    (("services", "*", "dns_opt"), _to_seq),
    (("services", "*", "dns_search"), _to_seq),
    (("services", "*", "entrypoint"), _override),
    (("services", "*", "env_file"), _to_seq),
    (("services", "*", "label_file"), _to_seq),
    (("services", "*", "environment"), _to_seq),
    (("services", "*", "extra_hosts"), _extra_hosts),
    (("services", "*", "healthcheck", "test"), _override),
    (("services", "*", "labels"), _to_seq),
    (("services", "*", "volumes", "[]", "volume", "labels"), _to_seq),
    (("services", "*", "logging"), _logging),
    (("services", "*", "models"), _networks),
    (("services", "*", "networks"), _networks),
    (("services", "*", "sysctls"), _to_seq),
    (("services", "*", "tmpfs"), _to_seq),
    (("services", "*", "ulimits", "*"), _ulimit),
]


def merge_values(base: Any, other: Any, path: TreePath) -> Any:
    for pattern, merger in _SPECIALS:
        if _matches(path, pattern):
            if other is None:
                return base
            if base is None:
                return other
            return merger(base, other, path)
    if other is None:
        return base
    if isinstance(base, dict) and isinstance(other, dict):
        return merge_mappings(to_mapping(base, None), to_mapping(other, None), path)
    if isinstance(base, list) and isinstance(other, list):
        out = MList()
        for src in (base, other):
            marks = src.vmarks if isinstance(src, MList) else []
            for i, v in enumerate(src):
                out.add(v, marks[i] if i < len(marks) else None)
        return out
    return other


def merge_mappings(base: MDict, other: MDict, path: TreePath) -> MDict:
    """Merge `other` into `base` (modified and returned)."""
    for key, tag in other.tags.items():
        if tag == RESET:
            base.pop(key, None)
    for key, value in other.items():
        if key not in base or key.startswith("x-") or key in other.tags:
            base[key] = value
            base.tags.pop(key, None)
            _copy_marks(base, other, key)
            continue
        base[key] = merge_values(base[key], value, (*path, key))
        base.tags.pop(key, None)
        merged = base[key]
        if merged is value or not isinstance(merged, MDict | MList) or key not in base.vmarks:
            _copy_marks(base, other, key)
    return base


def strip_resets(node: Any) -> None:
    """Forget the !reset/!override tags once a tree is final (they only act on merges)."""
    if isinstance(node, MDict):
        node.tags.clear()
        for v in node.values():
            strip_resets(v)
    elif isinstance(node, MList):
        node.tags.clear()
        for v in node:
            strip_resets(v)
