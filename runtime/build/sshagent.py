"""RUN --mount=type=ssh: the build's SSH agents, and the socket a RUN container sees.

A build is given agents by id (`image build --ssh default|ID=PATH[,PATH...]`, Compose
`build.ssh`): PATH is an agent's socket (`default` alone means $SSH_AUTH_SOCK) or private
key files, which are loaded into an ssh-agent of the build's own (started on first use,
stopped when the build ends), as buildx does.  A RUN never sees the host's socket: each ssh
mount is a new socket in a private directory, owned and moded as the mount asks (0600,
uid 0, gid 0 by default, as BuildKit), whose connections are forwarded to the agent; it is
bind-mounted at the target (`/run/buildkit/ssh_agent.N`) for the step only, so nothing of it
reaches the layer or the cache key.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from pystack.runtime.build.errors import BuildError


class AgentProxy:
    """A listening Unix socket at `path` forwarding each connection to `upstream`; one
    thread, stopped (every connection closed) by close()."""

    def __init__(self, upstream: str, uid: int, gid: int, mode: int) -> None:
        self.upstream = upstream
        # a short private dir (a socket's path must fit sun_path's 108 bytes)
        self.dir = Path(tempfile.mkdtemp(prefix="pystack-ssh-"))
        self.path = self.dir / "agent.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(str(self.path))
        os.chown(self.path, uid, gid)
        os.chmod(self.path, mode)
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC)
        self.thread = threading.Thread(target=self._loop, name="ssh-agent-proxy", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        sel.register(self.wake_r, selectors.EVENT_READ, None)
        peer: dict[socket.socket, socket.socket] = {}

        def drop(s: socket.socket) -> None:
            for x in (s, peer.get(s)):
                if x is not None and x in peer:
                    sel.unregister(x)
                    peer.pop(x, None)
                    x.close()
        try:
            while True:
                for key, _ in sel.select():
                    obj = key.fileobj
                    if obj == self.wake_r:
                        return
                    if obj is self.listener:
                        try:
                            conn, _ = self.listener.accept()
                        except BlockingIOError:
                            continue
                        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM |
                                           socket.SOCK_CLOEXEC)
                        try:
                            up.connect(self.upstream)
                        except OSError:
                            conn.close()
                            up.close()
                            continue
                        conn.setblocking(True)
                        peer[conn], peer[up] = up, conn
                        sel.register(conn, selectors.EVENT_READ, None)
                        sel.register(up, selectors.EVENT_READ, None)
                        continue
                    assert isinstance(obj, socket.socket)
                    try:
                        data = obj.recv(1 << 16)
                        if data:
                            peer[obj].sendall(data)
                            continue
                    except OSError:
                        pass
                    drop(obj)
        finally:
            for s in list(peer):
                s.close()
            sel.close()

    def close(self) -> None:
        os.write(self.wake_w, b"x")
        self.thread.join()
        self.listener.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        shutil.rmtree(self.dir, ignore_errors=True)


class Agents:
    """The build's agents by id: id -> sockets or key files (see the module doc)."""

    def __init__(self, sources: Mapping[str, Sequence[str]]) -> None:
        self.sources = sources
        self.sockets: dict[str, str] = {}
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.lock = threading.Lock()

    def socket_for(self, sid: str) -> str | None:
        """The agent socket for `sid` (None when the build was given none)."""
        paths = self.sources.get(sid)
        if not paths:
            return None
        with self.lock:
            if sid not in self.sockets:
                self.sockets[sid] = self._open(sid, paths)
            return self.sockets[sid]

    def _open(self, sid: str, paths: Sequence[str]) -> str:
        kinds = []
        for p in paths:
            try:
                kinds.append(stat.S_IFMT(os.stat(p).st_mode))
            except OSError as e:
                raise BuildError(f"ssh {sid}: {p}: {e.strerror}",
                                 hint="give an agent socket or private key files") from None
        if len(paths) == 1 and kinds[0] == stat.S_IFSOCK:
            return paths[0]
        if any(k != stat.S_IFREG for k in kinds):
            raise BuildError(f"ssh {sid}: give one agent socket or private key files")
        return self._agent_with_keys(sid, paths)

    def _agent_with_keys(self, sid: str, keys: Sequence[str]) -> str:
        agent, add = shutil.which("ssh-agent"), shutil.which("ssh-add")
        if agent is None or add is None:
            raise BuildError(f"ssh {sid}: loading key files needs ssh-agent and ssh-add "
                             "(openssh-client)", hint="or give an agent's socket instead")
        d = Path(tempfile.mkdtemp(prefix="pystack-ssh-agent-"))
        sock = d / "agent.sock"
        # -D: in the foreground; it prints its environment lines once it is listening
        proc = subprocess.Popen([agent, "-D", "-a", str(sock)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.procs.append((proc, d))
        assert proc.stdout is not None
        if not proc.stdout.readline():
            raise BuildError(f"ssh {sid}: ssh-agent did not start")
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        r = subprocess.run([add, "-q", *keys], env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise BuildError(f"ssh {sid}: cannot load {', '.join(keys)}: "
                             f"{r.stderr.strip() or 'ssh-add failed'}",
                             hint="a key with a passphrase must be loaded into your own agent")
        return str(sock)

    def close(self) -> None:
        for proc, d in self.procs:
            proc.terminate()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            shutil.rmtree(d, ignore_errors=True)
        self.procs.clear()
