"""Golden outputs of the progress writers (ui/tty.py, ui/progress.py) driven by a fake clock
and fake events: the spinner frames and timers, the header count, `✘` for a failed step,
warnings above the block, cursor-up redraws; plain lines; Compose's JSON messages."""

from __future__ import annotations

import io
import json
import threading

from pystack.orchestrator.engine.events import Emitter
from pystack.orchestrator.ui.progress import JsonRenderer, PlainRenderer, make_renderer
from pystack.orchestrator.ui.tty import TtyRenderer

UP = "\x1b[4A\x1b[0G"
HIDE, SHOW = "\x1b[?25l", "\x1b[?25h"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tty(clock: Clock, no_color: bool = True) -> tuple[TtyRenderer, io.StringIO, Emitter]:
    out = io.StringIO()
    r = TtyRenderer(out, no_color=no_color, clock=clock, tick=None, size=lambda: (60, 24))
    return r, out, Emitter(r)


def take(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def test_frames_timers_header_and_error_golden() -> None:
    clock = Clock()
    r, out, em = tty(clock)
    em("network", "demo_default", "Creating")
    clock.now = 0.1
    em("network", "demo_default", "Created")
    em("container", "demo-db-1", "Creating")
    em("container", "demo-web-1", "Creating")
    clock.now = 0.3
    em("container", "demo-db-1", "Created")
    em("container", "demo-web-1", "Created")
    em("container", "demo-db-1", "Starting")
    r.frame()
    assert take(out) == (
        HIDE +
        "[+] Running 2/3                                             \n"
        " ✔ Network demo_default  Created                       0.1s \n"
        " ⠙ Container demo-db-1   Starting                      0.2s \n"
        " ✔ Container demo-web-1  Created                       0.2s \n" + SHOW)
    clock.now = 0.5
    em("container", "demo-db-1", "Started")
    em("container", "demo-db-1", "Waiting")
    clock.now = 0.85                    # the spinner moved on, the timer runs
    r.frame()
    assert take(out) == (
        UP + HIDE +
        "[+] Running 2/3                                             \n"
        " ✔ Network demo_default  Created                       0.1s \n"
        " ⠧ Container demo-db-1   Waiting                       0.8s \n"
        " ✔ Container demo-web-1  Created                       0.2s \n" + SHOW)
    clock.now = 1.25
    r.frame()
    assert " ⠙ Container demo-db-1   Waiting                       1.1s \n" in take(out)
    em.warn("careful")
    clock.now = 2.0
    em("container", "demo-db-1", "Error", "is unhealthy\nlast log lines")
    clock.now = 9.0                     # final lines keep their time
    r.close()
    assert take(out) == (
        UP + HIDE +
        "WARN[0000] careful                                          \n"
        "[+] Running 3/3                                             \n"
        " ✔ Network demo_default  Created                       0.1s \n"
        " ✘ Container demo-db-1   Error is unhealthy            1.9s \n"
        " ✔ Container demo-web-1  Created                       0.2s \n" + SHOW)


def test_spinner_turns_every_100ms() -> None:
    clock = Clock()
    r, out, em = tty(clock)
    em("container", "demo-db-1", "Stopping")
    frames = []
    for i in range(11):
        clock.now = i * 0.1 + 0.05
        r.frame()
        frames.append(take(out).split("\n")[1][1])
    assert "".join(frames) == "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏⠋"


def test_colours_and_long_errors_are_cut_to_the_width() -> None:
    clock = Clock()
    r, out, em = tty(clock, no_color=False)
    em("container", "demo-web-1", "Started")
    em("container", "demo-db-1", "Error", "x" * 100)
    r.close()
    text = take(out)
    assert "\x1b[32m✔\x1b[0m Container demo-web-1  \x1b[32mStarted\x1b[0m" in text
    assert "\x1b[31;1m✘\x1b[0m Container demo-db-1   \x1b[31;1mError xxx" in text
    assert "[+] Running 2/2" in text and "\x1b[34m0.0s \x1b[0m" in text
    line = next(ln for ln in text.split("\n") if "demo-db-1" in ln)
    plain = line.replace("\x1b[31;1m", "").replace("\x1b[34m", "").replace("\x1b[0m", "")
    assert len(plain) == 60 and plain.endswith("... 0.0s ")


def test_an_empty_operation_draws_nothing_and_warnings_alone_print() -> None:
    clock = Clock()
    r, out, em = tty(clock)
    r.close()
    assert out.getvalue() == ""
    r, out, em = tty(clock)
    em.warn("nothing to do")
    r.close()
    assert out.getvalue() == HIDE + "WARN[0000] nothing to do" + " " * 36 + "\n" + SHOW


def test_the_ticker_redraws_without_events() -> None:
    """A thread draws a frame per tick (no busy loop: it waits on an Event between them)."""
    frames = threading.Semaphore(0)

    class Out(io.StringIO):
        def flush(self) -> None:
            frames.release()

    clock = Clock()
    out = Out()
    r = TtyRenderer(out, no_color=True, clock=clock, tick=0.01, size=lambda: (60, 24))
    Emitter(r)("container", "demo-db-1", "Waiting")
    for i in range(3):
        clock.now = 0.1 * (i + 1)
        assert frames.acquire(timeout=30)
    r.close()
    assert out.getvalue().count("[+] Running 0/1") >= 3
    assert r._thread is not None and not r._thread.is_alive()


def test_plain_lines_golden() -> None:
    out = io.StringIO()
    em = Emitter(PlainRenderer(out))
    em("container", "demo-web-1", "Started")
    em.warn("careful")
    em("container", "demo-db-1", "Error", "boom\nmore")
    em("volume", "demo_data", "Removed")
    assert out.getvalue() == (" Container demo-web-1  Started\nWARN[0000] careful\n"
                              " Container demo-db-1  Error (boom)\n"
                              " Volume demo_data  Removed\n")


def test_json_messages_are_composes() -> None:
    out = io.StringIO()
    em = Emitter(JsonRenderer(out))
    em("network", "demo_default", "Created")
    em("container", "demo-db-1", "Error", "exited (3)")
    em.warn("careful")
    lines = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert lines[0] == {"id": "Network demo_default", "status": "Created"}
    assert lines[1] == {"id": "Container demo-db-1", "status": "Error", "text": "exited (3)"}
    assert lines[2]["level"] == "warning" and lines[2]["msg"] == "careful"
    assert set(lines[2]) == {"level", "msg", "time"}


def test_auto_is_plain_off_a_terminal() -> None:
    assert isinstance(make_renderer("auto", out=io.StringIO()), PlainRenderer)


def test_a_block_taller_than_the_terminal_is_cut() -> None:
    clock = Clock()
    out = io.StringIO()
    r = TtyRenderer(out, no_color=True, clock=clock, tick=None, size=lambda: (40, 6))
    em = Emitter(r)
    for i in range(6):
        em("container", f"demo-web-{i}", "Started")
    r.frame()
    lines = take(out).removeprefix(HIDE).removesuffix(SHOW).split("\n")
    assert [ln.rstrip() for ln in lines] == [
        "[+] Running 6/6", " ✔ Container demo-web-0  Started   0.0s",
        " ✔ Container demo-web-1  Started   0.0s",
        " ✔ Container demo-web-2  Started   0.0s", " ... 3 more", ""]
    r.frame()
    assert take(out).startswith("\x1b[5A")       # up over the 5 lines drawn, no more


def test_a_pull_shows_its_layers_under_the_image() -> None:
    clock = Clock()
    r, out, em = tty(clock)
    r.size = lambda: (70, 24)
    em("image", "local/app:1", "Pulling")
    em("layer", "aaaaaaaaaaaa", "Downloading", parent="local/app:1", current=1_500_000,
       total=3_000_000)
    em("layer", "bbbbbbbbbbbb", "Already exists", parent="local/app:1", current=10, total=10)
    em("container", "demo-web-1", "Creating")
    clock.now = 0.25
    r.frame()
    assert take(out) == (
        HIDE +
        "[+] Running 1/4                                                       \n"
        " ⠹ Image local/app:1     [⣤⣿] 1.5MB / 3MB Pulling                0.2s \n"
        "   ⠹ aaaaaaaaaaaa        Downloading 1.5MB / 3MB                 0.2s \n"
        "   ✔ bbbbbbbbbbbb        Already exists                          0.0s \n"
        " ⠹ Container demo-web-1  Creating                                0.2s \n" + SHOW)


def test_layers_in_plain_and_json() -> None:
    out = io.StringIO()
    em = Emitter(PlainRenderer(out))
    for done in (1, 2, 3):
        em("layer", "aaaaaaaaaaaa", "Downloading", parent="x:1", current=done, total=4)
    em("layer", "aaaaaaaaaaaa", "Pull complete", parent="x:1", current=4, total=4)
    assert out.getvalue() == " aaaaaaaaaaaa  Downloading\n aaaaaaaaaaaa  Pull complete\n"
    out = io.StringIO()
    Emitter(JsonRenderer(out))("layer", "aaaaaaaaaaaa", "Downloading", parent="x:1",
                               current=1, total=4)
    assert json.loads(out.getvalue()) == {"id": "aaaaaaaaaaaa", "parent_id": "Image x:1",
                                          "status": "Downloading", "current": 1, "total": 4,
                                          "percent": 25}
