"""The shim's control protocol: one JSON request per connection on its unix socket.

  {"op": "state"}                      -> the state dict
  {"op": "wait"}                       -> the state dict, once the container is gone for good
  {"op": "stop", "timeout", "signal"}  -> stop_signal, SIGKILL of the cgroup after the grace;
                                          the reply comes when PID 1 has exited
  {"op": "kill", "signal"}             -> {"ok": true}
  {"op": "pause"} / {"op": "unpause"}  -> {"ok": true} (cgroup freezer)
  {"op": "exec", "spec": ExecSpec}     -> {"exit_code": n} when it ends (3 stdio fds attached
                                          with SCM_RIGHTS; detach replies at once)
Errors reply {"error": "message"}.  Runs inside the shim's single-threaded loop.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

from pystack.runtime import launch, state
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.exec import spawn_exec
from pystack.runtime.spec import ExecSpec

if TYPE_CHECKING:
    from pystack.runtime.shim import Shim


REQUEST_TIMEOUT = 10.0      # seconds a client has to send its request once connected
REPLY_TIMEOUT = 2.0         # seconds a reply may take to send: a client that does not read
                            # cannot hold up the shim's single-threaded loop


def reply(self: Shim, conn: socket.socket, obj: Any) -> None:
    try:
        conn.settimeout(REPLY_TIMEOUT)
        conn.sendall(json.dumps(obj).encode() + b"\n")
    except OSError:
        pass
    try:
        self.sel.unregister(conn)
    except (KeyError, ValueError):
        pass
    conn.close()

def handle(self: Shim, conn: socket.socket) -> None:
    try:
        raw, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    except BlockingIOError:
        return                          # nothing there after all (the socket is non-blocking)
    except OSError:
        raw, fds = b"", []
    if not raw:
        self.sel.unregister(conn)
        conn.close()
        return
    try:
        req = json.loads(raw)
        op = req["op"]
    except (ValueError, KeyError, TypeError):
        reply(self, conn, {"error": "bad request"})
        return
    try:
        dispatch(self, conn, op, req, fds)
    except ContainerRuntimeError as e:
        reply(self, conn, {"error": str(e), "hint": e.hint})
    except OSError as e:
        reply(self, conn, {"error": f"{op}: {e.strerror}"})

def dispatch(self: Shim, conn: socket.socket, op: str, req: dict[str, Any],
             fds: list[int]) -> None:
    running = self.pid > 0
    if op == "state":
        reply(self, conn, self.st)
    elif op == "wait":
        if self.done:
            reply(self, conn, self.st)
        else:
            self.exit_waiters.append(conn)
    elif op == "stop":
        self.stopping = True
        if not running:
            if self.st.get("status") == "restarting":
                self.save(status="exited")
                self.finish()
            reply(self, conn, self.st)
            return
        if self.st.get("status") == "paused":
            self.cg.thaw()
        sig = req.get("signal") or signal.SIGTERM
        os.kill(self.pid, sig)
        self.timer(float(req.get("timeout", self.grace)), self.force_kill)
        self.exit_waiters.append(conn)
    elif op == "kill":
        if not running:
            raise ContainerRuntimeError(f"container {self.name} is not running")
        sig = int(req.get("signal", signal.SIGKILL))
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.stopping = True
        os.kill(self.pid, sig)
        reply(self, conn, {"ok": True})
    elif op in ("pause", "unpause"):
        if not running:
            raise ContainerRuntimeError(f"container {self.name} is not running")
        if op == "pause":
            self.cg.freeze()
            self.save(status="paused")
        else:
            self.cg.thaw()
            self.save(status="running")
        reply(self, conn, {"ok": True})
    elif op == "exec":
        if running and self.st.get("status") == "paused":
            raise ContainerRuntimeError(f"container {self.name} is paused",
                                        hint="unpause the container before exec")
        if not running or self.st.get("status") != "running":
            raise ContainerRuntimeError(f"container {self.name} is not running")
        xs = state.from_json(ExecSpec, req["spec"])
        if len(fds) < 3:
            raise ContainerRuntimeError("exec: the standard streams were not passed")
        stdio = launch.Stdio(fds[0], fds[1], fds[2], tty=xs.tty)
        try:
            child = spawn_exec(self.load_spec, self.pid, self.cg.procs_files(), xs, stdio,
                           self.layers())
        finally:
            for fd in set(fds):
                os.close(fd)

        if xs.detach:
            self.children[child] = lambda code: None
            reply(self, conn, {"exit_code": 0})
            return

        def done(code: int, c: socket.socket = conn) -> None:
            reply(self, c, {"exit_code": code})

        self.children[child] = done
    else:
        reply(self, conn, {"error": f"unknown op {op}"})
