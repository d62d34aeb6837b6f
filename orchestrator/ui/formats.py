"""What `ps` prints, as Compose does: the table (NAME IMAGE COMMAND SERVICE CREATED STATUS
PORTS, CREATED as "5 minutes ago"), `--format json` (one object per line, `Publishers` a
list of {URL, TargetPort, PublishedPort, Protocol}), and Go-template formats for the fields
Compose offers (`{{.Name}}`, `table {{.Service}}\\t{{.Status}}`)."""

from __future__ import annotations

import re
import time
from calendar import timegm
from collections.abc import Mapping, Sequence
from typing import Any

from pystack.orchestrator.errors import OrchestratorError

PS_COLUMNS = ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
_FIELD = re.compile(r"{{\s*(?:json\s+)?\.(\w*)\s*}}")


def ago(rfc3339: str, now: float | None = None) -> str:
    """Docker's "N units ago" for an RFC 3339 time ("" when unknown)."""
    try:
        when = timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return ""
    secs = max(0, int((time.time() if now is None else now) - when))
    for unit, size in (("year", 31536000), ("month", 2592000), ("week", 604800),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= size:
            n = secs // size
            return f"{'About an' if n == 1 and unit == 'hour' else n} {unit}" \
                   f"{'s' if n > 1 else ''} ago"
    return f"{secs} second{'s' if secs != 1 else ''} ago" if secs else "Less than a second ago"


def publishers(ports: Sequence[Any]) -> list[dict[str, object]]:
    return [{"URL": p.host_ip or "0.0.0.0", "TargetPort": p.target,
             "PublishedPort": int(p.published), "Protocol": p.protocol} for p in ports]


def template(fmt: str, rows: Sequence[Mapping[str, object]]) -> list[str]:
    """Render a Go-template `fmt` for each row; `table ...` adds a header line."""
    table = fmt.startswith("table ")
    body = fmt[len("table "):] if table else fmt
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    known = set(rows[0]) if rows else set()
    for m in _FIELD.finditer(body):
        if rows and m.group(1) not in known:
            raise OrchestratorError(
                f"--format: {m.group(0)} is not a field",
                hint="fields: " + ", ".join(sorted(known)))
    out = []
    if table:
        out.append(_FIELD.sub(lambda m: _header(m.group(1)), body))
    for r in rows:
        def field(m: re.Match[str], r: Mapping[str, object] = r) -> str:
            return _text(r[m.group(1)]) if m.group(1) else str(dict(r))
        out.append(_FIELD.sub(field, body))
    return out


def _header(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper()


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
