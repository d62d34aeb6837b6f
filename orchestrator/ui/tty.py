"""The live progress display on a terminal, drawn as Compose v2's tty writer draws it
(pkg/progress/tty.go): a header `[+] Running 3/5` (done/all), then one line per object in order
of first appearance, redrawn in place every 100 ms by a ticker thread:

     ⠹ Container demo-db-1   Waiting                                     4.2s
     ✔ Container demo-web-1  Started                                     0.3s
     ✘ Container demo-api-1  Error exited (3)                            1.1s

The spinner turns while an object is in progress and its timer counts from the object's first
event to its last final one; `✔` done (green), `✘` error (red), `!` warning (yellow).  Each frame
moves the cursor up over the previous one (ESC[nA) and rewrites every line padded to the
terminal's width, so nothing is left of a longer earlier line; a block taller than the terminal
shows its first lines and ` ... N more`.  Warnings are printed above the block
(`WARN[0000] ...`), which moves down.

The clock and the terminal size are parameters: tests draw frames from a fake clock and compare
them with golden text; `tick=None` draws only on close() (and when asked).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from pystack.orchestrator.engine.events import Event

SPINNER = ("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")
FRAME = 0.1                             # seconds per spinner frame and between redraws
ICONS = {"done": "✔", "warning": "!", "error": "✘"}
# aec's colours as Compose uses them (pkg/progress/colors.go).
GREEN, RED_BOLD, YELLOW, YELLOW_BOLD, BLUE, RESET = (
    "\x1b[32m", "\x1b[31;1m", "\x1b[33m", "\x1b[33;1m", "\x1b[34m", "\x1b[0m")
STATE_COLOURS = {"done": GREEN, "error": RED_BOLD, "warning": YELLOW_BOLD}
HIDE, SHOW = "\x1b[?25l", "\x1b[?25h"

KIND_TITLES = {"container": "Container", "network": "Network", "volume": "Volume",
               "image": "Image", "project": "Project", "layer": ""}
PERCENT_CHARS = "⠀⡀⣀⣄⣤⣦⣶⣷⣿"       # a layer's share done, in the image's line


def task_id(event: Event) -> str:
    """Compose's ID of the object: `Container demo-web-1`, `Network demo_default`, a
    layer's short digest."""
    title = KIND_TITLES.get(event.kind, event.kind.title())
    return f"{title} {event.name}" if title else event.name


def parent_id(event: Event) -> str:
    """The task id of a layer's image ("" for the others)."""
    return f"Image {event.parent}" if event.parent else ""


def layer_progress(current: int, total: int) -> str:
    from pystack.orchestrator.ui.formats import human_size

    return f"{human_size(current, 4)} / {human_size(total, 4)}" if total else ""


def state_of(event: Event) -> str:
    """working | done | warning | error (Compose's EventStatus)."""
    if event.error:
        return "error"
    if event.status.startswith("Skipped"):
        return "warning"
    return "done" if event.done else "working"


@dataclass
class _Task:
    id: str
    status: str
    detail: str
    state: str
    start: float
    end: float | None                   # when it last turned final (None: in progress)
    parent: str = ""
    current: int = 0
    total: int = 0


