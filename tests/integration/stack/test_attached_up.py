"""Attached `up` as Compose prints it: `Attaching to ...`, only this run's output (no replay
of the earlier runs in the log), `a-1 exited with code N`, the exit-code rules of
--abort-on-container-exit / --exit-code-from, and Ctrl-C's graceful stop with its progress."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

STACK = """
services:
  a:
    image: local/busybox:latest
    command: ["sh", "-c", "echo hello-a; exit 3"]
  b:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'echo bye-b; exit 0' TERM; echo ready-b; sleep 1000 & wait"]
"""


def test_abort_on_exit_returns_the_containers_code_and_shows_only_this_run(
        make_project: Callable[[str], Project]) -> None:
    p = make_project(STACK)
    r = p.run("up", "--abort-on-container-exit", check=False, timeout=120)
    assert r.returncode == 3, r.stderr                  # it was 0: CI green by mistake
    lines = r.stdout.splitlines()
    assert lines[0] in ("Attaching to a-1, b-1", "Attaching to b-1, a-1")
    assert "a-1  | hello-a" in lines
    assert "a-1 exited with code 3" in lines
    assert "Aborting on container exit..." in r.stderr
    r = p.run("up", "--exit-code-from", "a", check=False, timeout=120)
    assert r.returncode == 3
    assert r.stdout.count("hello-a") == 1               # not the first run's line again
    assert "Stopped" in r.stderr


def test_ctrl_c_stops_gracefully_with_progress(make_project: Callable[[str], Project]) -> None:
    p = make_project(STACK.replace("a:\n", "a:\n    profiles: [off]\n", 1))
    proc = subprocess.Popen(p.argv("up"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, NO_COLOR="1"))
    try:
        out = b""
        deadline = time.monotonic() + 60
        while b"b-1  | ready-b" not in out:
            assert time.monotonic() < deadline, out
            assert proc.stdout is not None
            r, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
            if r:
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, out
                out += chunk
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    text = err.decode()
    assert "Gracefully stopping... (press Ctrl+C again to force)" in text
    assert "Stopping" in text and "Stopped" in text
    assert "Traceback" not in text
    assert b"b-1  | bye-b" in out + rest
    assert (out + rest).splitlines()[0] == b"Attaching to b-1"
