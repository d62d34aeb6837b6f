"""End to end on the real kernel: health-gated chains, a failing healthcheck, a failing
`service_completed_successfully` job, restart policies, Ctrl-C on an attached `up`, and a CLI
killed with SIGKILL in the middle of `up` followed by a `down` that leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

SLEEP = "[\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 86400 & wait\"]"

CHAIN = f"""
services:
  c1:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 0.3; touch /tmp/ready; sleep 86400 & wait"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 0.2s
      timeout: 1s
      retries: 30
  c2:
    image: local/busybox:latest
    command: {SLEEP}
    depends_on:
      c1:
        condition: service_healthy
  sick:
    image: local/busybox:latest
    command: ["sh", "-c", "echo sick-output-line; trap 'exit 0' TERM; sleep 86400 & wait"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 0.2s
      timeout: 1s
      retries: 2
  needs_sick:
    image: local/busybox:latest
    command: {SLEEP}
    depends_on:
      sick:
        condition: service_healthy
  job:
    image: local/busybox:latest
    command: ["sh", "-c", "echo job-failed-here; exit 4"]
  after_job:
    image: local/busybox:latest
    command: {SLEEP}
    depends_on:
      job:
        condition: service_completed_successfully
  okjob:
    image: local/busybox:latest
    command: ["true"]
  after_okjob:
    image: local/busybox:latest
    command: {SLEEP}
    depends_on:
      okjob:
        condition: service_completed_successfully
      c1:
        condition: service_healthy
"""


def test_conditions_failures_reported_others_stay_up(make_project: Callable[[str], Project]
                                                     ) -> None:
    p = make_project(CHAIN)
    r = p.run("up", "-d", check=False, timeout=120)
    assert r.returncode == 1, r.stderr
    err = r.stderr
    assert f"dependency failed to start: container {p.name}-sick-1 is unhealthy" in err
    assert "sick-output-line" in err
    assert "service job didn't complete successfully: exit 4" in err
    assert "job-failed-here" in err
    state = {str(r["Service"]): str(r["State"]) for r in p.ps()}
    assert state["c1"] == state["c2"] == state["after_okjob"] == "running"
    assert state["sick"] == "running"           # started, stays up, is listed
    assert state["needs_sick"] == state["after_job"] == "created"   # never started


RESTART = """
services:
  flaky:
    image: local/busybox:latest
    command: ["sh", "-c", "echo run; exit 1"]
    restart: on-failure:2
  never:
    image: local/busybox:latest
    command: ["sh", "-c", "exit 1"]
"""


def test_restart_policy(make_project: Callable[[str], Project]) -> None:
    p = make_project(RESTART)
    p.run("up", "-d")

    def settled() -> bool:
        rows = {str(r["Service"]): r for r in p.ps()}
        return all(r["State"] == "exited" for r in rows.values())

    p.wait_for(settled, 20)
    assert p.run("--no-color", "logs", "flaky").stdout.count("run") == 3   # 1 + 2 restarts
    assert p.run("logs", "never").stdout == ""


ATTACHED = """
services:
  talker:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo hello-attached; sleep 86400 & wait"]
"""


def test_ctrl_c_on_attached_up_stops_gracefully(make_project: Callable[[str], Project]) -> None:
    p = make_project(ATTACHED)
    proc = subprocess.Popen(p.argv("--no-color", "up"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "Attaching to talker-1\n"     # as Compose v2
        line = proc.stdout.readline()
        assert line.startswith("talker-1  | hello-attached"), line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Gracefully stopping" in err
    assert "bye" in out
    assert [r["State"] for r in p.ps()] == ["exited"]


def test_sigkill_mid_up_then_down_leaves_nothing(make_project: Callable[[str], Project]) -> None:
    services = "".join(f"""
  s{i:02d}:
    image: local/busybox:latest
    command: {SLEEP}
""" for i in range(12))
    p = make_project("services:" + services)
    proc = subprocess.Popen(p.argv("up", "-d"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    # kill it while containers are being created and started
    while "Started" not in proc.stderr.readline():
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # and the shims die too: down must still clean up from the state on disk
    root = os.environ["PYSTACK_ROOT"]
    shims = subprocess.run(["pgrep", "-f", root], capture_output=True,
                           text=True).stdout.split()
    assert shims
    for pid in shims:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.run("down")
    assert p.ps() == []
    # no shim (or anything else with the state root in its argv) is left running
    left = subprocess.run(["pgrep", "-f", root], capture_output=True, text=True).stdout
    assert left.split() == []
    # nothing of this project left in the runtime's or net's records
    from pystack.orchestrator.engine.backends import real_backends

    b = real_backends(p.name)
    assert [c for c in b.runtime.list_containers()
            if c.labels.get("com.docker.compose.project") == p.name] == []
    assert b.network.list_networks() == []
    assert json.loads(json.dumps(b.state.projects())).count(p.name) == 0


GATED = """
services:
  first:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ready; sleep 86400 & wait"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 0.2s
  second:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 5s
      start_period: 30s
    depends_on:
      first:
        condition: service_healthy
  third:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    depends_on:
      second:
        condition: service_healthy
"""


def test_ctrl_c_while_attached_up_is_still_starting(make_project: Callable[[str], Project]
                                                    ) -> None:
    p = make_project(GATED)
    proc = subprocess.Popen(p.argv("up"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        while "second-1  Started" not in proc.stderr.readline():
            pass
        proc.send_signal(signal.SIGINT)           # `third` is still waiting for `second`
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Gracefully stopping" in err
    state = {str(r["Service"]): str(r["State"]) for r in p.ps()}
    assert state == {"first": "exited", "second": "exited", "third": "created"}


PAIR = f"""
services:
  a:
    image: local/busybox:latest
    command: {SLEEP}
  b:
    image: local/busybox:latest
    command: {SLEEP}
"""


def test_up_recovers_when_recorded_net_state_is_partly_gone(
        make_project: Callable[[str], Project]) -> None:
    """Name files deleted by an admin: the next start writes them again.  A sandbox whose
    namespace is gone (a reboot): `up` recreates that container.  `down` then leaves nothing."""
    from pathlib import Path

    from pystack.net import netns

    p = make_project(PAIR)
    p.run("up", "-d")
    p.run("stop")
    net = os.path.join(os.environ["PYSTACK_RUN"], "net")
    for cid in os.listdir(os.path.join(net, "files")):
        for f in ("hosts", "resolv.conf"):
            os.unlink(os.path.join(net, "files", cid, f))
    p.run("up", "-d")
    assert [r["State"] for r in p.ps()] == ["running", "running"]
    assert "nameserver 127.0.0.11" in p.run("exec", "-T", "a", "cat", "/etc/resolv.conf").stdout
    assert "localhost" in p.run("exec", "-T", "a", "cat", "/etc/hosts").stdout
    assert "Name:" in p.run("exec", "-T", "a", "nslookup", "-type=a", "b").stdout
    old = p.ids()
    p.run("stop", "b")
    (pin,) = [f for f in os.listdir(os.path.join(net, "ns"))
              if f.startswith(old[f"{p.name}-b-1"])]
    netns.remove(Path(net, "ns", pin))     # its namespace is gone, as after a reboot
    r = p.run("up", "-d")
    new = p.ids()
    assert new[f"{p.name}-b-1"] != old[f"{p.name}-b-1"] and "Recreate" in r.stderr
    assert new[f"{p.name}-a-1"] == old[f"{p.name}-a-1"]
    assert p.run("exec", "-T", "a", "ping", "-c1", "-W2", "b").returncode == 0
    p.run("down")
    assert p.ps() == []


def _zygotes() -> list[int]:
    root = os.environ["PYSTACK_ROOT"].encode()
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--zygote" in argv and root in argv:
            out.append(int(pid))
    return out


def test_prewarmed_zygote_goes_with_a_failed_up(make_project: Callable[[str], Project]) -> None:
    """`up` starts the shim template before it loads the file; an `up` that then fails
    (unknown service) leaves no template process behind, and a good one still works."""
    p = make_project(PAIR)
    r = p.run("up", "-d", "nosuch", check=False)
    assert r.returncode == 3 and "no such service: nosuch" in r.stderr
    deadline = time.monotonic() + 5
    while _zygotes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _zygotes() == []
    p.run("up", "-d", "a")
    assert [r["State"] for r in p.ps()] == ["running"]
    p.run("down")
