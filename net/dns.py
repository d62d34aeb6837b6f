"""The manager's side of the embedded DNS server (dnsserver.py): start it, tell it that the
sandboxes changed, stop it.  Every call holds the project's DNS lock, so two `up`s never
start two servers, and a server never exits idle while it is being handed a sandbox.

- `sync(knobs, project)` (after an attach): the server opens its sockets in the new sandboxes
  and re-reads the names; it is started first if it is not running (or died), and the call
  returns once the new sandbox is served, so a container never starts before its resolver;
- `sync(..., start=False)` (after a sandbox is removed): only when it runs;
- `stop(knobs, project)` (teardown of the last sandbox): waits until the process is gone;
- `prestart` (when a network is ensured): `sync` in a background thread, so the server's
  start overlaps the creation of the first sandbox.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from pystack.net.errors import NetError
from pystack.net.state import Knobs, _flock

START_TIMEOUT = 10.0
REPLY_TIMEOUT = 10.0


def paths(knobs: Knobs, project: str) -> tuple[Path, Path, Path]:
    """(control socket, pid file, lock file) of the project's server."""
    d = knobs.run / "net" / "dns"
    return d / f"{project}.sock", d / f"{project}.pid", d / f"{project}.lock"


def _ask(sock_path: Path, command: str) -> str | None:
    """The server's reply to `command`, or None when no server listens there."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(REPLY_TIMEOUT)
        try:
            s.connect(str(sock_path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        s.sendall(command.encode() + b"\n")
        reply = s.recv(256).decode(errors="replace").strip()
        return reply or None            # EOF: the worker died on it; start again
    except OSError:
        return None
    finally:
        s.close()


SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def server_environment(knobs: Knobs) -> dict[str, str]:
    """The server's environment: pystack's knobs and a fixed PATH, as the runtime's shims get
    (runtime/zygote.py); never the caller's shell environment, whose secrets would stay
    readable in /proc/<pid>/environ of a root process for the project's life."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PYSTACK_")}
    env.update(PATH=SERVER_PATH, PYSTACK_RUN=str(knobs.run), PYSTACK_ROOT=str(knobs.root))
    return env


def _spawn(knobs: Knobs, project: str) -> None:
    log = paths(knobs, project)[0].with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log, "ab") as err:
        # -I: no PYTHON* variables, no user site, and not the caller's working directory
        # first on sys.path (`-m` puts it there: a `pystack/` dir in a project would run).
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "pystack.net.dnsserver", project],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            start_new_session=True, close_fds=True, cwd="/", env=server_environment(knobs))
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
    finally:
        proc.stdout.close()
    proc.wait()                         # the first process forks the server and exits
    if line.strip() != b"ready":
        raise NetError(f"the embedded DNS server of project {project} did not start",
                       hint=f"see {log}")


def sync(knobs: Knobs, project: str, start: bool = True) -> None:
    sock_path, _, lock = paths(knobs, project)
    lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _flock(lock):
        if _ask(sock_path, "sync") is not None or not start:
            return
        _spawn(knobs, project)
        if _ask(sock_path, "sync") is None:
            raise NetError(f"the embedded DNS server of project {project} does not answer")


_prestarted: set[tuple[str, str]] = set()


def prestart(knobs: Knobs, project: str) -> None:
    """Start the server in the background (once per process and project): the first
    attach's `sync` then waits on the lock for it instead of starting it itself."""
    key = (str(knobs.run), project)
    if key in _prestarted:
        return
    _prestarted.add(key)

    def run() -> None:
        try:
            sync(knobs, project)
        except (NetError, OSError):
            pass                        # the attach's sync tries again and reports

    threading.Thread(target=run, name="dns-prestart", daemon=True).start()


def _pid_of(pid_path: Path) -> int | None:
    try:
        return int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int, timeout: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def _is_server(pid: int, project: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"pystack.net.dnsserver" in argv and project.encode() in argv


def stop(knobs: Knobs, project: str) -> None:
    """Stop the project's server (if any) and wait until both of its processes are gone."""
    sock_path, pid_path, lock = paths(knobs, project)
    if not lock.parent.is_dir():
        return
    with _flock(lock):
        supervisor = _pid_of(pid_path)
        reply = _ask(sock_path, "stop")
        pids = [p for p in (supervisor, _worker_pid(reply)) if p]
        for pid in pids:
            if not _wait_gone(pid, 5.0) and _is_server(pid, project):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)
        log = sock_path.with_suffix(".log")
        quiet = not log.exists() or log.stat().st_size == 0
        # The lock file stays (as the projects' locks do): unlinking a lock in use would let
        # a waiter and a newcomer hold two different ones.
        for p in (sock_path, pid_path, *((log,) if quiet else ())):
            try:
                p.unlink()      # a log that says something stays, for the admin
            except FileNotFoundError:
                pass


def _worker_pid(reply: str | None) -> int | None:
    if reply and reply.startswith("ok "):
        try:
            return int(reply.split()[1])
        except ValueError:
            return None
    return None
