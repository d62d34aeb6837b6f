"""Progress and `up --wait` on the real kernel: the tty display animating in a real
pseudo-terminal while a dependency's healthcheck holds `up`, and `up --wait` ending with the
reason (a crash loop with its restarts and last log lines, an exit with its code, the
--wait-timeout) instead of waiting silently."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest

from tests.integration.stack.conftest import Project, pystack_argv
from tests.integration.stack.test_dead_shim import GATED  # db (health: /flag/ready) <- app
from tests.support.terminal import Terminal

pytestmark = pytest.mark.root

CRASHING = """
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "echo booting-web; exit 3"]
    restart: always
"""


def test_tty_progress_animates_while_waiting_for_health(
        make_project: Callable[[str], Project]) -> None:
    p = make_project(GATED)
    (p.dir / "flag").mkdir()
    env = dict(os.environ, NO_COLOR="1", TERM="xterm-256color")
    env.pop("COMPOSE_PROGRESS", None)
    env.pop("COMPOSE_ANSI", None)
    t = Terminal(pystack_argv("-f", str(p.file), "-p", p.name, "up", "-d"), env=env,
                 rows=30, cols=100)
    try:
        db = re.escape(f"Container {p.name}-db-1").encode()
        line = rb"([\xe2][\xa0-\xa3][\x80-\xbf]) " + db + rb" +Waiting +(\d+\.\d)s"
        frames, timers = set(), []
        while len(frames) < 3 or len(set(timers)) < 3:
            m = t.expect(line)
            frames.add(m.group(1).decode())
            timers.append(float(m.group(2)))
        assert timers == sorted(timers)                   # the timer only goes up
        assert b"\x1b[" in t.seen and re.search(rb"\x1b\[\d+A", t.seen)   # redrawn in place
        (p.dir / "flag" / "ready").write_text("")
        web = re.escape(f"Container {p.name}-app-1").encode()
        # One whole frame (no escape inside it, NO_COLOR): the network, db and web all done.
        t.expect(rb"\[\+\] Running 3/3(?=[^\x1b]*\xe2\x9c\x94 " + db + rb" +Healthy)"
                 rb"(?=[^\x1b]*\xe2\x9c\x94 " + web + rb" +Started)")
        assert t.wait() == 0
        assert t.buf.endswith(b"\x1b[?25h")             # the cursor shown again at the end
    finally:
        t.close()


def test_up_wait_reports_a_crash_loop(make_project: Callable[[str], Project]) -> None:
    p = make_project(CRASHING)
    r = p.run("up", "-d", "--wait", check=False, timeout=120)
    assert r.returncode == 1, r.stderr
    assert f"container {p.name}-web-1 is in a crash loop: restarted 3 times, last exit " \
           "code 3" in r.stderr, r.stderr
    assert "booting-web" in r.stderr                       # its last log lines
    assert "Traceback" not in r.stderr
    assert re.search(r"Container \S+-web-1  Restarting \(restarted 1 time\)", r.stderr)


def test_a_dependency_in_a_crash_loop_fails_up(make_project: Callable[[str], Project]) -> None:
    """In a real terminal, with colours: the dependency's line turns into a red `✘ ... Error`,
    the dependent stays `Created` (no green Started), the error names the crash loop."""
    p = make_project(GATED.replace("trap 'exit 0' TERM; sleep 86400 & wait\"]\n    volumes",
                                   "echo db-dies; exit 7\"]\n    restart: always\n    volumes", 1))
    (p.dir / "flag").mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "COMPOSE_ANSI", "COMPOSE_PROGRESS")}
    t = Terminal(pystack_argv("-f", str(p.file), "-p", p.name, "up", "-d"),
                 env=dict(env, TERM="xterm-256color"), rows=30, cols=120)
    try:
        db = re.escape(f"Container {p.name}-db-1").encode()
        app = re.escape(f"Container {p.name}-app-1").encode()
        red, green = re.escape(b"\x1b[31;1m"), re.escape(b"\x1b[32m")
        # The last frame: ✘ (red) db Error crash loop ..., ✔ app Created, all 3 done.
        t.expect(rb"\[\+\] Running 3/3(?=[^\x1b]*(?:\x1b\[[0-9;]*m[^\x1b]*)*?" + red
                 + rb"\xe2\x9c\x98\x1b\[0m " + db + rb" +" + red + rb"Error crash loop \(3 "
                 rb"restarts, exit code 7\))")
        t.expect(green + rb"\xe2\x9c\x94\x1b\[0m " + app + rb" +" + green + rb"Created")
        assert t.wait() == 1
        rest = t.seen + t.buf
        assert b"Started" not in rest.split(b"Running 3/3")[-1]
        assert f"dependency failed to start: container {p.name}-db-1 is in a crash loop: " \
               "restarted 3 times, last exit code 7".encode() in rest
        assert b"db-dies" in rest
    finally:
        t.close()
    rows = {str(x["Service"]): str(x["State"]) for x in p.ps()}
    assert rows["app"] == "created"                        # never started


def one_service(script: str, check: str, interval: str) -> str:
    """A stack of one service `web` running `sh -c script` with a healthcheck."""
    return (f"services:\n  web:\n    image: local/busybox:latest\n"
            f"    command: [\"sh\", \"-c\", \"{script}\"]\n"
            f"    healthcheck:\n      test: {check}\n      interval: {interval}\n"
            f"      retries: 100000\n")


def test_up_wait_fails_on_an_exit_with_the_name_and_code(
        make_project: Callable[[str], Project]) -> None:
    p = make_project(one_service("echo web-gives-up; sleep 1; exit 5", '["CMD", "false"]',
                                 "30s"))
    r = p.run("up", "-d", "--wait", check=False, timeout=120)
    assert r.returncode == 1, r.stderr
    assert f"container {p.name}-web-1 exited (5)" in r.stderr, r.stderr
    assert "web-gives-up" in r.stderr


def test_wait_timeout_on_a_never_healthy_service(make_project: Callable[[str], Project]) -> None:
    p = make_project(one_service("trap 'exit 0' TERM; sleep 86400 & wait",
                                 '["CMD", "test", "-f", "/never"]', "0.2s"))
    r = p.run("up", "-d", "--wait", "--wait-timeout", "2", check=False, timeout=120)
    assert r.returncode == 1, r.stderr
    assert f"application not healthy after 2s: container {p.name}-web-1 is running, " \
           "health starting" in r.stderr, r.stderr
    assert re.search(r"Container \S+-web-1  Error \(timed out\)", r.stderr), r.stderr
