"""The shim zygote: a pre-imported, single-threaded template that forks one shim per start.

A start then costs two forks instead of an interpreter start-up plus imports (~100 ms), and the
shims share the zygote's pages copy-on-write (a smaller PSS each).  `Zygote` is the client a
LinuxRuntime keeps (the zygote is started on the first start and exits when that process
closes its socket: close(), or exit); `serve` is the zygote's loop.  It runs
`python -I -S` with a tiny bootstrap that finds the pystack package by its directory, so it
works from an editable checkout and an install alike.  PYSTACK_ROOT is in its argv, so the
zygote and every shim forked from it can be found by it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from pystack.runtime.errors import ContainerRuntimeError

# The shim runs `python -I -S` (no site: ~30 ms and ~1 MiB less per container) and finds the
# pystack package by its directory, which works for editable and regular installs alike.
PKG_PARENT = str(Path(__file__).resolve().parent.parent)
SHIM_BOOT = ("import sys,types;m=types.ModuleType('pystack');m.__path__=[sys.argv[1]];"
             "sys.modules['pystack']=m;from pystack.runtime.shim import main;"
             "sys.exit(main(sys.argv[2:]))")
# A zygote for build steps only (runtime/oneshot.py): the runner's modules, not the shim's;
# it imports the shim's the first time it is asked for a shim.
RUNNER_BOOT = ("import sys,types;m=types.ModuleType('pystack');m.__path__=[sys.argv[1]];"
               "sys.modules['pystack']=m;from pystack.runtime.zygote import serve;"
               "sys.exit(serve(sys.argv[3], int(sys.argv[4]), lite=True))")


def shim_environment() -> dict[str, str]:
    """The zygote's, every shim's and every exec helper's environment: pystack's own knobs
    and a fixed PATH, never the caller's shell environment (its secrets would be readable
    from /proc/<pid>/environ and from the helpers' memory inside containers)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PYSTACK_")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


class Zygote:
    """A pre-imported shim template (`shim.zygote`), started on the first `start`.

    Each start sends it the container dir and the ready pipe; it forks a detached shim.  It
    exits when this process closes its socket (close(), or the CLI exiting), leaving every
    shim running.  Its argv holds PYSTACK_ROOT, as does every shim forked from it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self, lite: bool = False) -> socket.socket:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", RUNNER_BOOT if lite else SHIM_BOOT,
                 PKG_PARENT, "--zygote",
                 str(self.root), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                cwd="/", env=shim_environment())
        except OSError as e:
            mine.close()
            raise ContainerRuntimeError(f"cannot start the shim: {e}") from e
        finally:
            theirs.close()
        self.sock = mine
        return mine

    def ensure_started(self, lite: bool = False) -> None:
        """Start the zygote now if it is not running (prewarm); `lite`: one for one-shot
        runners (build steps), which starts faster (see RUNNER_BOOT)."""
        with self.lock:
            if self.sock is None or self.proc is None or self.proc.poll() is not None:
                self._close_locked()
                self._start(lite)

    def spawn(self, cdir: Path, ready_w: int) -> None:
        """Fork a detached shim for the container of `cdir`; it reports on `ready_w`."""
        self.send(str(cdir).encode(), [ready_w])

    def send(self, msg: bytes, fds: list[int]) -> None:
        """One request: a container dir for a shim, or `oneshot.REQUEST` + one for a runner."""
        with self.lock:
            sock = self.sock
            if sock is None or self.proc is None or self.proc.poll() is not None:
                self._close_locked()
                sock = self._start(lite=msg.startswith(b"run\0"))   # oneshot.REQUEST
            try:
                socket.send_fds(sock, [msg], fds)
            except OSError as e:
                self._close_locked()
                raise ContainerRuntimeError(f"cannot start the shim: {e}") from e

    def _close_locked(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                _exited(self.proc.pid, 5)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        with self.lock:
            self._close_locked()

    def kill(self) -> None:
        """SIGKILL a stuck zygote (it forks no shim after this); the next request starts a
        new one."""
        with self.lock:
            if self.proc is not None:
                self.proc.kill()
            self._close_locked()


def _exited(pid: int, timeout: float) -> None:
    """Wait up to `timeout` for `pid` to exit, on a pidfd (Popen.wait(timeout) polls with
    sleeps of up to 50 ms: every build would pay one at its end)."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return                              # gone already (or no pidfd): wait() decides
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def _warm() -> None:
    """Do once, in the zygote, the work every start repeats (shared by all shims after)."""
    from pystack.runtime import state
    from pystack.runtime.cgroups import layout
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.security import plan
    from pystack.runtime.spec import ContainerSpec, ExecSpec

    try:
        layout()
    except ContainerRuntimeError:
        pass
    dummy = ContainerSpec(id="0" * 64, name="warm", image=ImageConfig(), image_id="",
                          lower_dirs=())
    state.from_json(ContainerSpec, state.to_json(dummy))
    state.from_json(ExecSpec, state.to_json(ExecSpec(argv=("true",))))
    try:
        plan.Security.plan(dummy)         # the default seccomp filter, compiled once
    except ContainerRuntimeError:
        pass


def serve(root: str, fd: int, lite: bool = False) -> int:
    """Fork a shim per request (`<container dir>` + the ready fd), or a runner
    (`oneshot.REQUEST<container dir>` + its report and output fds), until the socket closes.

    A pre-imported template: a start costs a fork instead of an interpreter start-up, and the
    shims share their pages copy-on-write (smaller PSS).  `root` (PYSTACK_ROOT) is in argv
    only so that the zygote and every shim forked from it can be found by it.  `lite`: the
    shim's own modules are imported at the first shim request, not now.
    """
    from types import ModuleType

    from pystack.runtime import launch, oneshot

    shim: ModuleType | None = None
    if not lite:
        from pystack.runtime import shim
    del root, launch
    from pystack.runtime.linux import set_name

    set_name("pystack-zygote")
    sock = socket.socket(fileno=fd)
    _warm()
    import gc

    gc.freeze()     # the collector never walks (and so never copies) the zygote's objects
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 2)
        except OSError:
            return 0
        if not msg:
            return 0
        if not fds:
            continue
        run = msg.startswith(oneshot.REQUEST)
        if run and len(fds) < 2:
            for f in fds:
                os.close(f)
            continue
        if not run and shim is None:
            # a lite zygote's first shim: its modules are imported once, here
            from pystack.runtime import shim
        pid = os.fork()
        if pid == 0:
            sock.close()
            code = 1
            try:
                if run:
                    code = oneshot.runner(msg[len(oneshot.REQUEST):].decode(), fds[0], fds[1])
                elif shim is not None:
                    code = shim.main([msg.decode(), str(fds[0])])
            finally:
                os._exit(code)
        for f in fds:
            os.close(f)
        if not run:
            os.waitpid(pid, 0)              # the shim detaches: this returns at once
        _reap()                             # runners exit when their container has


def _reap() -> None:
    """Collect the runners that have exited (they are the zygote's own children)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
