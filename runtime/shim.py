"""The per-container shim: `main([<container dir>, <ready fd>])`, forked by the zygote.

One detached, single-threaded process per running container (docs/architecture.md §5).  It is the
subreaper parent of the container's PID 1, owns its stdout/stderr (pipes, or a pty for tty),
writes the json-file log, records exit code / OOM kill / times in state.json (atomically), runs
the healthcheck (health.Prober) and the restart policy (restart.Restarter), and answers
requests on a unix socket (control.py):
state, stop, kill, pause, unpause, wait, exec.  Shims are forked by the zygote (zygote.py); the
start work itself runs in a forked starter (launch.starter) so the shim's pages stay shared.
It exits when the container has exited for good, removing its cgroup; a shim that is killed
leaves state on disk that `delete` cleans.
Its loop is selectors + a timer heap + a signal wakeup fd; no threads (namespace work forks).
"""

from __future__ import annotations

import heapq
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pystack.runtime import control, faults, journal, launch, restart, state
from pystack.runtime import health as H
from pystack.runtime.attach import Attachments
from pystack.runtime.cgroups import open_cgroup
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.image.model import HealthConfig
from pystack.runtime.linux import set_cmdline, set_name, set_subreaper
from pystack.runtime.logs import LogWriter, now_rfc3339
from pystack.runtime.restart import Restarter
from pystack.runtime.spec import (
    ContainerSpec,
    Healthcheck,
    LogConfig,
    Resources,
    RestartPolicy,
)


