"""The progress events the engine emits while it works; renderers (orchestrator/ui) draw them.
(`pystack events` streams something else: the runtime's container journal, runtime/journal.py.)

An event names one object (a container, network, volume or image) and what just happened to
it, in Compose's words ("Creating", "Created", "Started", "Healthy", ...).  `done` says whether
the object reached a final state for this operation (the tty renderer ticks it off), `error`
whether that final state is a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["container", "network", "volume", "image", "layer", "project", "warning"]

# Statuses that finish an object's line; the others are "in progress".
FINAL = frozenset({
    "Created", "Started", "Running", "Healthy", "Exited", "Stopped", "Removed", "Pulled",
    "Skipped", "Error", "Unhealthy", "Killed", "Paused", "Unpaused", "Restarted", "Recreated",
    "Waiting done", "Exists", "Warning", "Built", "Pull complete", "Already exists", "Pushed",
})
ERRORS = frozenset({"Error", "Unhealthy"})


@dataclass(frozen=True)
class Event:
    kind: Kind
    name: str                           # "demo-web-1", "demo_default", "local/busybox:latest"
    status: str                         # "Creating", "Created", "Starting", "Started", ...
    detail: str = ""                    # a message (an error's text, a skip reason)
    elapsed: float = 0.0                # seconds since this object's first event
    service: str = ""                   # for containers
    time: float = field(default_factory=time.time)
    parent: str = ""                    # a layer's image (its line goes under the image's)
    current: int = 0                    # bytes done / of total, for a layer's progress
    total: int = 0

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def error(self) -> bool:
        return self.status in ERRORS

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "status": self.status,
                "detail": self.detail, "elapsed": round(self.elapsed, 3),
                "service": self.service, "time": self.time}


Sink = Callable[[Event], None]


def discard(event: Event) -> None:
    """A sink that drops every event."""


class Emitter:
    """Stamps events with the time since each object's first event and forwards them to a
    sink; safe to call from the engine's worker threads."""

    def __init__(self, sink: Sink = discard) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._started: dict[tuple[str, str], float] = {}
        self.history: list[Event] = []

    def __call__(self, kind: Kind, name: str, status: str, detail: str = "",
                 service: str = "", *, parent: str = "", current: int = 0,
                 total: int = 0) -> Event:
        now = time.monotonic()
        with self._lock:
            key = (kind, name)
            t0 = self._started.setdefault(key, now)
            ev = Event(kind=kind, name=name, status=status, detail=detail,
                       elapsed=now - t0, service=service, parent=parent, current=current,
                       total=total)
            if ev.done:
                # The next operation on this object starts its own clock.
                self._started.pop(key, None)
            self.history.append(ev)
            self._sink(ev)
        return ev

    def warn(self, message: str) -> None:
        self("warning", "", "Warning", message)


LAYER_WORDS = {"downloading": "Downloading", "extracting": "Extracting", "done": "Pull complete",
               "exists": "Already exists", "pushing": "Pushing", "pushed": "Pushed"}


class LayerFeed:
    """The image store's pull progress callback (layer digest, status, done, total bytes) ->
    `layer` events under the image's line, as Compose shows a pull's layers: at most one
    event per layer every `every` seconds while the status stays the same."""

    def __init__(self, emit: Emitter, image: str, every: float = 0.1) -> None:
        self.emit = emit
        self.image = image
        self.every = every
        self._last: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, digest: str, status: str, done: int, total: int) -> None:
        layer = digest.removeprefix("sha256:")[:12]
        text = LAYER_WORDS.get(status, status.capitalize())
        now = time.monotonic()
        with self._lock:
            prev = self._last.get(layer)
            if prev and prev[0] == text and now - prev[1] < self.every:
                return
            self._last[layer] = (text, now)
        self.emit("layer", layer, text, parent=self.image, current=done, total=total)
