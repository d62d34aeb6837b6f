"""Compose's value units: Go-style durations ("1m30s", "500ms"), docker byte sizes ("512m",
"1.5g"), cpus, and port ranges; parsing to numbers and formatting back as compose-go does.

Every parser raises ValueError with a short human reason; callers turn it into a problem line.
"""

from __future__ import annotations

import re

_DURATION_UNITS: dict[str, int] = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_duration_ns(value: object) -> int:
    """Parse a Go duration ("1h2m3.5s", "500ms"; a bare number is seconds) to nanoseconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like '10s' or '1m30s'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return int(value * 1_000_000_000)
    if not isinstance(value, str):
        raise ValueError("must be a duration like '10s' or '1m30s'")
    text = value.strip()
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"invalid duration '{value}' (use a number and a unit: 10s, 1m30s, 500ms)")
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None or m.group(1) in ("", "."):
            raise ValueError(
                f"invalid duration '{value}' (use a number and a unit: 10s, 1m30s, 500ms)")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if sign < 0:
        raise ValueError(f"invalid duration '{value}' (must not be negative)")
    return round(total)


def parse_duration(value: object) -> float:
    """A duration in seconds (float)."""
    return parse_duration_ns(value) / 1_000_000_000


def format_duration(ns: int) -> str:
    """Format nanoseconds exactly as Go's time.Duration.String() does ("1m30s", "500ms")."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size:
                out = _frac(u, size) + unit
                break
    else:
        hours, rest = divmod(u, 3_600_000_000_000)
        minutes, rest = divmod(rest, 60_000_000_000)
        out = _frac(rest, 1_000_000_000) + "s"
        if hours or minutes:
            out = f"{minutes}m" + out
        if hours:
            out = f"{hours}h" + out
    return ("-" if neg else "") + out


def _frac(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def parse_bytes(value: object) -> int:
    """Parse a docker byte size ("512m", "1.5GB", "1024", 1024) to bytes (binary factors)."""
    if isinstance(value, bool):
        raise ValueError("must be a byte size like '512m' or '2g'")
    if isinstance(value, int):
        if value < 0 and value != -1:
            raise ValueError("must not be negative")
        return value
    if isinstance(value, float):
        return int(value)
    if not isinstance(value, str):
        raise ValueError("must be a byte size like '512m' or '2g'")
    if value.strip() == "-1":
        return -1                       # "unlimited" (memswap_limit)
    m = _SIZE.match(value.strip())
    if m is None:
        raise ValueError(f"invalid byte size '{value}' (use a number and a unit: 512m, 2g, 100k)")
    return int(float(m.group(1)) * _SIZE_FACTORS[m.group(2).lower()])


def parse_cpus(value: object) -> float:
    """Parse `cpus` ("1.5", 0.5) to a float >= 0."""
    if isinstance(value, bool):
        raise ValueError("must be a number of CPUs like 0.5 or '1.5'")
    try:
        cpus = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"invalid cpus '{value}' (use a number like 0.5 or 2)") from None
    if cpus < 0 or cpus != cpus or cpus == float("inf"):
        raise ValueError(f"invalid cpus '{value}' (must be a positive number)")
    return cpus


def parse_port_range(text: str) -> tuple[int, int]:
    """Parse "80" or "8000-8010" into (first, last), each 0..65535, first <= last."""
    first_s, sep, last_s = text.partition("-")
    if not first_s.isdigit() or (sep and not last_s.isdigit()):
        raise ValueError(f"invalid port '{text}' (use a number or a range like 8000-8010)")
    first = int(first_s)
    last = int(last_s) if sep else first
    if first > 65535 or last > 65535:
        raise ValueError(f"invalid port '{text}' (ports are 0 to 65535)")
    if last < first:
        raise ValueError(f"invalid port range '{text}' (the end is before the start)")
    return first, last
