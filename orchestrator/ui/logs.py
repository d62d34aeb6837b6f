"""Container output for people: `web-1  | line`, coloured per service, as Compose prints it
(attached `up`, `logs`).  Plain ANSI codes: this runs for every line."""

from __future__ import annotations

import sys
import threading
from typing import IO

from pystack.runtime.api import LogEntry

# Compose's rotation: cyan, yellow, green, magenta, blue, then the bright ones.
COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


def colours_wanted(ansi: str = "auto") -> bool:
    """NO_COLOR (any value) turns colours off, and so does `--ansi never` (COMPOSE_ANSI=never
    when no flag says otherwise), as in Compose."""
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if ansi == "auto":
        return os.environ.get("COMPOSE_ANSI") != "never"
    return ansi == "always"


class LogPrinter:
    def __init__(self, out: IO[str] | None = None, *, no_color: bool = False,
                 no_prefix: bool = False, timestamps: bool = False, width: int = 0,
                 ansi: str = "auto") -> None:
        self.out = out or sys.stdout
        isatty = getattr(self.out, "isatty", None)
        # `--ansi always` colours a pipe too; `auto` only a terminal.
        terminal = ansi == "always" or bool(isatty and isatty())
        self.no_color = no_color or not terminal or not colours_wanted(ansi)
        self.no_prefix = no_prefix
        self.timestamps = timestamps
        self.width = width
        self._colours: dict[str, str] = {}
        self._lock = threading.Lock()

    def colour(self, service: str) -> str:
        if service not in self._colours:
            self._colours[service] = COLOURS[len(self._colours) % len(COLOURS)]
        return self._colours[service]

    def prefix(self, label: str, service: str) -> str:
        if self.no_prefix:
            return ""
        text = f"{label.ljust(self.width)}  | "
        if self.no_color:
            return text
        return f"\x1b[{self.colour(service)}m{text}\x1b[0m"

    def line(self, label: str, service: str, entry: LogEntry) -> None:
        body = entry.line if entry.line.endswith("\n") else entry.line + "\n"
        if self.timestamps:
            body = f"{entry.time} {body}"
        with self._lock:
            self.out.write(self.prefix(label, service) + body)
            self.out.flush()

    def note(self, label: str, service: str, text: str) -> None:
        """`web-1 exited with code 0`: the label without the bar, as Compose."""
        head = label if self.no_color else f"\x1b[{self.colour(service)}m{label}\x1b[0m"
        with self._lock:
            self.out.write(f"{head} {text}\n")
            self.out.flush()


def short_label(project: str, container_name: str) -> str:
    """`demo-web-1` -> `web-1` (Compose v2's log prefix)."""
    prefix = f"{project}-"
    return container_name[len(prefix):] if container_name.startswith(prefix) else container_name