class TtyRenderer:
    """A Renderer (see ui/progress.py) that animates the operation on a terminal."""

    def __init__(self, out: IO[str], no_color: bool = False, title: str = "Running", *,
                 clock: Callable[[], float] = time.monotonic, tick: float | None = FRAME,
                 size: Callable[[], tuple[int, int]] | None = None) -> None:
        self.out = out
        self.no_color = no_color
        self.title = title
        self.clock = clock
        self.tick = tick
        self.size = size or (lambda: _terminal_size(out))
        self.tasks: dict[str, _Task] = {}   # in order of first appearance
        self.warnings: list[str] = []       # not yet printed above the block
        self.lines = 0                      # lines of the block on screen (header included)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- events --------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        with self._lock:
            now = self.clock()
            if event.kind == "warning":
                self.warnings.append(event.detail)
            else:
                self._update(event, now)
            start = self._thread is None and self.tick is not None and not self._stop.is_set()
            if start:
                self._thread = threading.Thread(target=self._run, name="progress-tty",
                                                daemon=True)
        if start and self._thread is not None:
            self._thread.start()

    def _update(self, event: Event, now: float) -> None:
        state = state_of(event)
        t = self.tasks.get(task_id(event))
        if t is None:
            self.tasks[task_id(event)] = _Task(task_id(event), event.status, event.detail,
                                               state, now, None if state == "working" else now,
                                               parent_id(event), event.current, event.total)
            return
        t.current, t.total = max(t.current, event.current), max(t.total, event.total)
        if state == "working":
            t.end = None                    # in progress again: the spinner turns again
        elif t.state != state or t.end is None:
            t.end = now
        t.status, t.detail, t.state = event.status, event.detail, state

    # -- drawing -------------------------------------------------------------------------------
    def _run(self) -> None:
        assert self.tick is not None
        while not self._stop.wait(self.tick):
            self.frame()

    def frame(self) -> None:
        """Draw the block again over the previous one."""
        with self._lock:
            text = self.render()
            if text:
                self.out.write(text)
                self.out.flush()

    def render(self) -> str:
        """The next frame's bytes (cursor moves included); call with the lock held.  Empty
        when nothing has happened yet (an empty operation draws nothing)."""
        if not self.tasks and not self.warnings:
            return ""
        width, height = self.size()
        now = self.clock()
        parts = [f"\x1b[{self.lines}A\x1b[0G" if self.lines else "", HIDE]
        for w in self.warnings:
            parts.append(_pad(f"WARN[0000] {w}", width) + "\n")
        self.warnings.clear()
        if not self.tasks:
            self.lines = 0
            parts.append(SHOW)
            return "".join(parts)
        done = sum(1 for t in self.tasks.values() if t.state != "working")
        head = f"[+] {self.title} {done}/{len(self.tasks)}"
        if done == len(self.tasks):
            head = self._colour(BLUE, head)
        parts.append(_pad(head, width) + "\n")
        # A block taller than the terminal could not be redrawn in place: as Compose, the
        # first lines and ` ... N more`.
        tasks = [t for t in self.tasks.values() if not t.parent or t.parent not in self.tasks]
        for parent in [t for t in tasks if any(c.parent == t.id for c in self.tasks.values())]:
            at = tasks.index(parent) + 1
            tasks[at:at] = [c for c in self.tasks.values() if c.parent == parent.id]
        room = max(height - 2, 1)
        shown = tasks if len(tasks) <= room else tasks[:max(room - 1, 1)]
        id_width = max(len(t.id) + (2 if t.parent else 0) for t in shown)
        for t in shown:
            parts.append(self._line(t, id_width, width, now))
        if len(shown) < len(tasks):
            parts.append(_pad(f" ... {len(tasks) - len(shown)} more", width) + "\n")
        parts.append(SHOW)
        self.lines = 1 + len(shown) + (len(shown) < len(tasks))
        return "".join(parts)

    def _line(self, t: _Task, id_width: int, width: int, now: float) -> str:
        elapsed = (t.end if t.end is not None else now) - t.start
        if t.state == "working":
            icon = self._colour(YELLOW, SPINNER[int(elapsed / FRAME) % len(SPINNER)])
        else:
            icon = self._colour(STATE_COLOURS[t.state], ICONS[t.state])
        status = t.status
        if t.detail and t.state != "done":
            status += " " + t.detail.splitlines()[0]
        if t.state == "working":
            status = self._progress(t, status)
        timer = f"{elapsed:.1f}s "
        pad = "  " if t.parent else ""
        head = f"{pad} {icon} {t.id.ljust(id_width - len(pad))}  "
        room = width - _visible(head) - len(timer) - 1
        if room > 3 and len(status) > room:
            status = status[:room - 3] + "..."
        if t.state != "working":
            status = self._colour(STATE_COLOURS[t.state], status)
        left = head + status
        gap = max(width - _visible(left) - len(timer), 1)
        return left + " " * gap + self._colour(BLUE, timer) + "\n"

    def _progress(self, t: _Task, status: str) -> str:
        """A layer: `Downloading 1.2MB / 3.4MB`; an image: `[⣿⣀] 1.2MB / 3.4MB Pulling` over
        its layers (as Compose's tty writer: the sizes once every layer knows its size)."""
        if t.parent:
            sizes = layer_progress(t.current, t.total)
            return f"{status} {sizes}" if sizes else status
        children = [c for c in self.tasks.values() if c.parent == t.id]
        if not children:
            return status
        bars = "".join(PERCENT_CHARS[(len(PERCENT_CHARS) - 1) *
                                     min(100, c.current * 100 // c.total if c.total else
                                         (100 if c.state == "done" else 0)) // 100]
                       for c in children)
        known = all(c.total for c in children)
        sizes = layer_progress(sum(c.current for c in children),
                               sum(c.total for c in children)) if known else ""
        return f"[{bars}]" + (f" {sizes}" if sizes else "") + f" {status}"

    def _colour(self, code: str, text: str) -> str:
        return text if self.no_color else f"{code}{text}{RESET}"

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join()
        self.frame()


def _visible(text: str) -> int:
    """Width of text without its colour codes."""
    n, in_code = 0, False
    for ch in text:
        if ch == "\x1b":
            in_code = True
        elif in_code:
            in_code = ch != "m"
        else:
            n += 1
    return n


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _visible(text), 0)


def _terminal_size(out: IO[str]) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(out.fileno())
        return (size.columns or 80, size.lines or 24)
    except (OSError, ValueError, AttributeError):
        return (80, 24)
