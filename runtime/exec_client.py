"""The caller's side of `exec` and `attach`: the shim gets fds that pystack made, never the
caller's own
(issue 9 item 6: a background process in the container kept the caller's terminal and read
what was typed after exec returned).  Without tty: pipes, pumped here by relay.Relay (stdin
only when one is given, closed on its EOF).  With tty: a unix socket on which the exec helper
sends back the master of the terminal it made inside the container; this process sets its
size, lets the helper go on, and pumps it.  When this process ends, so does the relay.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import threading
from collections.abc import Callable
from typing import IO, Any

from pystack.runtime import relay
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ExecSpec


def _real_fd(f: IO[bytes] | None) -> int | None:
    if f is None:
        return None
    try:
        return f.fileno()
    except (OSError, ValueError, AttributeError):
        return None


def sink(f: IO[bytes] | None) -> relay.Sink:
    """Where output for `f` goes: its fd when it has one, else its write()."""
    fd = _real_fd(f)
    if fd is not None:
        return relay.fd_sink(fd)
    if f is None:
        return lambda _data: None

    def write(data: bytes) -> None:
        f.write(data)
        f.flush()
    return write


def input_fd(stdin: IO[bytes] | None) -> tuple[int | None, int | None]:
    """(fd to read the caller's input from, fd of ours to close after); a Python stream
    without a file behind it is fed to a pipe by a thread."""
    if stdin is None:
        return None, None
    fd = _real_fd(stdin)
    if fd is not None:
        return fd, None
    r, w = os.pipe2(os.O_CLOEXEC)

    def feed() -> None:
        try:
            while data := stdin.read(65536):
                os.write(w, data)
        except (OSError, ValueError):
            pass
        finally:
            os.close(w)
    threading.Thread(target=feed, daemon=True).start()
    return r, r


def _devnull(flags: int) -> int:
    return os.open("/dev/null", flags | os.O_CLOEXEC)


def run_exec(request: Any, xs: ExecSpec, stdin: IO[bytes] | None, stdout: IO[bytes] | None,
             stderr: IO[bytes] | None) -> int:
    """Send the shim fds of our own (see the module docstring), relay, return the exit code."""
    detach = relay.detach_sequence(xs.detach_keys)      # bad keys: nothing has started
    in_fd, in_close = input_fd(None if xs.detach else stdin)
    theirs: list[int] = []
    console: socket.socket | None = None
    into: int | None = None
    outputs: dict[int, relay.Sink] = {}
    if xs.detach:
        theirs = [_devnull(os.O_RDONLY), _devnull(os.O_WRONLY), _devnull(os.O_WRONLY)]
    elif xs.tty:
        console, con = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs = [_devnull(os.O_RDONLY), _devnull(os.O_WRONLY), _devnull(os.O_WRONLY),
                  con.detach()]
    else:
        if in_fd is None:
            theirs.append(_devnull(os.O_RDONLY))
        else:
            r, into = os.pipe2(os.O_CLOEXEC)
            theirs.append(r)
        for f in (stdout, stderr):
            r, w = os.pipe2(os.O_CLOEXEC)
            outputs[r] = sink(f)
            theirs.append(w)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    result: dict[str, Any] = {}

    def ask() -> None:
        try:
            result["reply"] = request(tuple(theirs))
        except BaseException as e:
            result["error"] = e
        finally:
            for fd in theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with contextlib.suppress(OSError):
                os.write(done_w, b"x")
            os.close(done_w)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    detached = False
    try:
        if console is not None:
            master = _receive_master(console, done_r)
            if master is not None:
                size_from = in_fd if in_fd is not None and os.isatty(in_fd) else \
                    _real_fd(stdout)
                relay.set_winsize(master, relay.winsize(size_from))
                with contextlib.suppress(OSError):
                    console.sendall(b"g")     # the size is set: the helper may start it
                into, outputs = master, {master: sink(stdout)}
                pump = relay.Relay(
                    stdin=in_fd, into=master, outputs=outputs, done=done_r, detach=detach,
                    on_winch=lambda: relay.set_winsize(master, relay.winsize(size_from)),
                    close_into_on_eof=False)
                pump.run()
                detached = pump.detached
        elif not xs.detach:
            pump = relay.Relay(stdin=in_fd, into=into, outputs=outputs, done=done_r,
                               detach=detach if in_fd is not None and os.isatty(in_fd)
                               else b"")
            pump.run()
            detached = pump.detached
        if not detached:
            asker.join()
    finally:
        if console is not None:
            console.close()
        for fd in (done_r, in_close):
            if fd is not None:
                os.close(fd)
    if detached:
        return 0
    if "error" in result:
        raise result["error"]
    reply = result.get("reply")
    if reply is None:
        raise ContainerRuntimeError("container is not running")
    return int(reply["exit_code"])


def _receive_master(console: socket.socket, done: int) -> int | None:
    """The pty master the helper made, or None when it ended first (its error is on the
    reply)."""
    while True:
        ready, _, _ = select.select([console.fileno(), done], [], [])
        if console.fileno() in ready:
            try:
                _, fds, _, _ = socket.recv_fds(console, 16, 1)
            except OSError:
                return None
            return fds[0] if fds else None
        if done in ready:
            return None


class Frames:
    """attach.py's frames ([kind][length BE32][data]) -> the caller's stdout / stderr."""

    def __init__(self, out: relay.Sink, err: relay.Sink) -> None:
        self.buf = bytearray()
        self.out, self.err = out, err

    def __call__(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 5:
            kind, n = struct.unpack(">BI", self.buf[:5])
            if len(self.buf) < 5 + n:
                return
            payload = bytes(self.buf[5:5 + n])
            del self.buf[:5 + n]
            (self.err if kind == 2 else self.out)(payload)


def run_attach(sock: socket.socket, stdin: IO[bytes] | None, stdout: IO[bytes] | None,
               stderr: IO[bytes] | None, detach_keys: str | None,
               resize: Callable[[bytes], None]) -> bool:
    """Attach on `sock` (connected to the shim) and relay until the container exits (the
    shim ends the stream) or the detach keys; True when detached."""
    detach = relay.detach_sequence(detach_keys)
    head = b""
    try:
        sock.sendall(json.dumps({"op": "attach", "stdin": stdin is not None}).encode())
        while b"\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                break
            head += chunk
    except OSError:                     # the shim went away (the container exited)
        pass
    if b"\n" not in head:
        raise ContainerRuntimeError("container is not running")
    line, _, rest = head.partition(b"\n")
    answer = json.loads(line)
    if answer.get("error"):
        raise ContainerRuntimeError(answer["error"], hint=answer.get("hint"))
    frames = Frames(sink(stdout), sink(stderr))
    frames(rest)
    in_fd, in_close = input_fd(stdin)
    size_from = in_fd if in_fd is not None and os.isatty(in_fd) else _real_fd(stdout)
    terminal = bool(answer.get("tty")) and size_from is not None and os.isatty(size_from)

    def winch() -> None:
        ws = relay.winsize(size_from)
        if ws is not None:
            resize(ws)

    if terminal:
        winch()
    fd = os.dup(sock.fileno())
    pump = relay.Relay(stdin=in_fd, into=fd, outputs={fd: frames}, done=-1,
                       detach=detach if in_fd is not None and os.isatty(in_fd) else b"",
                       on_winch=winch if terminal else None,
                       on_input_eof=lambda: sock.shutdown(socket.SHUT_WR))
    try:
        pump.run()
    finally:
        if in_close is not None:
            os.close(in_close)
    return pump.detached
