"""The text people read, laid out as the docker CLI lays it out (docker/cli formatter):

- `tabwrite`: Go's text/tabwriter (tab-terminated cells aligned per column block, minimum
  width and padding; the last cell of a line is never padded), with the docker formatter's
  settings by default (minwidth 10, padding 3);
- `template`: the `--format` language for the fields a command offers: `table` (the default
  columns), `json` (one object per line, keys sorted, as the formatter's MarshalJSON), and
  Go templates (`{{.Name}}`, `{{ json .Ports }}`, `{{json .}}`, `table {{.Service}}\\t...`
  with the column headers Compose names); an unknown field is an error;
- units as go-units prints them: `bytes_size` (binary, "5.629MiB"), `human_size` (decimal,
  3 digits, "147kB"); `ago` ("5 minutes ago");
- what `ps` prints: Compose's columns, `Publishers`.
"""

from __future__ import annotations

import json
import re
import time
from calendar import timegm
from collections.abc import Mapping, Sequence
from typing import Any

from pystack.orchestrator.errors import UsageError

PS_TABLE = ("table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t"
            "{{.Status}}\t{{.Ports}}")
PS_FIELDS = ("ID", "Name", "Image", "Command", "Project", "Service", "Created", "CreatedAt",
             "RunningFor", "State", "Status", "Health", "ExitCode", "Publishers", "Ports")
PS_HEADERS = {"ID": "CONTAINER ID", "Name": "NAME", "Project": "PROJECT", "Service": "SERVICE",
              "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
              "Status": "STATUS", "Health": "HEALTH", "ExitCode": "EXIT CODE",
              "Publishers": "PUBLISHERS", "Labels": "LABELS"}
_FIELD = re.compile(r"{{-?\s*(json\s+)?\.(\w*)\s*-?}}")


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


def command_text(command: str, trunc: bool, quote: bool = False) -> str:
    """A container's command as `ps` shows it: `command` is the JSON-quoted text the engine
    describes; Compose cuts it to 20 characters ("…" last) and Go-quotes it in tables."""
    try:
        raw = json.loads(command)
    except ValueError:
        raw = command
    text = str(raw)
    if trunc and len(text) > 20:
        text = text[:19] + "…"
    return json.dumps(text, ensure_ascii=False) if quote else text


def go_time(rfc3339: str) -> str:
    """Go's time.Time.String() of an RFC 3339 UTC time ("2026-12-03 13:00:00 +0000 UTC")."""
    try:
        t = time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", t)


def publishers(ports: Sequence[Any]) -> list[dict[str, object]]:
    return [{"URL": p.host_ip or "0.0.0.0", "TargetPort": p.target,
             "PublishedPort": int(p.published), "Protocol": p.protocol} for p in ports]


# --- units (github.com/docker/go-units) ------------------------------------------------------

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _custom_size(fmt: str, size: float, base: float, names: Sequence[str]) -> str:
    i = 0
    while size >= base and i < len(names) - 1:
        size /= base
        i += 1
    return (fmt % size) + names[i]


def bytes_size(size: float) -> str:
    """go-units BytesSize: "%.4g" of binary units ("5.629MiB", "0B")."""
    return _custom_size("%.4g", size, 1024.0, _BINARY)


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units ("147kB", "2.48kB", "0B")."""
    return _custom_size(f"%.{precision}g", size, 1000.0, _DECIMAL)


def percent(value: float) -> str:
    return f"{value:.2f}%"


# --- layout ------------------------------------------------------------------------------------


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (padchar ' ', no flags) over `text`: a cell is text ended by a tab;
    a column block is a run of consecutive lines having that cell; each cell of a block is
    padded to max(minwidth, widest + padding)."""
    trailing = text.endswith("\n")
    lines = [ln.split("\t") for ln in (text[:-1] if trailing else text).split("\n")]
    out: list[str] = []
    _format(lines, 0, len(lines), [], minwidth, padding, out)
    return "\n".join(out) + ("\n" if trailing else "")


def _format(lines: list[list[str]], line0: int, line1: int, widths: list[int], minwidth: int,
            padding: int, out: list[str]) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, line0, this, widths, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format(lines, line0, this, [*widths, width], minwidth, padding, out)
        line0 = this
    _write(lines, line0, line1, widths, out)


def _write(lines: list[list[str]], line0: int, line1: int, widths: list[int],
           out: list[str]) -> None:
    for cells in lines[line0:line1]:
        out.append("".join(c.ljust(widths[j]) if j < len(widths) else c
                           for j, c in enumerate(cells)))


# --- --format ----------------------------------------------------------------------------------


def go_json(value: object) -> str:
    """encoding/json's text of the formatter's map (its keys sorted; the values, structs in
    Go, keep their field order): compact, <>& escaped."""
    if isinstance(value, Mapping):
        value = {k: value[k] for k in sorted(value)}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(fmt: str, rows: Sequence[Mapping[str, object]], default: str,
           headers: Mapping[str, str] | None = None) -> list[str]:
    """The lines `--format fmt` prints for `rows` (each a field -> value mapping, in the
    order the command lists its fields): "table" is the command's `default` table template,
    "json" one object per row.  The fields known are the `headers`' keys."""
    if fmt == "json":
        return [go_json(dict(r)) for r in rows]
    return template(default if fmt == "table" else fmt, rows, headers, tuple(headers or ()))


def template(fmt: str, rows: Sequence[Mapping[str, object]],
             headers: Mapping[str, str] | None = None, fields: Sequence[str] = ()) -> list[str]:
    """Render a Go-template `fmt` for each row; `table ...` adds a header line and aligns
    the columns (tabwrite).  `fields` are the known field names (default: the first row's)."""
    table = fmt.startswith("table")
    body = fmt[len("table"):].strip(" ") if table else fmt
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    known = set(fields) or (set(rows[0]) if rows else set())
    for m in _FIELD.finditer(body):
        name = m.group(2)
        if known and name and name not in known:
            raise UsageError(
                f"--format: {m.group(0)} is not a field",
                hint="fields: " + ", ".join(sorted(known)))
    out = []
    if table:
        out.append(_FIELD.sub(lambda m: _header(m.group(2), headers), body))
    for r in rows:
        def field(m: re.Match[str], r: Mapping[str, object] = r) -> str:
            name = m.group(2)
            value: object = dict(r) if not name else r.get(name, "")
            return go_json(value) if m.group(1) or not name else _text(value)
        out.append(_FIELD.sub(field, body))
    if table:
        return tabwrite("\n".join(out)).split("\n")
    return out


def _header(name: str, headers: Mapping[str, str] | None) -> str:
    if headers and name in headers:
        return headers[name]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper()


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
