"""A dead shim never hangs `up` (issue 15, item 1), end to end through the CLI.

The shim of a service others wait on (`condition: service_healthy`) is killed while `up` waits:
`up` returns at once with a clear error (the container is unsupervised: nothing checks its
health any more), and the next `up` recreates that container (a new shim cannot adopt a PID 1
that is not its child and whose output pipes are gone) and succeeds.  `up --wait` on a
service whose shim died reports it the same way instead of timing out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.runtime import state as rstate
from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

GATED = """
services:
  db:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    volumes:
      - ./flag:/flag
    healthcheck:
      test: ["CMD", "test", "-f", "/flag/ready"]
      interval: 0.1s
      retries: 1000
  app:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    depends_on:
      db:
        condition: service_healthy
"""


def _shim_of(p: Project, service: str, timeout: float = 30) -> tuple[str, int]:
    """(container id, shim pid) of the service's container, once its shim runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in p.ps():
            if row["Service"] == service:
                cid = str(row["ID"])
                full = next(d for d in os.listdir(rstate.root_dir() / "containers")
                            if d.startswith(cid))
                raw = json.loads((rstate.paths_for(full).state).read_text())
                if raw.get("shim_pid") and raw.get("status") == "running":
                    return full, int(raw["shim_pid"])
        time.sleep(0.05)
    raise AssertionError(f"no running shim for {service}")


def test_shim_killed_while_a_dependent_waits(make_project: Callable[[str], Project]) -> None:
    p = make_project(GATED)
    (p.dir / "flag").mkdir()
    proc = subprocess.Popen(p.argv("up", "-d"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        while not any("Waiting" in ln for ln in seen):      # up waits on db's health now
            line = proc.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
        cid, shim = _shim_of(p, "db")
        assert proc.poll() is None
        os.kill(shim, signal.SIGKILL)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        err = "".join(seen) + err
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert took < 5, took
    assert "db-1 is unsupervised: its shim died" in err, err
    assert "run `pystack up` again" in err
    assert "Traceback" not in err
    # The next up recreates db (not "Running" and another wait for good) and gets through.
    (p.dir / "flag" / "ready").write_text("")
    r = p.run("up", "-d", timeout=60)
    assert "Recreate" in r.stderr and "supervisor gone" in r.stderr, r.stderr
    states = {str(row["Service"]): str(row["State"]) for row in p.ps()}
    assert states == {"db": "running", "app": "running"}
    assert not (rstate.root_dir() / "containers" / cid).exists()


def test_up_wait_reports_a_dead_shim(make_project: Callable[[str], Project]) -> None:
    p = make_project(GATED)
    (p.dir / "flag").mkdir()
    (p.dir / "flag" / "ready").write_text("")
    p.run("up", "-d", "--wait")
    _, shim = _shim_of(p, "app")
    os.kill(shim, signal.SIGKILL)
    p.wait_for(lambda: "unsupervised" in str(
        next(r for r in p.ps() if r["Service"] == "app").get("Status")))
    t0 = time.monotonic()
    r = p.run("up", "-d", "--wait", "--no-recreate", check=False, timeout=60)
    assert time.monotonic() - t0 < 20
    assert r.returncode != 0
    assert "app-1 is unsupervised" in r.stderr, r.stderr


def test_down_of_an_unsupervised_container_is_graceful(make_project: Callable[[str], Project],
                                                       tmp_path: Path) -> None:
    p = make_project(GATED.replace('"sh", "-c", "trap \'exit 0\' TERM; sleep 86400 & wait"',
                                   '"sh", "-c", "trap \'touch /flag/bye; exit 0\' TERM; '
                                   'sleep 86400 & wait"', 1))
    (p.dir / "flag").mkdir()
    (p.dir / "flag" / "ready").write_text("")
    p.run("up", "-d", "--wait")
    _, shim = _shim_of(p, "db")
    os.kill(shim, signal.SIGKILL)
    p.run("down")
    assert (p.dir / "flag" / "bye").exists()     # it got its stop signal, not only SIGKILL
    assert p.ps() == []
