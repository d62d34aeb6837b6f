"""Docker json-file logs: the shim's writer (with max-size/max-file rotation) and the reader.

One JSON object per line, {"log": "...\\n", "stream": "stdout", "time": "<RFC 3339 nanos>Z"};
the current file is <id>-json.log, rotated ones are .1 (newest) ... .N-1 (oldest), as Docker's
jsonfilelog driver names them.  Lines longer than 16 KiB are split like Docker does.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pystack.runtime.api import LogEntry

MAX_LINE = 16 * 1024


def now_rfc3339() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class LogWriter:
    """Appends records to `path`, rotating when the next record would pass `max_size`."""

    def __init__(self, path: Path, max_size: int | None = None, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.dropped = 0                # records that could not be written

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_file > 1:
            for i in range(self.max_file - 1, 0, -1):
                src = self.path if i == 1 else self.path.with_name(f"{self.path.name}.{i - 1}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i}"))
        else:
            os.truncate(self.path, 0)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640)
        self._size = 0

    def _record(self, stream: str, line: bytes) -> None:
        rec = json.dumps({"log": line.decode(errors="replace"), "stream": stream,
                          "time": now_rfc3339()}, ensure_ascii=False, separators=(",", ":"))
        raw = rec.encode() + b"\n"
        try:
            if self.max_size and self._size and self._size + len(raw) > self.max_size:
                self._rotate()
            n = os.write(self._fd, raw)
            if n < len(raw):            # the disk filled up mid-record: no half line
                os.ftruncate(self._fd, self._size)
                raise OSError(28, "No space left on device")
        except OSError:
            # A full (or failing) disk loses log lines, never the supervision: the shim
            # goes on reaping, probing and answering.  Counted, said in state.json.
            self.dropped += 1
            return
        self._size += len(raw)

    def write(self, stream: str, data: bytes) -> None:
        """Feed raw output of `stream`; complete lines become records."""
        buf = self._partial[stream] + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[:nl + 1], buf[nl + 1:]
            while len(line) > MAX_LINE:
                self._record(stream, line[:MAX_LINE])
                line = line[MAX_LINE:]
            self._record(stream, line)
        while len(buf) >= MAX_LINE:
            self._record(stream, buf[:MAX_LINE])
            buf = buf[MAX_LINE:]
        self._partial[stream] = buf

    def flush(self) -> None:
        """Write any partial line (at exit of the container)."""
        for stream, buf in self._partial.items():
            if buf:
                self._record(stream, buf)
                self._partial[stream] = b""

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


def _files(path: Path) -> list[Path]:
    rotated = []
    i = 1
    while True:
        p = path.with_name(f"{path.name}.{i}")
        if not p.exists():
            break
        rotated.append(p)
        i += 1
    return [*reversed(rotated), path]


def _parse(raw: bytes) -> LogEntry | None:
    try:
        d = json.loads(raw)
        if not isinstance(d, dict):
            return None                 # a torn or foreign line that happens to be JSON
        stream = "stderr" if d.get("stream") == "stderr" else "stdout"
        if stream == "stderr":
            return LogEntry(stream="stderr", time=str(d["time"]), line=str(d["log"]))
        return LogEntry(stream="stdout", time=str(d["time"]), line=str(d["log"]))
    except (ValueError, KeyError, TypeError):
        return None


def _keep(e: LogEntry, since: str | None, until: str | None) -> bool:
    return (since is None or e.time >= since) and (until is None or e.time <= until)


def read_file(p: Path, since: str | None = None, until: str | None = None) -> list[LogEntry]:
    out: list[LogEntry] = []
    try:
        with open(p, "rb") as f:
            for raw in f:
                e = _parse(raw)
                if e is not None and _keep(e, since, until):
                    out.append(e)
    except FileNotFoundError:
        pass
    return out


def read(path: Path, tail: int | None = None, since: str | None = None,
         until: str | None = None) -> list[LogEntry]:
    out: list[LogEntry] = []
    for p in _files(path):
        out.extend(read_file(p, since, until))
    if tail is not None and tail >= 0:
        out = out[-tail:] if tail else []
    return out


def follow(path: Path, running: Callable[[], bool], tail: int | None = None,
           since: str | None = None, until: str | None = None,
           poll: float = 0.05) -> Iterator[LogEntry]:
    """The existing entries, then new ones as they are written, until `running()` is False."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - held across yields
    except FileNotFoundError:
        return
    try:
        # The backlog comes from the same open file we then follow: nothing falls in between.
        backlog: list[LogEntry] = []
        for p in _files(path)[:-1]:
            backlog.extend(read_file(p, since, until))
        *lines, buf = f.read().split(b"\n")
        for raw in lines:
            e = _parse(raw)
            if e is not None and _keep(e, since, until):
                backlog.append(e)
        if tail is not None and tail >= 0:
            backlog = backlog[-tail:] if tail else []
        yield from backlog
        ino = os.fstat(f.fileno()).st_ino
        last = False
        while True:
            chunk = f.read()
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    e = _parse(raw)
                    if e is not None and _keep(e, since, until):
                        yield e
                continue
            try:
                if os.stat(path).st_ino != ino:      # rotated: continue in the new file
                    f.close()
                    f = open(path, "rb")  # noqa: SIM115
                    ino = os.fstat(f.fileno()).st_ino
                    continue
            except FileNotFoundError:
                return
            if last:
                return
            if not running():
                last = True     # one more read: the final lines land before the exit is saved
                continue
            time.sleep(poll)
    finally:
        f.close()
