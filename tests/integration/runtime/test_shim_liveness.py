"""The shim never hangs a stop (issue 15, item 2), on the real kernel.

- The stop race, looped (bounded): fast healthchecks while a client keeps opening `wait`
  connections; a connection accepted between a probe's EOF and its reap got the probe pipe's
  fd number, the shim read it again and blocked for good with PID 1 unreaped.  Every stop must
  be answered by the shim itself, gracefully, within the grace period.
- A shim that cannot answer (stopped with SIGSTOP: the worst case of a hung one): `stop` still
  returns within the grace period plus runtime.linux_runtime.STOP_SLACK, and nothing is left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from pystack.runtime import linux_runtime
from pystack.runtime import state as rstate
from pystack.runtime.cgroups import open_cgroup
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import Healthcheck
from tests.integration.runtime.conftest import Make

pytestmark = pytest.mark.root

TRAP = ("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done")


def _health_runs(rt: LinuxRuntime, cid: str) -> int:
    h = rt.state(cid).health
    return len(h.log) if h else 0


def _waiters(path: str, stop: threading.Event, held: list[socket.socket]) -> None:
    """Open `wait` connections back to back and hold them (each is answered at exit only)."""
    while not stop.is_set():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1.0)                   # a hung shim stops accepting: do not hang too
        try:
            s.connect(path)
            s.sendall(json.dumps({"op": "wait"}).encode())
        except OSError:
            s.close()
            return
        held.append(s)
        stop.wait(0.003)


def test_stop_is_answered_while_probes_race_with_clients(rt: LinuxRuntime, make: Make) -> None:
    grace = 3.0
    for _ in range(6):
        spec = make(*TRAP, stop_grace_period=grace,
                    healthcheck=Healthcheck(test=("CMD", "true"), interval=0.01, timeout=5.0,
                                            retries=3))
        rt.start(spec.id)
        deadline = time.monotonic() + 20
        while _health_runs(rt, spec.id) < 1:
            assert time.monotonic() < deadline, "no probe ran"
            time.sleep(0.01)
        stop = threading.Event()
        held: list[socket.socket] = []
        t = threading.Thread(target=_waiters,
                             args=(str(rstate.paths_for(spec.id).socket), stop, held))
        t.start()
        try:
            n0 = _health_runs(rt, spec.id)
            deadline = time.monotonic() + 20
            while _health_runs(rt, spec.id) < min(5, n0 + 4):   # probes ran with clients in
                assert time.monotonic() < deadline, "the shim stopped probing: it hangs"
                time.sleep(0.01)
            t0 = time.monotonic()
            st = rt.stop(spec.id)
            took = time.monotonic() - t0
        finally:
            stop.set()
            t.join()
            for s in held:
                s.close()
        assert st.status == "exited"
        assert st.exit_code == 0, "the shim did not answer the stop (killed by the fallback)"
        assert took < grace, took
        rt.delete(spec.id)


def test_stop_of_a_hung_shim_returns_within_grace_plus_slack(rt: LinuxRuntime,
                                                             make: Make) -> None:
    grace = 1.0
    spec = make(*TRAP, stop_grace_period=grace)
    rt.start(spec.id)
    raw = rstate.read_json(rstate.paths_for(spec.id).state)
    shim, pid1 = int(raw["shim_pid"]), int(raw["pid"])
    os.kill(shim, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        st = rt.stop(spec.id)
        took = time.monotonic() - t0
    finally:
        try:
            os.kill(shim, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert took < grace + linux_runtime.STOP_SLACK + 2, took
    assert st.status == "exited" and st.pid == 0
    assert not rstate.pid_alive(pid1, raw["pid_start"])
    assert not rstate.pid_alive(shim, raw["shim_start"])
    rt.delete(spec.id)
    assert not rstate.paths_for(spec.id).dir.exists()
    assert open_cgroup(spec.id).pids() == []


def test_start_of_a_shim_stuck_before_its_report_is_bounded(
        make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_HANG_AT", "shim:before-report")
    monkeypatch.setattr(linux_runtime, "START_TIMEOUT", 2.0)
    rt = LinuxRuntime()                  # its zygote (and so the shim) gets the variable
    try:
        spec = make(*TRAP)
        t0 = time.monotonic()
        with pytest.raises(ContainerRuntimeError) as e:
            rt.start(spec.id)
        assert time.monotonic() - t0 < 2.0 + 10      # bounded (not a speed figure)
        assert "the shim did not report within 2 s" in e.value.message
        assert _shims_of(spec.id) == []
        raw = rstate.read_json(rstate.paths_for(spec.id).state)
        if "shim_pid" in raw:                         # (a slow machine: not recorded yet)
            assert not rstate.pid_alive(int(raw["shim_pid"]), raw["shim_start"])
        if raw.get("pid"):
            assert not rstate.pid_alive(int(raw["pid"]), raw["pid_start"])
        assert rt.state(spec.id).status != "running"
        assert open_cgroup(spec.id).pids() == []
        rt.delete(spec.id)
    finally:
        rt.close()


def test_start_of_a_shim_slow_before_it_records_itself_kills_it(
        make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the guest lane found: a shim too slow to write its pid into the state before
    the start gave up was left alive (the kill read the pid from the state) and would have
    started the container after the start had failed.  The shim stops before recording
    itself; the start must kill it all the same (by the pid it sent first)."""
    monkeypatch.setenv("PYSTACK_HANG_AT", "shim:unrecorded")
    monkeypatch.setattr(linux_runtime, "START_TIMEOUT", 2.0)
    rt = LinuxRuntime()
    try:
        spec = make(*TRAP)
        with pytest.raises(ContainerRuntimeError) as e:
            rt.start(spec.id)
        assert "the shim did not report within 2 s" in e.value.message
        assert "shim_pid" not in rstate.read_json(rstate.paths_for(spec.id).state)
        assert _shims_of(spec.id) == []               # stopped shim killed, not left behind
        assert open_cgroup(spec.id).pids() == []
        rt.delete(spec.id)
    finally:
        rt.close()


def _shims_of(container_id: str) -> list[int]:
    """Live (or stopped) shim processes of the container, from their command lines."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
            st = (d / "stat").read_text()
        except OSError:
            continue
        if b"pystack-shim" in cmd and container_id.encode() in cmd and \
                st.rpartition(")")[2].split()[0] != "Z":
            out.append(int(d.name))
    return out
