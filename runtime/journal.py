"""The runtime's event journal: what happened to containers, in Docker's words, for `events`.

One append-only file of JSON lines, `$PYSTACK_ROOT/events.jsonl` (0600, in the root-only
state dir), written where each thing happens:

- the runtime client (linux_runtime.py): create, kill (signal), stop, destroy;
- the shim (shim.py, control.py), which alone sees them: start (every run, the restart policy's
  too, followed by `restart` for those), die (exitCode), pause, unpause,
  `health_status: healthy|unhealthy` on a change, `exec_create: CMD`, `exec_start: CMD`,
  `exec_die` (execID, exitCode).

A record is one write(2) of one line with O_APPEND, so writers in different processes never
interleave; it carries the container's name and labels, so a `destroy` still says whose it
was.  Past MAX_BYTES the file is renamed to `events.jsonl.1` (one generation kept) and a new
one started; a reader following it finishes the old file before it moves on.  Recording never
raises: a full disk loses events, never a container operation.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pystack.runtime.api import ContainerEvent

NAME = "events.jsonl"
MAX_BYTES = 4 << 20
POLL = 0.1              # seconds between two looks at the file when following it


def journal_path(root: Path) -> Path:
    return root / NAME


def record(root: Path, container_id: str, action: str, name: str = "",
           labels: Mapping[str, str] | None = None, **attributes: object) -> None:
    """Append one event (never raises)."""
    line = json.dumps({"t": time.time_ns(), "id": container_id, "a": action, "n": name,
                       "l": dict(labels or {}),
                       "x": {k: str(v) for k, v in attributes.items()}},
                      separators=(",", ":")).encode() + b"\n"
    path = journal_path(root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line)
        if os.fstat(fd).st_size > MAX_BYTES:
            os.replace(path, path.with_name(NAME + ".1"))
    except OSError:
        pass
    finally:
        os.close(fd)


def parse(line: bytes) -> ContainerEvent | None:
    try:
        raw: Any = json.loads(line)
        return ContainerEvent(
            time_ns=int(raw["t"]), id=str(raw["id"]), action=str(raw["a"]),
            name=str(raw.get("n", "")),
            labels={str(k): str(v) for k, v in dict(raw.get("l") or {}).items()},
            attributes={str(k): str(v) for k, v in dict(raw.get("x") or {}).items()})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _lines(f: Any, rest: bytes) -> tuple[list[bytes], bytes]:
    data = rest + f.read()
    *lines, rest = data.split(b"\n")
    return lines, rest


def read(root: Path, since_ns: int | None = None, until_ns: int | None = None,
         follow: bool = False) -> Iterator[ContainerEvent]:
    """The events recorded at or after `since_ns` (None: from now on only), in order; with
    `follow`, then every new one as it is written, until `until_ns` (wall clock) if given."""
    path = journal_path(root)
    skip_to_end = since_ns is None
    if since_ns is None:
        since_ns = time.time_ns()
    else:
        try:
            with open(path.with_name(NAME + ".1"), "rb") as old:
                lines, _ = _lines(old, b"")
            for ln in lines:
                ev = parse(ln)
                if ev is not None and ev.time_ns >= since_ns:
                    if until_ns is not None and ev.time_ns > until_ns:
                        return
                    yield ev
        except OSError:
            pass
    f = None
    rest = b""
    try:
        while True:
            if f is None:
                try:
                    f = open(path, "rb")        # noqa: SIM115 (kept across yields)
                    if skip_to_end:
                        f.seek(0, os.SEEK_END)
                except OSError:
                    f = None
                skip_to_end = False
            if f is not None:
                lines, rest = _lines(f, rest)
                for ln in lines:
                    ev = parse(ln)
                    if ev is None or ev.time_ns < since_ns:
                        continue
                    if until_ns is not None and ev.time_ns > until_ns:
                        return
                    yield ev
                try:
                    moved = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
                except OSError:
                    moved = False
                if moved:               # rotated: what was left of it is read, go on anew
                    lines, rest = _lines(f, rest)
                    for ln in lines:
                        ev = parse(ln)
                        if ev is not None:
                            yield ev
                    f.close()
                    f, rest = None, b""
                    continue
            if not follow or (until_ns is not None and time.time_ns() > until_ns):
                return
            time.sleep(POLL)
    finally:
        if f is not None:
            f.close()
