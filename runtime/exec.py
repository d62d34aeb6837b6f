"""Run a process inside a running container (`exec`, and the shim's healthchecks).

Forked from the single-threaded shim (runtime.md §2.2 "exec").  Everything that reads the
container's files, and every privilege that is not the target's, ends BEFORE the helper
becomes visible in the container's pid namespace (runc's setns-init order).  A container
holding CAP_SYS_PTRACE can attach to anything it can see; what it can see must be no more
than another of its own processes (issue 9 item 4):
  spawn_exec (still on the host, in no namespace of the container): non-dumpable, loads the
     spec, merges the process (env, cwd) and resolves the user and groups from the image's
     layers with the container's upper dir on top (layerview: no FIFO, no symlink out, no
     device is ever opened), and plans NNP/caps/seccomp;
  A: signals reset, stdio, every other fd closed, the environment scrubbed (nothing of the
     caller's survives in its memory for B to inherit), opens /proc/<pid1>/ns/* BEFORE the
     first switch, joins the container's cgroup, setns ipc, uts, net, cgroup, pid, then mnt
     last; then drops to the target: NNP, bounding set, user and groups, capability sets,
     seccomp, non-dumpable again (a uid change may reset it).  Only then it makes the tty
     (from the container's devpts), hands its master to the caller over the console socket
     (who pumps it: the caller's own fds never enter the container, issue 9 item 6), and
     forks B (so B is in the pid ns), waits for it (keeping a copy of the master: when the
     caller detaches or dies, A drains the terminal, so B runs on as under Docker),
     forwarding SIGTERM as SIGKILL (the healthcheck timeout), and exits with B's code (128+signal
     when killed).  A itself is never in the container's pid namespace.
  B: setsid, the tty, chdir, PATH lookup inside the container, closes every other fd, execs.
Errors are printed on the helper's stderr with Docker's wording and exit 126/127.
When the shim is dead the caller itself forks A (`run_direct`), after checking that the pid
recorded in state.json is still the container's PID 1 (by its start time).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from pystack.runtime import launch, process, state, users
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


def scrub_environ() -> None:
    """Forget this process's environment: os.environ, libc's, and the strings themselves at
    the top of the stack (what /proc/<pid>/environ shows, and what a fork inherits).  For a
    helper forked from the caller (`run_direct`), whose environment is root's shell's."""
    os.environ.clear()
    L.LIBC.clearenv()
    try:
        with open("/proc/self/stat", "rb") as f:
            raw = f.read()
        fields = raw[raw.rfind(b")") + 2:].split()
        start, end = int(fields[47]), int(fields[48])      # env_start, env_end (50-51)
    except (OSError, IndexError, ValueError):
        return
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


def exec_user(spec: ContainerSpec, xs: ExecSpec, layers: list[Path]) -> users.User:
    """Who the exec runs as, resolved ON THE HOST from the image's layers (the container's
    upper dir on top): the container never gets to hand the helper a file to read."""
    return users.resolve(layers, xs.user or spec.user or spec.image.user,
                         () if xs.user else spec.group_add)


def _child_b(xs: ExecSpec, env: dict[str, str], cwd: str, tty: bool) -> None:
    """In the container's pid namespace, already confined: the terminal, cwd, PATH, execve."""
    os.setsid()
    if tty:
        fcntl.ioctl(0, L.TIOCSCTTY, 0)
    try:
        os.chdir(cwd)
    except OSError as e:
        _fail(126, f"exec failed: chdir to cwd ({cwd!r}): {e.strerror}")
    exe = process.lookup_path(xs.argv[0], tuple(f"{k}={v}" for k, v in env.items()))
    if exe is None:
        _fail(127, f'exec failed: exec: "{xs.argv[0]}": executable file not found in $PATH')
        return
    os.closerange(3, 65536)
    try:
        os.execve(exe, xs.argv, env)
    except OSError as e:
        _fail(127 if e.errno == errno.ENOENT else 126,
              f'exec failed: exec: "{xs.argv[0]}": {e.strerror}')


def _hand_over(master: int) -> socket.socket:
    """Send the terminal's master to the caller (fd 3, its unix socket) and wait until it
    has set the size (so the command starts with it); the caller pumps it, we never see the
    caller's own streams (issue 9 item 6).  We keep our copy of the master and the socket:
    see `_outlive_the_caller`."""
    sock = socket.socket(fileno=3)
    try:
        socket.send_fds(sock, [b"m"], [master])
        ready, _, _ = select.select([sock], [], [], 30.0)
        if not ready or not sock.recv(1):
            _fail(126, "exec failed: the caller went away")
    except BaseException:
        sock.close()
        raise
    return sock


