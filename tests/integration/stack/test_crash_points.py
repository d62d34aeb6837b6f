"""The CLI (and a shim) killed at exact points inside container creation (issue 15, item 3),
through runtime.faults (PYSTACK_CRASH_AT): after each, the next `up -d` works (a port claimed
by the dead creation is released) and `down -v` leaves nothing of the project on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.runtime import state as rstate
from tests.integration.stack.conftest import Project, free_port

pytestmark = pytest.mark.root

STACK = """
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /etc & wait"]
    ports:
      - "127.0.0.1:PORT:8080"
  side:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
"""

POINTS = ["create:recorded", "create:sandbox", "runtime-create:dirs", "write-tmp:spec.json",
          "runtime-create:state", "write-tmp:project-state", "shim:before-report"]


def _containers_dir() -> set[str]:
    d = rstate.root_dir() / "containers"
    return set(os.listdir(d)) if d.is_dir() else set()


def _page(port: int) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/passwd", timeout=5) as resp:
            return bytes(resp.read())
    except OSError:
        return None


def _project_files(name: str) -> list[str]:
    d = rstate.root_dir() / "projects" / name
    return sorted(os.listdir(d)) if d.is_dir() else []


@pytest.mark.parametrize("point", POINTS)
def test_cli_killed_inside_creation(make_project: Callable[[str], Project], point: str) -> None:
    port = free_port()
    p = make_project(STACK.replace("PORT", str(port)))
    before = _containers_dir()
    r = subprocess.run(p.argv("up", "-d"), capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, NO_COLOR="1", PYSTACK_CRASH_AT=point))
    if point.startswith("shim:"):
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr   # shims died
    else:
        assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    # The next up gets through, with the port published by a live container.
    p.run("up", "-d", timeout=90)
    # `up -d` returns once the containers run, not once httpd listens (as Compose): wait for
    # the server's socket, then the page must come through the published port.
    p.wait_for(lambda: _page(port) is not None, 30)
    assert b"root:" in (_page(port) or b"")
    assert {str(row["Service"]): str(row["State"]) for row in p.ps()} == {
        "web": "running", "side": "running"}
    # And one down -v removes everything: no container dir, no project state, no tmp file.
    p.run("down", "-v", timeout=90)
    assert _containers_dir() - before == set()
    assert _project_files(p.name) == []
    assert p.ps() == []


def test_delete_removes_a_half_created_directory(tmp_path: Path) -> None:
    """What a create killed after mkdir leaves (no spec.json, no state.json) goes with delete."""
    import secrets

    from pystack.runtime.linux_runtime import LinuxRuntime

    rt = LinuxRuntime()
    cid = secrets.token_hex(32)
    d = rstate.root_dir() / "containers" / cid
    for sub in ("upper", "work", "rootfs"):
        (d / sub).mkdir(parents=True)
    (d / "hostname").write_text("x\n")
    (d / f".spec.json.{os.getpid()}.tmp").write_text("{")
    try:
        rt.delete(cid, force=True)
        assert not d.exists()
    finally:
        rt.close()
