"""YAML scalars as Compose v2 reads them: go-yaml v3's `resolve()` for plain scalars (YAML 1.2
core schema plus go's legacy rules) and the explicit `!!int`/`!!float`/`!!bool`/`!!null` tags.

`22:22`, `yes`, `off` stay strings; `true`/`True`/`TRUE`, ints (with `_`, `0x`, `0o`, `0b` and
go's `0755` octal), floats, `null`/`~`, and dates (printed back as RFC 3339) are typed.
"""

from __future__ import annotations

import base64
import datetime
import math
import re
from typing import Any

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
_STR_TAG = "tag:yaml.org,2002:str"


def resolve_scalar(tag: str | None, plain: bool, value: str) -> tuple[Any, str | None]:
    """A scalar event's value: (value, problem or None).  Plain untagged scalars follow
    `resolve_plain`; quoted ones, `!!str` and local tags (`!reset`, `!override`, ...) stay
    text, except that a plain scalar under `!reset`/`!override` is still resolved."""
    if tag is None or tag == "!":
        return (resolve_plain(value) if plain and tag is None else value), None
    if tag in _EXPLICIT:
        v = resolve_plain(value)
        want = tag.rsplit(":", 1)[1]
        is_num = isinstance(v, int | float) and not isinstance(v, bool)
        ok = {"int": is_num and isinstance(v, int), "float": is_num,
              "bool": isinstance(v, bool), "null": v is None}[want]
        if not ok:
            return value, f"cannot decode {value!r} as !!{want}"
        return (float(v) if want == "float" else v), None
    if tag == "tag:yaml.org,2002:binary":
        try:
            return base64.b64decode("".join(value.split()), validate=True).decode(), None
        except (ValueError, UnicodeDecodeError):
            return value, f"cannot decode {value!r} as !!binary"
    if tag in ("!reset", "!override") and plain:
        return resolve_plain(value), None
    return value, None
