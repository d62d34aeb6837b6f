"""Renderers of engine events (`--progress auto|tty|plain|json|quiet`).

tty:   Compose-style live lines, redrawn in place (rich Live): a spinner while an object is in
       progress, `✔ Container demo-web-1  Started  0.3s` when done, `✘` on error.
plain: one line per event, as Compose prints without a terminal.
json:  one JSON object per event (on stderr, like the others: stdout is container output).
quiet: nothing but warnings and errors.
Renderers are called from the engine's threads; the Emitter serializes the calls.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Any, Protocol

from pystack.orchestrator.engine.events import Event

KIND_TITLES = {"container": "Container", "network": "Network", "volume": "Volume",
               "image": "Image", "project": "Project"}


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

    def __call__(self, event: Event) -> None:
        if event.kind == "warning":
            line = f"WARN[0000] {event.detail}"
        else:
            title = KIND_TITLES.get(event.kind, event.kind.title())
            line = f" {title} {event.name}  {event.status}"
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
        self.out.write(json.dumps(event.as_dict()) + "\n")
        self.out.flush()

    def close(self) -> None:
        pass


class TtyRenderer:
    """A live view: one line per object, in order of first appearance."""

    def __init__(self, out: IO[str] | None = None, no_color: bool = False,
                 title: str = "Running") -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=out or sys.stderr, no_color=no_color, highlight=False)
        self.title = title
        self.lines: dict[tuple[str, str], Event] = {}
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self.live = Live(self, console=self.console, refresh_per_second=10, transient=False)
        self.started = False            # on the first event: an empty operation shows nothing

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            items = list(self.lines.values())
            warnings = list(self.warnings)
        done = sum(1 for e in items if e.done)
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column()
        table.add_column()
        table.add_column(justify="right")
        head = Text(f"[+] {self.title} {done}/{len(items)}", style="bold")
        for w in warnings:
            table.add_row(Text("!", style="yellow"), Text(w, style="yellow"), "", "")
        for e in items:
            icon: Any
            if e.error:
                icon = Text("✘", style="red")
            elif e.done:
                icon = Text("✔", style="green")
            else:
                icon = Spinner("dots", style="blue")
            title = KIND_TITLES.get(e.kind, e.kind.title())
            status = Text(e.status, style="red" if e.error else "green" if e.done else "blue")
            if e.error and e.detail:
                status.append(f" {e.detail.splitlines()[0]}", style="red")
            table.add_row(icon, f"{title} {e.name}", status, f"{e.elapsed:.1f}s")
        outer = Table.grid()
        outer.add_row(head)
        outer.add_row(table)
        return outer

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "warning":
                self.warnings.append(event.detail)
            else:
                self.lines[(event.kind, event.name)] = event
            start, self.started = not self.started, True
        if start:
            self.live.start()

    def close(self) -> None:
        if self.started:
            self.live.refresh()
            self.live.stop()


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