def _outlive_the_caller(child: int, sock: socket.socket, master: int) -> int:
    """Wait for B while the caller pumps the terminal; once the caller has gone (its detach
    keys, or it died: its end of the console socket closes) read and drop what B writes, so
    B keeps running as under Docker, neither hung up (this copy of the master keeps the
    terminal open) nor blocked on a full terminal.  Returns B's wait status."""
    pidfd = os.pidfd_open(child)
    try:
        watch = [pidfd, sock.fileno()]
        while True:
            ready, _, _ = select.select(watch, [], [])
            if pidfd in ready:
                return os.waitpid(child, 0)[1]
            if master in ready:
                try:
                    os.read(master, 65536)
                except OSError:             # EIO: nothing holds the terminal's slave
                    watch.remove(master)
            elif sock.fileno() in ready:
                try:
                    gone = not sock.recv(64)
                except OSError:
                    gone = True
                if gone:                    # from now on the output is ours to drain
                    watch = [pidfd, master]
    finally:
        os.close(pidfd)


def _enter(pid1: int, cg_procs: list[str], pid_start: int | None) -> None:
    """Join the container's cgroup and namespaces (mnt last); A stays out of its pid ns."""
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


def _kill_child(child: int) -> None:
    try:
        os.kill(child, signal.SIGKILL)
    except OSError:         # it became someone we may not signal (a setuid program): leave
        os._exit(128 + signal.SIGKILL)


def _child_a(pid1: int, cg_procs: list[str], xs: ExecSpec, stdio: launch.Stdio,
             user: users.User, env: dict[str, str], cwd: str, sec: plan.Security,
             pid_start: int | None = None) -> None:
    L.set_non_dumpable()
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
        os.dup2(console, 3)             # the caller's console socket (see _hand_over)
    os.closerange(4 if console >= 0 else 3, 65536)
    scrub_environ()
    _enter(pid1, cg_procs, pid_start)
    # The target's confinement, in full, before anything of ours is visible inside.
    try:
        sec.apply(user)
        sec.install_seccomp()
        L.set_non_dumpable()            # a uid change resets it to fs.suid_dumpable
    except (ContainerRuntimeError, OSError) as e:
        _fail(126, f"exec failed: {e}")
    slave = master = -1
    sock: socket.socket | None = None
    if stdio.tty:
        # The terminal comes from the CONTAINER's devpts (we are in its mount ns now), so
        # ttyname works inside; its master goes to the caller, who pumps it.
        master, slave, _ = L.open_pty()
        sock = _hand_over(master)
    child = os.fork()
    if child == 0:
        try:
            if sock is not None:
                sock.close()
                os.close(master)
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
            _child_b(xs, env, cwd, stdio.tty)
        except BaseException as e:
            _fail(126, f"exec failed: {e}")
        os._exit(126)
    signal.signal(signal.SIGTERM, lambda *_: _kill_child(child))
    if slave >= 0:
        os.close(slave)
    if sock is not None:
        status = _outlive_the_caller(child, sock, master)
    else:
        _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


def spawn_exec(load_spec: Callable[[], ContainerSpec], pid1: int, cg_procs: list[str],
               xs: ExecSpec, stdio: launch.Stdio, layers: list[Path] | None = None,
               pid_start: int | None = None) -> int:
    """Fork the exec helper (child A); return its pid.  The caller reaps it.

    Everything (the spec, the merged process, the user, the security plan) is loaded and
    computed in the child, on the host, so the long-lived shim touches none of it.
    """
    if not xs.argv:
        raise ContainerRuntimeError("exec: no command given")
    pid = os.fork()
    if pid == 0:
        try:
            L.set_non_dumpable()
            signal.set_wakeup_fd(-1)
            spec = load_spec()
            try:
                base = process.build(spec, layers or [])
                base_env, cwd = base.env, base.cwd
            except ContainerRuntimeError:
                base_env, cwd = (f"PATH={process.DEFAULT_PATH}",), "/"
            try:
                user = exec_user(spec, xs, layers or [])
            except ContainerRuntimeError as e:
                _fail(126, f"exec failed: {e}")
                return 0
            env = process.merge_env(base_env, xs.env)
            if xs.user:
                env["HOME"] = user.home
            sec = plan.Security.plan(spec, privileged=spec.privileged or xs.privileged)
            _child_a(pid1, cg_procs, xs, stdio, user, env, xs.working_dir or cwd, sec,
                     pid_start)
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
