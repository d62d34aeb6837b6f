"""The shim's probe runner (health.Prober) with real fds and a real selector, the probe
replaced by a forked child: the stop race of issue 15 (item 2), step by step.

The probe's pipe reaches EOF and is closed by the selector event; the shim then accepts a
control connection, which gets the lowest free fd: the probe pipe's old number.  When the
probe's exit is reaped afterwards, the result handler must not read "its" fd again: that is
the client's connection (reading it stole the request and, on a blocking socket, hung the
single-threaded shim with the container's PID 1 unreaped)."""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pystack.runtime import health as H
from pystack.runtime.spec import ContainerSpec, ExecSpec, Healthcheck


class _Cg:
    def procs_files(self) -> list[str]:
        return []


class _Shim(H.Prober):
    def __init__(self) -> None:
        self.health = H.Checker(Healthcheck(test=("CMD", "probe"), interval=1.0, timeout=30.0,
                                            retries=1))
        self.pid = 1
        self.gen = 1
        self.started_mono = time.monotonic()
        self.st: dict[str, Any] = {"status": "running"}
        self.sel = selectors.DefaultSelector()
        self.children: dict[int, Callable[[int], None]] = {}
        self.cg = _Cg()  # type: ignore[assignment]
        self.timers: list[Callable[[], None]] = []

    def save(self, **changes: Any) -> None:
        self.st.update(changes)

    def timer(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append(fn)

    def load_spec(self) -> ContainerSpec:
        raise AssertionError("not used")

    def layers(self) -> list[Path]:
        return []


def _fake_spawn(load_spec: object, pid1: int, procs: list[str], xs: ExecSpec,
                stdio: Any, layers: object = None) -> int:
    pid = os.fork()
    if pid == 0:
        os.write(stdio.stdout, b"probe-ok\n")
        os._exit(0)
    return pid


def test_probe_result_never_reads_a_reused_fd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(H, "spawn_exec", _fake_spawn)
    shim = _Shim()
    shim.run_health(1)
    (child,) = shim.children
    _, status = os.waitpid(child, 0)            # exited; not handled by the "loop" yet
    probe_fd = next(iter(shim.sel.get_map()))
    # The loop sees the pipe's data and EOF first: it reads and closes the pipe.
    for key, _ in shim.sel.select(5):
        kind, arg = key.data
        assert kind == "health"
        shim.health_read(arg)
    assert probe_fd not in shim.sel.get_map()
    # A control connection comes in and gets the probe pipe's old fd number.
    conn, client = socket.socketpair()
    try:
        assert conn.fileno() == probe_fd
        conn.setblocking(False)
        shim.sel.register(conn, selectors.EVENT_READ, ("conn", conn))
        client.sendall(b'{"op": "stop"}')
        # Now the probe's exit is reaped: its result is recorded from what was read...
        shim.children.pop(child)(os.waitstatus_to_exitcode(status))
        assert shim.health.status == "healthy"
        assert shim.health.log[-1]["output"] == "probe-ok\n"
        # ...and the client's connection is untouched: still registered, request unread.
        assert shim.sel.get_key(conn).data == ("conn", conn)
        assert conn.recv(100) == b'{"op": "stop"}'
    finally:
        conn.close()
        client.close()
        shim.sel.close()
