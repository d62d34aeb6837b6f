"""Run a process inside a running container (`exec`, and the shim's healthchecks).

Forked from the single-threaded shim (runtime.md §2.2 "exec"):
  A: signals reset, stdio, non-dumpable, opens /proc/<pid1>/ns/* BEFORE the first switch,
     joins the container's cgroup, setns ipc, uts, net, cgroup, pid, then mnt last;
     with tty makes the terminal in the container's devpts and hands its master to the caller
     (who pumps it: the caller's own fds never enter the container, issue 9 item 6);
     forks B (so B is in the pid ns) and waits for it, forwarding SIGTERM as SIGKILL
     (the healthcheck timeout), and exits with B's code (128+signal when killed).
  B: resolves user/cwd/PATH inside the container, applies the same NNP/caps/seccomp as the
     container (unless privileged), closes every other fd and execs.
Errors in B are printed on its stderr with Docker's wording and exit 126/127.
When the shim is dead the caller itself forks A (`run_direct`), after checking that the pid
recorded in state.json is still the container's PID 1 (by its start time).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from pystack.runtime import launch, process, state
from pystack.runtime import linux as L
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.security import plan
from pystack.runtime.spec import ContainerSpec, ExecSpec

NAMESPACES = (("ipc", L.CLONE_NEWIPC), ("uts", L.CLONE_NEWUTS), ("net", L.CLONE_NEWNET),
              ("cgroup", L.CLONE_NEWCGROUP), ("pid", L.CLONE_NEWPID), ("mnt", L.CLONE_NEWNS))


def _fail(code: int, msg: str) -> None:
    try:
        os.write(2, f"{msg}\n".encode(errors="replace"))
    finally:
        os._exit(code)


def _child_b(spec: ContainerSpec, xs: ExecSpec, base: process.Process,
             sec: plan.Security, tty: bool) -> None:
    os.setsid()
    if tty:
        fcntl.ioctl(0, L.TIOCSCTTY, 0)
    try:
        with open("/etc/passwd") as f:
            passwd = f.read()
    except OSError:
        passwd = ""
    try:
        with open("/etc/group") as f:
            group = f.read()
    except OSError:
        group = ""
    try:
        user = process.resolve_user(xs.user or spec.user or spec.image.user or "0", passwd,
                                    group, () if xs.user else spec.group_add)
    except ContainerRuntimeError as e:
        _fail(126, f"exec failed: {e}")
        return
    env = process.merge_env(base.env, xs.env)
    if xs.user:
        env["HOME"] = user.home
    env_list = tuple(f"{k}={v}" for k, v in env.items())
    cwd = xs.working_dir or base.cwd
    try:
        os.chdir(cwd)
    except OSError as e:
        _fail(126, f"exec failed: chdir to cwd ({cwd!r}): {e.strerror}")
    exe = process.lookup_path(xs.argv[0], env_list)
    if exe is None:
        _fail(127, f'exec failed: exec: "{xs.argv[0]}": executable file not found in $PATH')
        return
    try:
        sec.apply(user)
    except (ContainerRuntimeError, OSError) as e:
        _fail(126, f"exec failed: {e}")
    os.closerange(3, 65536)
    sec.install_seccomp()
    try:
        os.execve(exe, xs.argv, env)
    except OSError as e:
        _fail(127 if e.errno == errno.ENOENT else 126,
              f'exec failed: exec: "{xs.argv[0]}": {e.strerror}')


def _hand_over(master: int) -> None:
    """Send the terminal's master to the caller (fd 3, its unix socket) and wait until it
    has set the size (so the command starts with it); the caller pumps it, we never see the
    caller's own streams."""
    sock = socket.socket(fileno=3)
    try:
        socket.send_fds(sock, [b"m"], [master])
        ready, _, _ = select.select([sock], [], [], 30.0)
        if not ready or not sock.recv(1):
            _fail(126, "exec failed: the caller went away")
    finally:
        sock.close()
        os.close(master)


