"""Compose's value units: Go-style durations ("1m30s", "500ms"), docker byte sizes ("512m",
"1.5g"), integers, cpus, port ranges, signals and restart policies; parsing to typed values and
formatting back as compose-go does.  The one place these values are parsed: the config stage
validates with these parsers and the model carries their results.

Every parser raises ValueError with a short human reason; callers turn it into a problem line.
"""

from __future__ import annotations

import math
import re
import signal as _signal

_DURATION_UNITS: dict[str, int] = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
INT64_MAX = 2**63 - 1       # Go's time.Duration and docker's sizes are int64


def parse_duration_ns(value: object) -> int:
    """Parse a Go duration ("1h2m3.5s", "500ms"; a bare number is seconds) to nanoseconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like '10s' or '1m30s'")
    if isinstance(value, int | float):
        if value != value or value < 0:
            raise ValueError("must not be negative")
        return _duration_in_range(value * 1_000_000_000, value)
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
    return _duration_in_range(total, value)


def _duration_in_range(ns: float, value: object) -> int:
    if not math.isfinite(ns) or ns > INT64_MAX:
        raise ValueError(f"invalid duration '{value}' (too long: at most 2562047h)")
    return round(ns)


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
    if isinstance(value, int | float):
        if value != value or (value < 0 and value != -1):
            raise ValueError("must not be negative")
        return _size_in_range(value, value)
    if not isinstance(value, str):
        raise ValueError("must be a byte size like '512m' or '2g'")
    if value.strip() == "-1":
        return -1                       # "unlimited" (memswap_limit)
    m = _SIZE.match(value.strip())
    if m is None:
        raise ValueError(f"invalid byte size '{value}' (use a number and a unit: 512m, 2g, 100k)")
    return _size_in_range(float(m.group(1)) * _SIZE_FACTORS[m.group(2).lower()], value)


def _size_in_range(size: float, value: object) -> int:
    if not math.isfinite(size) or size > INT64_MAX:
        raise ValueError(f"invalid byte size '{value}' (too large: at most 8191p)")
    return int(size)


_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def parse_int(value: object) -> int:
    """An integer setting: an int (not a bool) or its text, ASCII digits with an optional
    sign (`"42"`, `"-1"`).  Python's int() would also take `"1_0"`, `" 1 "` and other
    scripts' digits, and `"²".isdigit()` is True although int() refuses it: one rule here."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer")
    if isinstance(value, int):
        return value
    if not _INT_TEXT.fullmatch(value):
        raise ValueError(f"'{value}' is not an integer")
    return int(value)


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


