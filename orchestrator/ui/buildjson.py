"""`--progress json` of builds: BuildKit's rawjson stream, as `docker compose --progress json
build` prints it (Compose hands the build to buildx with `--progress rawjson`): one
client.SolveStatus object per line, `{"vertexes": [{"digest", "name", "started", "completed",
"cached", "error"}], "logs": [{"vertex", "stream", "data" (base64), "timestamp"}], "statuses":
[...]}`, empty fields left out as Go's omitempty does.

A step's digest is made from its number and name (pystack's builder has no LLB digests);
times are RFC 3339 with nanoseconds, as Go's time.Time marshals.  The clock is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any, Protocol


class BuildEvent(Protocol):
    """runtime.build.request.Event, as far as this reads it (ui imports no runtime)."""

    @property
    def kind(self) -> str: ...          # start | cached | done | output | error | info
    @property
    def number(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def text(self) -> str: ...


def rfc3339(t: float) -> str:
    secs = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + \
        f".{min(round((t - secs) * 1e9), 999_999_999):09d}Z"


class RawJson:
    """Build events -> SolveStatus dicts (keeps each step's name and start time)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.steps: dict[int, tuple[str, str]] = {}     # number -> (name, started)

    def digest(self, number: int) -> str:
        name = self.steps.get(number, ("", ""))[0]
        return "sha256:" + hashlib.sha256(f"{number}\0{name}".encode()).hexdigest()

    def __call__(self, e: BuildEvent) -> dict[str, Any]:
        now = rfc3339(self.clock())
        if e.number not in self.steps or e.kind == "start":
            self.steps[e.number] = (e.name or self.steps.get(e.number, ("", ""))[0], now)
        name, started = self.steps[e.number]
        vertex: dict[str, Any] = {"digest": self.digest(e.number), "name": name,
                                  "started": started}
        if e.kind == "output":
            data = base64.b64encode((e.text + "\n").encode()).decode()
            return {"logs": [{"vertex": vertex["digest"], "stream": 1, "data": data,
                              "timestamp": now}]}
        if e.kind == "info":
            return {"statuses": [{"id": e.text, "vertex": vertex["digest"], "name": e.text,
                                  "current": 0, "timestamp": now, "started": started,
                                  "completed": now}]}
        if e.kind in ("cached", "done", "error"):
            vertex["completed"] = now
        if e.kind == "cached":
            vertex["cached"] = True
        if e.kind == "error":
            vertex["error"] = e.text
        return {"vertexes": [vertex]}
