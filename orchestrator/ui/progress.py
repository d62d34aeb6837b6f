"""Renderers of engine events (`--progress auto|tty|plain|json|quiet`), as Compose v2's
pkg/progress writers:

tty:   the live display (ui/tty.py): spinners and timers redrawn in place.
plain: one line per event, ` Container demo-web-1  Started` (plain.go's Println of the id, the
       text and the status).
json:  one object per event, json.go's fields: `{"id": "Container demo-web-1", "status":
       "Started"}` (`text`: the event's detail, e.g. an error; empty fields left out); warnings
       are logrus's JSON lines (`{"level": "warning", "msg": ..., "time": ...}`).
quiet: nothing but warnings and errors.
All of them write to stderr (stdout is container output).  Renderers are called from the
engine's threads; the Emitter serializes the calls.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import IO, Protocol

from pystack.orchestrator.engine.events import Event
from pystack.orchestrator.ui.tty import TtyRenderer, task_id

__all__ = ["JsonRenderer", "PlainRenderer", "QuietRenderer", "Renderer", "TtyRenderer",
           "make_renderer"]


class Renderer(Protocol):
    def __call__(self, event: Event) -> None: ...
    def close(self) -> None: ...


class QuietRenderer:
    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr

    def __call__(self, event: Event) -> None:
        if event.kind == "warning" or event.error:
            text = event.detail if event.kind == "warning" else f"{event.name} {event.detail}"
            self.out.write(f"WARN[0000] {text}\n" if event.kind == "warning" else f"{text}\n")
            self.out.flush()

    def close(self) -> None:
        pass


class PlainRenderer:
    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr
        self.layers: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if event.parent:
            # A pull's layer: a line when its status changes, not for every chunk.
            if self.layers.get(event.name) == event.status:
                return
            self.layers[event.name] = event.status
        if event.kind == "warning":
            line = f"WARN[0000] {event.detail}"
        else:
            line = f" {task_id(event)}  {event.status}"
            if event.detail:
                line += f" ({event.detail.splitlines()[0]})"
        self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        pass


class JsonRenderer:
    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr

    def __call__(self, event: Event) -> None:
        self.out.write(json.dumps(json_message(event)) + "\n")
        self.out.flush()

    def close(self) -> None:
        pass


def json_message(event: Event) -> dict[str, object]:
    """Compose's jsonMessage for an event (omitempty: no empty field)."""
    if event.kind == "warning":
        when = datetime.fromtimestamp(event.time, UTC).astimezone()
        return {"level": "warning", "msg": event.detail,
                "time": when.isoformat(timespec="seconds")}
    msg: dict[str, object] = {"id": task_id(event)}
    if event.parent:
        msg["parent_id"] = f"Image {event.parent}"
    if event.detail:
        msg["text"] = event.detail
    msg["status"] = event.status
    if event.current:
        msg["current"] = event.current
    if event.total:
        msg["total"] = event.total
        if event.current:
            msg["percent"] = min(100, event.current * 100 // event.total)
    return msg


def make_renderer(progress: str, no_color: bool = False, out: IO[str] | None = None,
                  title: str = "Running") -> Renderer:
    stream = out or sys.stderr
    if progress == "auto":
        progress = "tty" if stream.isatty() else "plain"
    if progress == "tty":
        from pystack.orchestrator.ui.logs import colours_wanted

        return TtyRenderer(stream, no_color or not colours_wanted(), title)
    if progress == "json":
        return JsonRenderer(stream)
    if progress == "quiet":
        return QuietRenderer(stream)
    return PlainRenderer(stream)


