"""Structural validation against pystack's JSON Schema (schemas/compose.schema.json, draft
2020-12): every error of the file at once, each as a problem line in human words
("unknown key 'enviroment' (did you mean 'environment'?)", "must be a string or a list").

The validator is built once per process (no check_schema at run time: a unit test does that).
jsonschema is imported here, never by the CLI at import time.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pystack.orchestrator.config.marks import Mark, Marks, TreePath, problem

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

SCHEMA_FILE = "compose.schema.json"
_TYPE_WORDS = {"string": "a string", "object": "a mapping", "array": "a list",
               "number": "a number", "integer": "an integer", "boolean": "a boolean",
               "null": "empty"}
Found = tuple[Mark | None, TreePath, str, str | None]
_NAME_RULE = "use only letters, digits, '.', '_' and '-'"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    from pystack.schemas import read_text

    loaded: dict[str, Any] = json.loads(read_text(SCHEMA_FILE))
    return loaded


@lru_cache(maxsize=1)
def validator() -> Validator:
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    from pystack.orchestrator.config.fastcheck import unique

    def unique_items(v: Any, wanted: Any, instance: Any, _schema: Any) -> Iterable[Any]:
        # jsonschema's own check is pairwise for mappings (quadratic in long port lists)
        if wanted and isinstance(instance, list) and not unique(instance):
            yield ValidationError(f"{instance!r} has non-unique elements")

    cls = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"uniqueItems": unique_items})
    return cls(schema())  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def fast_validator() -> Callable[[Any], bool] | None:
    """The compiled yes/no check (fastcheck.py), or None if the schema is beyond it."""
    from pystack.orchestrator.config.fastcheck import UnsupportedSchema, compile_schema

    try:
        return compile_schema(schema())
    except UnsupportedSchema:
        return None


def validate(data: Any, marks: Marks) -> list[str]:
    """Return one problem line per schema violation (empty when valid).  Valid documents are
    recognised by the fast check; jsonschema runs only to explain an invalid one."""
    quick = fast_validator()
    if quick is not None and quick(data):
        return []
    found: dict[str, tuple[tuple[str, int, int], str]] = {}
    for err in validator().iter_errors(data):
        for mark, path, message, hint in _explain(err, marks):
            line = problem(mark, path, message, hint)
            key = (mark.file, mark.line, mark.column) if mark else ("", 0, 0)
            found.setdefault(line, (key, line))
    return [line for _, line in sorted(found.values())]


def _explain(err: ValidationError, marks: Marks) -> Iterable[Found]:
    path: TreePath = tuple(err.absolute_path)
    kind = err.validator
    sub: Any = err.schema
    expected: Any = err.validator_value
    if kind in ("oneOf", "anyOf") and err.context:
        yield from _explain_choice(err, marks)
        return
    if kind == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = _allowed_keys(sub)
        patterns = list(sub.get("patternProperties") or {})
        for key in err.instance:
            if key in allowed or any(re.search(p, str(key)) for p in patterns):
                continue
            kpath = (*path, key)
            mark = marks.key(kpath) or marks.nearest(kpath)
            if not allowed and patterns:
                yield mark, kpath, f"invalid name '{key}'", _NAME_RULE
                continue
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else (
                "known keys: " + ", ".join(sorted(allowed)) if 0 < len(allowed) <= 12 else None)
            yield mark, kpath, f"unknown key '{key}'", hint
        return
    mark = marks.value(path) or marks.nearest(path)
    if kind == "type":
        yield mark, path, "must be " + _types(expected), None
    elif kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        yield mark, path, f"'{err.instance}' is not allowed", f"use one of: {choices}"
    elif kind == "required":
        missing = [k for k in expected
                   if isinstance(err.instance, Mapping) and k not in err.instance]
        for key in missing:
            yield mark, path, f"missing required key '{key}'", None
    elif kind == "minimum":
        yield mark, path, f"must be at least {expected}", None
    elif kind == "maximum":
        yield mark, path, f"must be at most {expected}", None
    elif kind == "uniqueItems":
        yield mark, path, "has duplicate entries", "list each value once"
    elif kind == "pattern":
        yield mark, path, f"'{err.instance}' is not valid", f"must match {expected}"
    elif kind in ("minItems", "minProperties"):
        yield mark, path, "must not be empty", None
    else:
        yield mark, path, err.message, None


def _explain_choice(err: ValidationError, marks: Marks) -> Iterable[Found]:
    from jsonschema.exceptions import best_match

    path: TreePath = tuple(err.absolute_path)
    assert err.context is not None
    # Group the alternatives' errors by branch; a branch that failed only on the type of
    # the value itself was not what the user meant.
    branches: dict[Any, list[ValidationError]] = {}
    for e in err.context:
        key = e.relative_schema_path[0] if e.relative_schema_path else None
        branches.setdefault(key, []).append(e)

    def type_only(errors: list[ValidationError]) -> bool:
        return all(e.validator == "type" and tuple(e.absolute_path) == path for e in errors)

    meant = [errs for errs in branches.values() if not type_only(errs)]
    if len(meant) == 1:
        for e in meant[0]:
            yield from _explain(e, marks)
        return
    if not meant:
        # Wrong type for every alternative: "must be a string or a list".
        types: list[str] = []
        for e in err.context:
            value: Any = e.validator_value
            vals = value if isinstance(value, list) else [value]
            types.extend(v for v in vals if v not in types)
        mark = marks.value(path) or marks.nearest(path)
        yield mark, path, "must be " + _types(types), None
        return
    yield from _explain(best_match([e for errs in meant for e in errs]), marks)


def _types(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    words = [_TYPE_WORDS.get(str(n), str(n)) for n in names if n != "null"] or ["empty"]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _allowed_keys(sub: Mapping[str, Any]) -> set[str]:
    return set(sub.get("properties") or {})
