"""A fast yes/no check of a document against pystack's schema, so that valid files (the common
case) never pay for importing and running jsonschema; schema_check.py runs jsonschema only
when this says "invalid", to explain every error.

It compiles the schema once into closures and understands exactly the keywords the Compose
schema uses (type, enum, pattern, minimum, maximum, uniqueItems, properties,
patternProperties, additionalProperties, required, items, oneOf, anyOf, $ref); a schema with
any other assertion keyword is refused at compile time (UnsupportedSchema) and the caller
falls back to jsonschema.  A unit test checks it agrees with jsonschema on many documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default",
                          "deprecated", "$defs", "examples"})
_KNOWN = frozenset({"type", "enum", "pattern", "minimum", "maximum", "uniqueItems",
                    "properties", "patternProperties", "additionalProperties", "required",
                    "items", "oneOf", "anyOf", "$ref"}) | _ANNOTATIONS


class UnsupportedSchema(Exception):
    """The schema uses a keyword this checker does not implement."""


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    raise UnsupportedSchema(f"type {name}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality (True is not 1; 1 is 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _frozen(v: Any) -> Any:
    """A hashable form that is equal exactly when JSON says the values are equal."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", v)              # 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(v, dict):
        return ("d", frozenset((k, _frozen(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("l", tuple(_frozen(x) for x in v))
    return (type(v).__name__, v)


def unique(items: list[Any]) -> bool:
    """JSON Schema `uniqueItems` in linear time (the pairwise check took 100 s for 8,000
    ports)."""
    try:
        return len({_frozen(x) for x in items}) == len(items)
    except TypeError:               # not JSON (an unhashable oddity): compare pairwise
        return all(not _equal(items[i], items[j]) for i in range(len(items))
                   for j in range(i))


class Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer not in self.refs:
            if not pointer.startswith("#/"):
                raise UnsupportedSchema(pointer)
            target: Any = self.root
            for part in pointer[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            holder: list[Check] = []
            self.refs[pointer] = lambda v: holder[0](v)
            holder.append(self.compile(target))
        return self.refs[pointer]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema(repr(schema))
        unknown = set(schema) - _KNOWN
        if unknown:
            raise UnsupportedSchema(", ".join(sorted(unknown)))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "type" in schema:
            names = tuple(schema["type"] if isinstance(schema["type"], list)
                          else [schema["type"]])
            checks.append(lambda v: any(_is_type(v, t) for t in names))
        if "enum" in schema:
            options = list(schema["enum"])
            checks.append(lambda v: any(_equal(v, o) for o in options))
        if "pattern" in schema:
            rx = re.compile(schema["pattern"])
            checks.append(lambda v: not isinstance(v, str) or rx.search(v) is not None)
        if "minimum" in schema:
            low = schema["minimum"]
            checks.append(lambda v: not _is_type(v, "number") or v >= low)
        if "maximum" in schema:
            high = schema["maximum"]
            checks.append(lambda v: not _is_type(v, "number") or v <= high)
        if schema.get("uniqueItems"):
            checks.append(lambda v: not isinstance(v, list) or unique(v))
        if "required" in schema:
            req = list(schema["required"])
            checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in req))
        if any(k in schema for k in ("properties", "patternProperties",
                                     "additionalProperties")):
            checks.append(self._object(schema))
        if "items" in schema:
            item = self.compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
        if "oneOf" in schema:
            alts = [self.compile(s) for s in schema["oneOf"]]
            checks.append(lambda v: sum(1 for a in alts if a(v)) == 1)
        if "anyOf" in schema:
            alts_any = [self.compile(s) for s in schema["anyOf"]]
            checks.append(lambda v: any(a(v) for a in alts_any))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def _object(self, schema: Mapping[str, Any]) -> Check:
        props = {k: self.compile(s) for k, s in (schema.get("properties") or {}).items()}
        patterns = [(re.compile(p), self.compile(s))
                    for p, s in (schema.get("patternProperties") or {}).items()]
        extra_schema = schema.get("additionalProperties", True)
        extra = self.compile(extra_schema)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                matched = False
                sub = props.get(key)
                if sub is not None:
                    matched = True
                    if not sub(value):
                        return False
                if patterns and not isinstance(key, str):
                    return False        # not JSON: let jsonschema explain it
                for rx, pat in patterns:
                    if rx.search(key):
                        matched = True
                        if not pat(value):
                            return False
                if not matched and not extra(value):
                    return False
            return True

        return check


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A yes/no validator of `schema`; raises UnsupportedSchema for unknown keywords."""
    return Compiler(schema).compile(schema)