def parse_signal(value: object) -> str:
    """A signal ("SIGTERM", "term", "15", 15, "SIGRTMIN+3") -> its canonical name ("SIGTERM"),
    or its number as text for a real-time signal ("37"), as the runtime takes it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a signal name like SIGTERM or a number")
    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if not 0 < number < _signal.NSIG:
            raise ValueError(f"invalid signal '{value}' (signal numbers are 1 to "
                             f"{_signal.NSIG - 1})")
        try:
            return _signal.Signals(number).name
        except ValueError:
            return str(number)
    name = text if text.startswith("SIG") else "SIG" + text
    for base, step in (("SIGRTMIN+", 1), ("SIGRTMAX-", -1)):
        if name.startswith(base) and name[len(base):].isdigit():
            start = _signal.SIGRTMIN if step > 0 else _signal.SIGRTMAX
            number = int(start) + step * int(name[len(base):])
            if int(_signal.SIGRTMIN) <= number <= int(_signal.SIGRTMAX):
                return str(number)
    if name in _signal.Signals.__members__ and name not in ("SIGRTMIN", "SIGRTMAX"):
        return name
    if name in ("SIGRTMIN", "SIGRTMAX"):
        return str(int(_signal.Signals[name]))
    raise ValueError(f"unknown signal '{value}' (use a name like SIGTERM, SIGINT, SIGQUIT, "
                     "or a number)")


RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


def parse_restart(value: object) -> tuple[str, int | None]:
    """A restart policy ("no", "always", "unless-stopped", "on-failure[:N]") -> (name,
    maximum retries or None for no limit)."""
    if not isinstance(value, str):
        raise ValueError("must be one of no, always, on-failure[:N], unless-stopped")
    name, sep, count = value.strip().partition(":")
    if name not in RESTART_POLICIES:
        raise ValueError(f"invalid restart policy '{value}' (use no, always, on-failure, "
                         "on-failure:N or unless-stopped)")
    if not sep:
        return name, None
    if name != "on-failure":
        raise ValueError(f"invalid restart policy '{value}' (only on-failure takes a retry "
                         "count)")
    if not count.isdigit() or int(count) > 2**31 - 1:
        raise ValueError(f"invalid restart policy '{value}' (the retry count after "
                         "on-failure: must be a whole number, like on-failure:3)")
    return name, int(count)


# Mount flags Docker accepts in a tmpfs option list (data options are size=, mode=, ...).
TMPFS_FLAGS = frozenset({
    "defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync",
    "async", "dirsync", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime",
    "relatime", "norelatime", "strictatime", "nostrictatime"})
_TMPFS_DATA = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})


def parse_tmpfs(spec: object) -> tuple[str, int | None, int | None, tuple[str, ...]]:
    """A `tmpfs:` entry ("/run", "/run:size=64k,mode=1777,noexec") -> (target, size in
    bytes, mode bits, the other options in order)."""
    if not isinstance(spec, str):
        raise ValueError("must be a path, optionally with options: /run:size=64m,mode=1777")
    target, _, opts = spec.partition(":")
    if not target.startswith("/"):
        raise ValueError(f"invalid tmpfs '{spec}' (the target must be an absolute path)")
    size = mode = None
    rest: list[str] = []
    for opt in filter(None, opts.split(",")):
        key, eq, value = opt.partition("=")
        if not eq:
            if key not in TMPFS_FLAGS:
                raise ValueError(f"invalid tmpfs option '{opt}' (use size=, mode= or mount "
                                 "flags like ro, noexec, nosuid)")
            rest.append(key)
        elif key == "size":
            size = parse_bytes(value)
            if size < 0:
                raise ValueError(f"invalid tmpfs size '{value}' (use a size like 64m)")
        elif key == "mode":
            if not value or any(c not in "01234567" for c in value) or int(value, 8) > 0o7777:
                raise ValueError(f"invalid tmpfs mode '{value}' (use octal permission bits "
                                 "like 1777)")
            mode = int(value, 8)
        elif key in _TMPFS_DATA:
            if not value:
                raise ValueError(f"invalid tmpfs option '{opt}' (a value is missing)")
            rest.append(opt)
        else:
            raise ValueError(f"invalid tmpfs option '{opt}' (use size=, mode= or mount flags "
                             "like ro, noexec, nosuid)")
    return target, size, mode, tuple(rest)


SECURITY_OPTS = ("no-new-privileges", "seccomp", "apparmor", "label", "systempaths")


def parse_security_opt(opt: object) -> tuple[str, str]:
    """A `security_opt` entry ("no-new-privileges:true", "seccomp=unconfined",
    "no-new-privileges") -> (key, value)."""
    if not isinstance(opt, str):
        raise ValueError("must be a string like no-new-privileges:true")
    key, _, value = opt.replace("=", ":", 1).partition(":")
    if key not in SECURITY_OPTS:
        raise ValueError(f"invalid security_opt '{opt}' (use no-new-privileges, "
                         "seccomp:PROFILE, apparmor:PROFILE, label:..., systempaths=unconfined)")
    if key == "no-new-privileges" and value not in ("", "true", "false"):
        raise ValueError(f"invalid security_opt '{opt}' (no-new-privileges takes true or "
                         "false)")
    if key != "no-new-privileges" and not value:
        raise ValueError(f"invalid security_opt '{opt}' ({key} needs a value, like "
                         f"{key}:unconfined)")
    if key == "systempaths" and value != "unconfined":
        raise ValueError(f"invalid security_opt '{opt}' (systempaths takes only unconfined)")
    return key, value
