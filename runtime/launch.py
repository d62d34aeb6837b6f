"""The container start sequence: stage-1 and stage-2.

Called by the shim's starter or a one-shot runner (single-threaded, forked by the zygote):
  shim   fork stage-1 -> put it in the cgroup -> "go"
  stage-1  non-dumpable; setns net/ipc/pid paths; unshare(mnt and each of uts, ipc, pid, net
           the spec does not share with the host or another container), while the shim
           puts it in the cgroup; then "go": unshare(cgroup); fork stage-2; send its pid; _exit
  stage-2  (PID 1) rootfs.prepare -> pivot_root -> masks/ro paths -> hostname, sysctls, rlimits,
           oom_score_adj -> NNP, caps, user, seccomp -> close fds, reset signals -> chdir, execve
Errors inside are written to a CLOEXEC pipe as one line ("<exit code> <message>"); a clean
execve closes it, so EOF with no data means the user's command runs.  Everything stage-2 needs
is imported at the top of this module: nothing can be imported after pivot_root.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystack.runtime import linux as L
from pystack.runtime import rootfs
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.process import Process, build, hostname_of, lookup_path
from pystack.runtime.security.paths import sysctl_path
from pystack.runtime.security.plan import Security, clamp_rlimits
from pystack.runtime.spec import ContainerSpec
from pystack.runtime.state import Paths

EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXEC = 126
EXIT_SETUP = 128


@dataclass(frozen=True)
class Stdio:
    stdin: int
    stdout: int
    stderr: int
    tty: bool = False
    console: int = -1       # tty: a unix socket; stage-2 sends back the pty master it made


class _StageError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _lo_up() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, ifr))[1]   # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))   # SIOCSIFFLAGS
    finally:
        s.close()


HOST_OR_NONE = ("host", "none")        # namespace keywords of the spec (not paths to join)


def _unshare_flags(spec: ContainerSpec) -> int:
    flags = L.CLONE_NEWNS | L.CLONE_NEWCGROUP
    if spec.uts_namespace != "host":
        flags |= L.CLONE_NEWUTS
    if spec.ipc_namespace in (None, "none"):
        flags |= L.CLONE_NEWIPC
    if spec.pid_namespace is None:
        flags |= L.CLONE_NEWPID
    if spec.network_mode == "none" or (spec.network_mode == "ns" and spec.netns is None):
        flags |= L.CLONE_NEWNET
    return flags


def _join(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        L.setns(fd, nstype)
    finally:
        os.close(fd)


def _close_all_but(keep: list[int]) -> None:
    lo = 3
    for fd in sorted(keep):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 65536)


def _console(sock_fd: int, size: tuple[int, int] | None = None) -> None:
    """Make the container's terminal in ITS devpts (so ttyname works), stdio on the slave,
    /dev/console bound to it, and send the master to the shim."""
    master, slave, n = L.open_pty()
    if size is not None:                # the caller's terminal size, before PID 1 runs
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    L.mount(f"/dev/pts/{n}", "/dev/console", None, L.MS_BIND)
    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [b"m"], [master])
    finally:
        sock.close()
        os.close(master)
    for i in range(3):
        os.dup2(slave, i)
    os.close(slave)
    fcntl.ioctl(0, L.TIOCSCTTY, 0)


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _stage2(spec: ContainerSpec, paths: Paths, proc: Process, stdio: Stdio,
            rlimits: list[tuple[int, int, int]], sec: Security, err_w: int,
            volatile: bool) -> None:
    hostname = hostname_of(spec)
    os.setsid()
    if stdio.tty and stdio.console < 0:
        fcntl.ioctl(stdio.stdin, L.TIOCSCTTY, 0)
    for i, fd in enumerate((stdio.stdin, stdio.stdout, stdio.stderr)):
        if fd != i:
            os.dup2(fd, i)
    _reset_signals()
    # No host fd may survive into the container (CVE-2024-21626): close them all now, before
    # any path (the working dir above all) is resolved inside the new root.
    keep = sorted({err_w, stdio.console} - {-1})
    _close_all_but(keep)
    if spec.network_mode != "host":
        _lo_up()
    root = rootfs.prepare(spec, paths, volatile)
    rootfs.pivot(root)
    if spec.uts_namespace != "host":
        socket.sethostname(hostname)
        if spec.domainname:
            L.setdomainname(spec.domainname)
    for key, value in spec.sysctls.items():       # before /proc/sys turns read-only
        fd = os.open(sysctl_path(key), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    rootfs.finalize(spec)
    if stdio.console >= 0:
        _console(stdio.console, spec.console_size)
    for res, soft, hard in rlimits:
        resource.setrlimit(res, (soft, hard))
    if spec.resources.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(spec.resources.oom_score_adj))
    try:
        os.chdir(proc.cwd)
    except FileNotFoundError:
        try:
            os.makedirs(proc.cwd, 0o755)        # Docker creates a missing working dir
            os.chdir(proc.cwd)
        except OSError as e:
            raise _StageError(EXIT_SETUP, f"chdir to cwd ({proc.cwd!r}) set in config.json "
                                          f"failed: {e.strerror}") from e
    except NotADirectoryError as e:
        raise _StageError(EXIT_SETUP, f"chdir to cwd ({proc.cwd!r}) set in config.json failed: "
                                      "not a directory") from e
    exe = lookup_path(proc.argv[0], proc.env)
    if exe is None:
        raise _StageError(EXIT_NOT_FOUND, f'exec: "{proc.argv[0]}": executable file not found '
                                          "in $PATH")
    sec.apply(proc.user)
    if not os.getcwd().startswith("/"):
        raise _StageError(EXIT_SETUP, "the working directory is outside the container")
    _close_all_but([err_w])
    sec.install_seccomp()
    try:
        os.execve(exe, proc.argv, dict(e.split("=", 1) for e in proc.env if "=" in e))
    except OSError as e:
        code = EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_CANNOT_EXEC
        what = "no such file or directory" if e.errno == errno.ENOENT else e.strerror
        raise _StageError(code, f'exec: "{proc.argv[0]}": {what}') from e


def _report(err_w: int, code: int, message: str) -> None:
    try:
        os.write(err_w, f"{code} {message}\n".encode(errors="replace"))
    except OSError:
        pass
    os._exit(code)


def start(spec: ContainerSpec, paths: Paths, proc: Process, stdio: Stdio,
          join_cgroup: object, volatile: bool = False) -> tuple[int, int]:
    """Fork the container; return (host pid of its PID 1, read end of the error pipe).
    `volatile`: its upper dir is thrown away after (a build step): mounted without syncs.

    `join_cgroup(pid)` puts stage-1 in the container's cgroup before it unshares.
    The caller reads the error pipe to EOF: data means the start failed (see `read_error`).
    """
    rlimits, _ = clamp_rlimits(spec)
    sec = Security.plan(spec)
    go_r, go_w = os.pipe()
    info_r, info_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:                                # ---- stage-1
        try:
            os.close(go_w)
            os.close(info_r)
            os.close(err_r)
            L.set_non_dumpable()
            # The namespaces are made while the caller puts us in the cgroup (its write to
            # cgroup.procs waits for an RCU grace period): only the cgroup namespace needs
            # the cgroup, and nothing of the container runs before the fork below.
            if spec.network_mode == "ns" and spec.netns:
                _join(spec.netns, L.CLONE_NEWNET)
            if spec.ipc_namespace and spec.ipc_namespace not in HOST_OR_NONE:
                _join(spec.ipc_namespace, L.CLONE_NEWIPC)
            if spec.pid_namespace and spec.pid_namespace not in HOST_OR_NONE:
                _join(spec.pid_namespace, L.CLONE_NEWPID)
            L.unshare(_unshare_flags(spec) & ~L.CLONE_NEWCGROUP)
            if os.read(go_r, 1) != b"g":
                os._exit(1)
            L.unshare(L.CLONE_NEWCGROUP)        # rooted at the container's cgroup
            child = os.fork()
            if child == 0:                      # ---- stage-2 = PID 1
                os.close(info_w)
                try:
                    _stage2(spec, paths, proc, stdio, rlimits, sec, err_w, volatile)
                except _StageError as e:
                    _report(err_w, e.code, e.message)
                except ContainerRuntimeError as e:
                    _report(err_w, EXIT_SETUP, str(e))
                except OSError as e:
                    _report(err_w, EXIT_SETUP, f"{e.strerror}: {e.filename or ''}".rstrip(": "))
                except BaseException as e:  # PID 1 must never raise
                    _report(err_w, EXIT_SETUP, f"{type(e).__name__}: {e}")
                os._exit(EXIT_SETUP)
            os.write(info_w, str(child).encode())
            os._exit(0)
        except BaseException as e:
            _report(err_w, EXIT_SETUP, f"{e}")
            os._exit(EXIT_SETUP)
    os.close(go_r)
    os.close(info_w)
    os.close(err_w)
    try:
        try:
            join_cgroup(pid)  # type: ignore[operator]
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(go_w)
            why = read_error(err_r)         # stage-1 failed first (a namespace to join)?
            if why is not None:
                raise ContainerRuntimeError(f"container start failed: {why[1]}") from None
            raise
        try:
            os.write(go_w, b"g")
        except BrokenPipeError:
            pass                            # stage-1 failed: its error pipe says why
        os.close(go_w)
        raw = b""
        while chunk := os.read(info_r, 64):
            raw += chunk
        os.waitpid(pid, 0)
    finally:
        os.close(info_r)
    if not raw:
        msg = read_error(err_r)
        raise ContainerRuntimeError(f"container start failed: {msg[1] if msg else 'stage-1 died'}")
    return int(raw), err_r


def read_error(err_r: int) -> tuple[int, str] | None:
    """Block until the error pipe closes; None when the command was exec'd."""
    raw = b""
    try:
        while chunk := os.read(err_r, 4096):
            raw += chunk
    finally:
        os.close(err_r)
    if not raw:
        return None
    code, _, msg = raw.decode(errors="replace").strip().partition(" ")
    return (int(code) if code.isdigit() else EXIT_SETUP), msg


