"""The shim's control protocol: one JSON request per connection on its unix socket.

  {"op": "state"}                      -> the state dict
  {"op": "wait"}                       -> the state dict, once the container is gone for good
  {"op": "stop", "timeout", "signal"}  -> stop_signal, SIGKILL of the cgroup after the grace;
                                          the reply comes when PID 1 has exited
  {"op": "kill", "signal"}             -> {"ok": true}
  {"op": "pause"} / {"op": "unpause"}  -> {"ok": true} (cgroup freezer)
  {"op": "exec", "spec": ExecSpec}     -> {"exit_code": n} when it ends (3 stdio fds attached
                                          with SCM_RIGHTS, and for tty a 4th: the socket
                                          the pty master goes back on; detach replies at once)
  {"op": "attach", "stdin"} / {"op": "resize", "rows", "cols"}: the console (attach.py)
Errors reply {"error": "message"}.  Runs inside the shim's single-threaded loop.

Only root talks to a shim (issue 9 item 8): the socket is made 0600 (set on the socket before
bind, so no umask decides it) in a 0700 directory owned by root (made, or checked, here), and
every connection's peer is checked with SO_PEERCRED before a byte of it is read.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import stat
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pystack.runtime import launch, state
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.exec import spawn_exec
from pystack.runtime.spec import ExecSpec

if TYPE_CHECKING:
    from pystack.runtime.shim import Shim


def private_dir(path: Path) -> None:
    """`path` as a directory only root can enter: made 0700 when missing, refused when it is
    a symlink or not root's, set back to 0700 when its mode is looser."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise ContainerRuntimeError(f"{path} is not a directory owned by root",
                                    hint="remove it; pystack makes it again")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700, follow_symlinks=False)


def listen(path: Path) -> socket.socket:
    """The shim's listening socket at `path`: 0600 whatever the umask, in a 0700 dir."""
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    private_dir(path.parent)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), 0o600)     # bind() takes the mode of the socket's inode
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(16)
    except BaseException:
        sock.close()
        raise
    return sock


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process that connected (SO_PEERCRED, taken by the kernel at connect)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


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
        allowed = peer_uid(conn) in (0, os.geteuid())
    except OSError:
        allowed = False
    if not allowed:
        reply(self, conn, {"error": "permission denied: only root may control a container"})
        return
    try:
        raw, fds, _, _ = socket.recv_fds(conn, 65536, 4)
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
        stdio = launch.Stdio(fds[0], fds[1], fds[2], tty=xs.tty,
                             console=fds[3] if len(fds) > 3 else -1)
        try:
            child = spawn_exec(self.load_spec, self.pid, self.cg.procs_files(), xs, stdio,
                           self.layers())
        finally:
            for fd in set(fds):
                os.close(fd)
        exec_id = secrets.token_hex(32)
        self.journal(f"exec_create: {' '.join(xs.argv)}", execID=exec_id)
        self.journal(f"exec_start: {' '.join(xs.argv)}", execID=exec_id)

        if xs.detach:
            self.children[child] = lambda code: self.journal("exec_die", execID=exec_id,
                                                             exitCode=code)
            reply(self, conn, {"exit_code": 0})
            return

        def done(code: int, c: socket.socket = conn) -> None:
            self.journal("exec_die", execID=exec_id, exitCode=code)
            reply(self, c, {"exit_code": code})

        self.children[child] = done
    elif op == "attach":
        if not running:
            raise ContainerRuntimeError(f"container {self.name} is not running",
                                        hint="start it first (`pystack start`)")
        self.attach.add(conn, req)
    elif op == "resize":
        self.attach.resize(int(req.get("rows", 0)), int(req.get("cols", 0)))
        reply(self, conn, {"ok": True})
    else:
        reply(self, conn, {"error": f"unknown op {op}"})