def _child_a(spec: ContainerSpec, pid1: int, cg_procs: list[str], xs: ExecSpec,
             stdio: launch.Stdio, base: process.Process, sec: plan.Security,
             pid_start: int | None = None) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    if stdio.tty and stdio.console < 0:
        _fail(126, "exec failed: a terminal needs the caller's console socket")
    console = fcntl.fcntl(stdio.console, fcntl.F_DUPFD_CLOEXEC, 10) if stdio.tty else -1
    for i, fd in enumerate((stdio.stdin, stdio.stdout, stdio.stderr)):
        if fd != i:
            os.dup2(fd, i)
    if console >= 0:
        os.dup2(console, 3)
    os.closerange(4 if console >= 0 else 3, 65536)
    L.set_non_dumpable()
    fds = []
    for name, kind in NAMESPACES:
        fds.append((os.open(f"/proc/{pid1}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), kind))
    if pid_start is not None and not state.pid_alive(pid1, pid_start):
        # The same process still runs AFTER the opens: the fds are its namespaces, not those
        # of a process that got its pid again.
        _fail(126, "exec failed: the container's PID 1 is gone")
    for procs in cg_procs:
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    for fd, kind in fds:
        L.setns(fd, kind)
        os.close(fd)
    slave = -1
    if stdio.tty:
        # The terminal comes from the CONTAINER's devpts (we are in its mount ns now), so
        # ttyname works inside; its master goes to the caller, who pumps it.
        master, slave, _ = L.open_pty()
        _hand_over(master)
    child = os.fork()
    if child == 0:
        try:
            if slave >= 0:
                for i in range(3):
                    os.dup2(slave, i)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            for sig in signal.valid_signals():
                if sig not in (signal.SIGKILL, signal.SIGSTOP):
                    try:
                        signal.signal(sig, signal.SIG_DFL)
                    except (OSError, ValueError):
                        pass
            _child_b(spec, xs, base, sec, stdio.tty)
        except BaseException as e:
            _fail(126, f"exec failed: {e}")
        os._exit(126)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    if slave >= 0:
        os.close(slave)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


def spawn_exec(load_spec: Callable[[], ContainerSpec], pid1: int, cg_procs: list[str],
               xs: ExecSpec, stdio: launch.Stdio, layers: list[Path] | None = None,
               pid_start: int | None = None) -> int:
    """Fork the exec helper (child A); return its pid.  The caller reaps it.

    Everything (the spec, the merged process, the security plan) is loaded and computed in
    the child, so the long-lived shim touches none of it.
    """
    if not xs.argv:
        raise ContainerRuntimeError("exec: no command given")
    pid = os.fork()
    if pid == 0:
        try:
            signal.set_wakeup_fd(-1)
            spec = load_spec()
            try:
                base = process.build(spec, layers or [])
            except ContainerRuntimeError:
                base = process.Process(argv=(), env=(f"PATH={process.DEFAULT_PATH}",),
                                       cwd="/", user=process.User(0, 0, (), "/"))
            sec = plan.Security.plan(spec, privileged=spec.privileged or xs.privileged)
            _child_a(spec, pid1, cg_procs, xs, stdio, base, sec, pid_start)
        except BaseException as e:
            _fail(126, f"exec failed: {e}")
        os._exit(126)
    return pid


def run_direct(load_spec: Callable[[], ContainerSpec], pid1: int, pid_start: int | None,
               cg_procs: list[str], xs: ExecSpec, stdio: launch.Stdio,
               layers: list[Path]) -> int:
    """exec without the shim (it was killed; the container still runs): the helper is forked
    by the caller, which waits for it.  Detached, it is forked through a short-lived middle
    process, so that nobody has to reap it."""
    if not xs.detach:
        child = spawn_exec(load_spec, pid1, cg_procs, xs, stdio, layers, pid_start)
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code
    middle = os.fork()
    if middle == 0:
        code = 126
        try:
            spawn_exec(load_spec, pid1, cg_procs, xs, stdio, layers, pid_start)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(middle, 0)
    return 0 if os.waitstatus_to_exitcode(status) == 0 else 126