def starter(spec: ContainerSpec, paths: Paths, layers: list[Path], join_cgroup: object,
            chan: socket.socket, out_fds: list[int]) -> int:
    """In the shim's forked starter: launch, then send {"pid", "failure"} (+ the pty master)
    on `chan`."""
    reply: dict[str, Any] = {}
    fds: list[int] = []
    try:
        proc = build(spec, layers)
        console: socket.socket | None = None
        if spec.tty:
            console, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = Stdio(null, null, null, tty=True, console=theirs.detach())
        else:
            null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            if len(out_fds) > 2:                # stdin_open: the shim holds the write end
                os.close(null)
                null = out_fds[2]
            stdio = Stdio(null, out_fds[0], out_fds[1])
        try:
            pid, err_pipe = start(spec, paths, proc, stdio, join_cgroup)
        finally:
            for fd in {stdio.stdin, stdio.stdout, stdio.stderr, stdio.console} - {-1}:
                os.close(fd)
        reply["pid"] = pid
        if console is not None:
            # The pty is made inside the container; its master comes back over the
            # socket (EOF instead when stage-2 failed first: the error pipe says why).
            try:
                console.settimeout(30)
                _, fds, _, _ = socket.recv_fds(console, 16, 1)
            except OSError:
                fds = []
            finally:
                console.close()
        reply["failure"] = read_error(err_pipe)
    except (ContainerRuntimeError, OSError) as e:
        reply["failure"] = [EXIT_SETUP, str(e)]
    socket.send_fds(chan, [json.dumps(reply).encode()], fds[:1])
    return 0
