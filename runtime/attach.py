"""The shim's side of `attach` (and of `run`, which attaches to its own container): clients on
the control socket that get the container's console output as it comes and send its input.

  {"op": "attach", "stdin": bool}  -> {"ok": true, "tty": bool} then the connection is a
      stream: shim -> client frames [kind 1 byte: 1 stdout, 2 stderr][length 4 bytes BE][data];
      client -> shim raw input bytes for the pty master (tty) or the stdin pipe (stdin_open),
      and the client's EOF closes that pipe (Docker's StdinOnce; a terminal stays open).
      The shim closes the stream when the container exits.
  {"op": "resize", "rows", "cols"} -> {"ok": true}: the console's window size.
With `hold_output` in the spec (`run` attaches right after the start) the output before the
first attach is kept (up to HOLD_MAX) and sent to it first.  Nothing here blocks the shim:
sockets and the container's input are non-blocking, what cannot be written now is kept and
retried from a short timer (a client that falls MAX_BEHIND behind is dropped).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import struct
import termios
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pystack.runtime.shim import Shim

HOLD_MAX = 1 << 20
MAX_BEHIND = 8 << 20
_KIND = {"stdout": 1, "stderr": 2}


@dataclass
class _Client:
    conn: socket.socket
    stdin: bool
    out: bytearray = field(default_factory=bytearray)


class Attachments:
    def __init__(self, shim: Shim, hold: bool) -> None:
        self.shim = shim
        self.clients: dict[int, _Client] = {}
        self.held: bytearray | None = bytearray() if hold else None
        self.console = -1               # the pty master (tty containers)
        self.pending = bytearray()      # input not yet taken by the container
        self.retrying = False
        self.eof = False                # the input's client sent EOF

    # -- requests ---------------------------------------------------------------------------
    def add(self, conn: socket.socket, req: dict[str, Any]) -> None:
        shim = self.shim
        conn.setblocking(False)
        c = _Client(conn, bool(req.get("stdin")))
        c.out += b'{"ok": true, "tty": %s}\n' % (b"true" if shim.tty else b"false")
        if self.held is not None:
            c.out += self.held
            self.held = None
        self.clients[conn.fileno()] = c
        shim.sel.modify(conn, selectors.EVENT_READ, ("attach", conn))
        self._flush(c)

    def resize(self, rows: int, cols: int) -> None:
        if self.console >= 0:
            fcntl.ioctl(self.console, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # -- the container's output -------------------------------------------------------------
    def output(self, stream: str, data: bytes) -> None:
        if not data:
            return
        frame = struct.pack(">BI", _KIND.get(stream, 1), len(data)) + data
        if self.held is not None and len(self.held) + len(frame) <= HOLD_MAX:
            self.held += frame
        for c in list(self.clients.values()):
            c.out += frame
            self._flush(c)

    def _flush(self, c: _Client) -> None:
        try:
            while c.out:
                n = c.conn.send(c.out)
                del c.out[:n]
        except BlockingIOError:
            if len(c.out) > MAX_BEHIND:
                self._drop(c)
            else:
                self._retry()
        except OSError:
            self._drop(c)

    # -- the client's input -----------------------------------------------------------------
    def readable(self, conn: socket.socket) -> None:
        c = self.clients.get(conn.fileno())
        if c is None:
            return
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:                    # the client's input ended; it still gets output
            with contextlib.suppress(KeyError, ValueError):
                self.shim.sel.unregister(conn)
            if c.stdin:
                self.eof = True
                self._input_eof()
            return
        if c.stdin:
            self.pending += data
            self._write_input()

    def _target(self) -> int:
        return self.console if self.console >= 0 else self.shim.stdin_w

    def _write_input(self) -> None:
        fd = self._target()
        if fd < 0:
            self.pending.clear()
            return
        try:
            os.set_blocking(fd, False)
            while self.pending:
                n = os.write(fd, self.pending)
                del self.pending[:n]
        except BlockingIOError:
            self._retry()
        except OSError:
            self.pending.clear()

    def _input_eof(self) -> None:
        if not self.pending and self.console < 0 and self.shim.stdin_w >= 0:
            os.close(self.shim.stdin_w)
            self.shim.stdin_w = -1

    def _retry(self) -> None:
        if not self.retrying:
            self.retrying = True
            self.shim.timer(0.01, self._again)

    def _again(self) -> None:
        self.retrying = False
        if self.pending:
            self._write_input()
            if not self.pending and self.eof:
                self._input_eof()
        for c in list(self.clients.values()):
            if c.out:
                self._flush(c)

    # -- ends -------------------------------------------------------------------------------
    def _drop(self, c: _Client) -> None:
        self.clients.pop(c.conn.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self.shim.sel.unregister(c.conn)
        c.conn.close()

    def close_all(self) -> None:
        """The container exited: what is queued is sent (blocking, briefly), then EOF."""
        for c in list(self.clients.values()):
            with contextlib.suppress(OSError):
                c.conn.settimeout(2.0)
                c.conn.sendall(c.out)
            c.out.clear()
            self._drop(c)
        self.console = -1