class Shim(H.Prober, Restarter):
    def __init__(self, cdir: Path) -> None:
        self.paths = state.Paths(dir=cdir, id=cdir.name)
        # Only the few fields the shim itself needs, decoded from the raw JSON: the full spec
        # is loaded by the forked children that need it (starter, exec), keeping our pages few.
        raw: dict[str, Any] = state.read_json(self.paths.spec)
        self.name = str(raw.get("name", ""))
        self.labels = {str(k): str(v) for k, v in dict(raw.get("labels") or {}).items()}
        self.said_health = ""          # the last health status journaled
        self.lower_dirs = [str(d) for d in raw.get("lower_dirs", [])]
        self.tty = bool(raw.get("tty"))
        self.stdin_open = bool(raw.get("stdin_open"))
        self.stdin_w = -1
        self.privileged = bool(raw.get("privileged"))
        self.grace = float(raw.get("stop_grace_period", 10.0))
        self.policy = state.from_json(RestartPolicy, raw.get("restart") or {})
        self.resources = state.from_json(Resources, raw.get("resources") or {})
        logcfg = state.from_json(LogConfig, raw.get("log") or {})
        hc = raw.get("healthcheck")
        img_hc = (raw.get("image") or {}).get("healthcheck")
        try:
            self.st: dict[str, Any] = state.read_json(self.paths.state)
        except ContainerRuntimeError:
            self.st = {}
        self.sel = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.cg = open_cgroup(self.paths.id)
        self.pid = 0
        self.started_mono = 0.0
        self.stopping = False          # stop/kill asked by the user: no restart
        self.backoff = restart.BACKOFF_START
        self.done = False
        self.exit_waiters: list[socket.socket] = []
        self.idle: set[socket.socket] = set()     # accepted, no request read yet
        self.children: dict[int, Callable[[int], None]] = {}   # exec/health pid -> on exit
        self.streams: dict[int, str] = {}
        self.health = H.Checker.for_parts(
            state.from_json(Healthcheck, hc) if hc else None,
            state.from_json(HealthConfig, img_hc) if img_hc else None)
        self.log = LogWriter(self.paths.log, logcfg.max_size, logcfg.max_file)
        self.shim_start = state.start_ticks(os.getpid())
        self.gen = 0                   # run number: timers of an earlier run are ignored
        self.attach = Attachments(self, bool(raw.get("hold_output")))

    # -- state -------------------------------------------------------------------------------
    def save(self, **changes: Any) -> None:
        old = self.st.get("status")
        self.st.update(changes)
        self.st["shim_pid"] = os.getpid()
        self.st["shim_start"] = self.shim_start
        if self.health is not None:
            self.st["health"] = self.health.to_json()
        if self.log.dropped:
            self.st["log_lines_dropped"] = self.log.dropped
        try:
            state.write_json(self.paths.state, self.st)
        except OSError:
            # A full (or failing) disk must not stop the supervision half-way (an exit that
            # is not recorded would never finish the stop): the state lives on in memory,
            # every reply carries it, and the next save that can writes it.
            pass
        self.journal_changes(old)

    # -- events (runtime/journal.py) ---------------------------------------------------------
    def journal(self, action: str, **attributes: object) -> None:
        journal.record(self.paths.dir.parent.parent, self.paths.id, action, self.name,
                       self.labels, **attributes)

    def journal_changes(self, old: object) -> None:
        """The events a state change means, as Docker names them: every state write passes
        here, so no change goes untold (a policy restart: start, then restart)."""
        new = self.st.get("status")
        if new != old:
            if new == "running":
                self.journal("unpause" if old == "paused" else "start")
                if old == "restarting":
                    self.journal("restart")
            elif new == "paused":
                self.journal("pause")
            elif new in ("exited", "restarting") and old in ("running", "paused"):
                self.journal("die", exitCode=self.st.get("exit_code"))
        status = self.health.status if self.health is not None else ""
        if status in ("healthy", "unhealthy") and status != self.said_health:
            self.journal(f"health_status: {status}")
        self.said_health = status if status != "starting" else ""

    def timer(self, delay: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self._seq, fn))

    # -- container runs ----------------------------------------------------------------------
    def layers(self) -> list[Path]:
        """The rootfs layers, topmost first (the upper dir over the image's)."""
        return [self.paths.upper, *(Path(d) for d in reversed(self.lower_dirs))]

    def load_spec(self) -> ContainerSpec:
        """The full spec: for forked children only (see __init__)."""
        return state.load_spec(self.paths)

    def run_once(self) -> tuple[int, str] | None:
        """Start the container; None on success, else (exit code, message).

        The work happens in a short-lived forked "starter" (which forks stage-1): the pages
        it touches are its own, so the long-lived shim stays small (shared with the zygote).
        """
        chan, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        outs: dict[int, str] = {}
        mine_w: list[int] = []
        if not self.tty:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            outs = {out_r: "stdout", err_r: "stderr"}
            mine_w = [out_w, err_w]
            if self.stdin_open:
                # stdin_open: a pipe whose write end we hold, so reads block instead of EOF.
                in_r, self.stdin_w = os.pipe()
                mine_w.append(in_r)
        starter = os.fork()
        if starter == 0:
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                chan.close()
                for fd in [*outs, self.stdin_w]:
                    if fd >= 0:
                        os.close(fd)
                code = launch.starter(self.load_spec(), self.paths, self.layers(), self.cg.add_pid,
                                      theirs, mine_w)
            finally:
                os._exit(code)
        theirs.close()
        for fd in mine_w:
            os.close(fd)
        try:
            raw, fds, _, _ = socket.recv_fds(chan, 65536, 1)
        except OSError:
            raw, fds = b"", []
        finally:
            chan.close()
            os.waitpid(starter, 0)
        rep: dict[str, Any] = {"failure": [launch.EXIT_SETUP, "start failed"]}
        try:
            rep = json.loads(raw) if raw else rep
        except ValueError:
            pass
        if fds:
            outs[fds[0]] = "stdout"                # the pty master made inside the container
            self.attach.console = fds[0]
        for fd, name in outs.items():
            os.set_blocking(fd, False)
            self.streams[fd] = name
            self.sel.register(fd, selectors.EVENT_READ, ("out", fd))
        pid = int(rep.get("pid") or 0)
        if rep.get("failure"):
            if pid:
                os.waitpid(pid, 0)
            for fd in list(self.streams):
                self.drain(fd)
            if self.stdin_w >= 0:
                os.close(self.stdin_w)
                self.stdin_w = -1
            code, message = rep["failure"]
            return int(code), str(message)
        self.pid = pid
        self.started_mono = time.monotonic()
        self.save(status="running", pid=pid, pid_start=state.start_ticks(pid),
                  started_at=now_rfc3339(), finished_at="", exit_code=None, oom_killed=False,
                  error="")
        if self.health is not None:
            self.health.reset()
            self.gen += 1
            gen = self.gen
            self.timer(self.health.next_delay(0.0), lambda: self.run_health(gen))
        return None

    def on_container_exit(self, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        self.pid = 0
        if self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1
        for fd in list(self.streams):
            self.drain(fd)
        self.attach.close_all()
        self.log.flush()
        try:
            oom = self.cg.oom_killed()
        except ContainerRuntimeError:
            oom = False
        ran = time.monotonic() - self.started_mono
        if self.health is not None:
            self.health.stop()
        self.after_exit(code, ran, oom_killed=oom)

    def finish(self) -> None:
        """The container is gone for good: leave the loop (main cleans up, then replies)."""
        self.done = True

    def drain(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:             # EIO: the pty's slave side is gone
                data = b""
            if not data:
                self.sel.unregister(fd)
                os.close(fd)
                self.log.write(self.streams.pop(fd), b"")
                return
            self.log.write(self.streams[fd], data)
            self.attach.output(self.streams[fd], data)

    # -- requests (control.py) ---------------------------------------------------------------
    def reply(self, conn: socket.socket, obj: Any) -> None:
        control.reply(self, conn, obj)

    def force_kill(self) -> None:
        if self.pid > 0:
            try:
                self.cg.kill_all()
            except ContainerRuntimeError:
                os.kill(self.pid, signal.SIGKILL)

    # -- loop ----------------------------------------------------------------------------------
    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.on_container_exit(status)
            elif pid in self.children:
                code = os.waitstatus_to_exitcode(status)
                self.children.pop(pid)(128 - code if code < 0 else code)

    def loop(self, wake_r: int, listener: socket.socket) -> None:
        self.sel.register(wake_r, selectors.EVENT_READ, ("wake", None))
        self.sel.register(listener, selectors.EVENT_READ, ("listen", None))
        self.reap()
        while not self.done:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, _ in self.sel.select(timeout):
                kind, arg = key.data
                self.guarded(self.event, kind, arg, wake_r, listener)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now and not self.done:
                _, _, fn = heapq.heappop(self.timers)
                self.guarded(fn)

    def guarded(self, fn: Callable[..., None], *args: Any) -> None:
        """Never let one failed step (or a bug) take the shim, and the supervision, down."""
        try:
            fn(*args)
        except Exception as e:
            try:
                self.save(warnings=[*self.st.get("warnings", [])[-9:],
                                    f"shim: {type(e).__name__}: {e}"])
            except OSError:
                pass

    def event(self, kind: str, arg: Any, wake_r: int, listener: socket.socket) -> None:
        if kind == "wake":
            os.read(wake_r, 512)
            self.reap()
        elif kind == "listen":
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            # Never a blocking read on a client in this single-threaded loop: the connection
            # is non-blocking, and one that sends no request in time is dropped.
            conn.setblocking(False)
            self.sel.register(conn, selectors.EVENT_READ, ("conn", conn))
            self.idle.add(conn)
            self.timer(control.REQUEST_TIMEOUT, lambda: self.drop_idle(conn))
        elif kind == "conn":
            self.idle.discard(arg)
            control.handle(self, arg)
        elif kind == "attach":
            self.attach.readable(arg)
        elif kind == "out":
            if arg in self.streams:
                self.drain(arg)
        elif kind == "health":
            self.health_read(arg)

    def drop_idle(self, conn: socket.socket) -> None:
        if conn in self.idle:
            self.idle.discard(conn)
            try:
                self.sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()


def _detach() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    os.chdir("/")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--zygote":
        from pystack.runtime.zygote import serve

        return serve(argv[1], int(argv[2]))
    cdir, ready_fd = Path(argv[0]), int(argv[1])
    _detach()
    # The first line of the report is this shim's pid, before anything that can be slow:
    # a start that gives up on a slow shim kills it by that pid even when the shim has not
    # recorded itself in the state yet (it would otherwise start the container later).
    try:
        os.write(ready_fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    set_name("pystack-shim")
    set_cmdline(f"pystack-shim {cdir}")     # the zygote's argv said only PYSTACK_ROOT
    faults.point("shim:unrecorded")         # (tests: a shim slow to record itself)
    set_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def report(obj: dict[str, Any]) -> None:
        try:
            os.write(ready_fd, json.dumps(obj).encode())
            os.close(ready_fd)
        except OSError:
            pass

    shim: Shim | None = None
    listener: socket.socket | None = None
    sock_ino = 0

    def cleanup() -> None:
        # Everything goes BEFORE anyone hears that the container has stopped: a start that
        # follows at once must not see this shim remove its cgroup or socket.
        if listener is not None:
            listener.close()
            try:
                if os.stat(sock_path).st_ino == sock_ino:
                    sock_path.unlink()
            except OSError:
                pass
        if shim is not None:
            try:
                shim.cg.kill_all()
                shim.cg.remove()
            except ContainerRuntimeError as e:
                shim.save(warnings=[*shim.st.get("warnings", []), str(e)])

    sock_path = state.Paths(dir=cdir, id=cdir.name).socket
    try:
        shim = Shim(cdir)
        listener = control.listen(sock_path)
        sock_ino = os.stat(sock_path).st_ino
        listener.setblocking(False)
        shim.cg.create()
        shim.cg.apply(shim.resources, shim.privileged)
        if shim.cg.warnings():
            shim.st["warnings"] = [*shim.st.get("warnings", []), *shim.cg.warnings()]
        shim.st["restart_count"] = 0
        failure = shim.run_once()
    except (ContainerRuntimeError, OSError) as e:
        cleanup()
        report({"error": str(e), "exit_code": 128})
        return 1
    if failure is not None:
        code, message = failure
        shim.log.close()
        shim.save(status="exited", pid=0, exit_code=code, error=message,
                  finished_at=now_rfc3339())
        cleanup()
        report({"error": message, "exit_code": code})
        return 0
    faults.point("shim:before-report")
    report({"pid": shim.pid})
    try:
        shim.loop(wake_r, listener)
    finally:
        shim.log.close()
        cleanup()
        for w in shim.exit_waiters:
            shim.reply(w, shim.st)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
