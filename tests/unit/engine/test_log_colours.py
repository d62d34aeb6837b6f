"""Log prefixes are coloured on a terminal unless NO_COLOR or COMPOSE_ANSI=never says no
(Compose's rules); `exited with code` lines carry the label without the bar."""

from __future__ import annotations

import io

import pytest

from pystack.orchestrator.ui.logs import LogPrinter
from pystack.runtime.api import LogEntry


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("env, coloured", [({}, True), ({"NO_COLOR": "1"}, False),
                                           ({"COMPOSE_ANSI": "never"}, False)])
def test_colours(env: dict[str, str], coloured: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("COMPOSE_ANSI", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = Tty()
    p = LogPrinter(out, width=5)
    p.line("web-1", "web", LogEntry("stdout", "2026-01-01T00:00:00.000000000Z", "hi\n"))
    p.note("web-1", "web", "exited with code 3")
    text = out.getvalue()
    assert ("\x1b[" in text) is coloured
    plain = text.replace("\x1b[36m", "").replace("\x1b[0m", "")
    assert plain == "web-1  | hi\nweb-1 exited with code 3\n"


@pytest.mark.parametrize("ansi, env, tty, coloured", [
    ("always", {}, False, True),                 # --ansi always: a pipe gets colours too
    ("always", {"NO_COLOR": "1"}, True, False),  # NO_COLOR wins, as in Compose
    ("always", {"COMPOSE_ANSI": "never"}, True, True),   # the flag beats the variable
    ("never", {}, True, False),
    ("auto", {}, False, False),
])
def test_ansi_flag(ansi: str, env: dict[str, str], tty: bool, coloured: bool,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("COMPOSE_ANSI", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = Tty() if tty else io.StringIO()
    LogPrinter(out, width=5, ansi=ansi).line(
        "web-1", "web", LogEntry("stdout", "2026-01-01T00:00:00.000000000Z", "hi\n"))
    assert ("\x1b[" in out.getvalue()) is coloured
