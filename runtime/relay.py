"""The caller's side of a console: pump bytes between the caller's own streams and fds that
pystack made (pipes, or the master of a pty made inside the container), in the CALLER's
process, so the caller's terminal is never handed to a container process.

  raw_terminal(fd)      the host terminal in raw mode, restored on every exit path
  winsize / set_winsize TIOCGWINSZ / TIOCSWINSZ
  detach_sequence(s)    Docker's `--detach-keys` syntax ("ctrl-p,ctrl-q") -> bytes
  Relay                 one select loop: caller input -> container (held back while it
                        could be the start of the detach sequence), container output ->
                        caller; ends when `done` is readable (the process exited) and the
                        output is drained, on the detach sequence, or when the caller's
                        output is closed.  SIGWINCH resizes the container's terminal.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pystack.runtime.errors import ContainerRuntimeError

DEFAULT_DETACH = "ctrl-p,ctrl-q"
_CTRL = {**{chr(c): c - 0x60 for c in range(ord("a"), ord("z") + 1)},
         "@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def detach_sequence(spec: str | None) -> bytes:
    """`ctrl-p,ctrl-q` -> b"\\x10\\x11" (Docker's syntax: a letter, or ctrl- and one of a-z @
    [ \\ ] ^ _); an empty string turns detaching off (b"")."""
    if spec is None:
        spec = DEFAULT_DETACH
    out = bytearray()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if len(part) == 1:
            out.append(ord(part))
        elif part.lower().startswith("ctrl-") and part[5:].lower() in _CTRL:
            out.append(_CTRL[part[5:].lower()])
        else:
            raise ContainerRuntimeError(
                f"invalid detach keys {spec!r}: {part!r} is not a key",
                hint="a comma-separated list of a letter or ctrl-<a-z, @, [, \\, ], ^ or _>, "
                     "e.g. ctrl-p,ctrl-q")
    return bytes(out)


@contextlib.contextmanager
def raw_terminal(fd: int | None) -> Iterator[None]:
    """The terminal on `fd` in raw mode for the block (nothing when fd is not a terminal)."""
    if fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    old: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        # A terminating signal unwinds (so the modes come back) instead of killing us raw.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            old[sig] = signal.signal(sig, _exit_on)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _exit_on(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def winsize(fd: int | None) -> bytes | None:
    if fd is None:
        return None
    try:
        ws = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    return ws if struct.unpack("HHHH", ws)[:2] != (0, 0) else None


def set_winsize(fd: int, ws: bytes | None) -> None:
    if ws is not None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, termios.TIOCSWINSZ, ws)


Sink = Callable[[bytes], None]


def fd_sink(fd: int) -> Sink:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    return write


@dataclass
class Relay:
    """See the module docstring.  `into` is the container's input (a pipe's write end or the
    pty master), `outputs` maps each container-side read fd to the caller's sink."""

    stdin: int | None                       # the caller's input fd (None: no input)
    into: int | None
    outputs: dict[int, Sink]
    done: int                               # readable once the process has exited; -1:
                                            # the end is the end of the outputs
    detach: bytes = b""
    on_winch: Callable[[], None] | None = None      # SIGWINCH: resize the container's tty
    close_into_on_eof: bool = True
    on_input_eof: Callable[[], None] | None = None  # instead of closing `into` (a socket)
    detached: bool = False
    _pending: bytearray = field(default_factory=bytearray)
    _held: bytes = b""
    _closed: set[int] = field(default_factory=set)

    def _scan(self, data: bytes) -> bytes:
        """Forward `data` except a (partial) detach sequence; sets `detached`."""
        if not self.detach:
            return data
        out = bytearray()
        buf = self._held + data
        self._held = b""
        i = 0
        while i < len(buf):
            rest = buf[i:i + len(self.detach)]
            if self.detach.startswith(rest) and len(rest) < len(self.detach):
                self._held = bytes(rest)     # could be the start of the sequence
                break
            if rest == self.detach:
                self.detached = True
                break
            out.append(buf[i])
            i += 1
        return bytes(out)

    def run(self) -> None:
        """Relay until the end; every fd in `into` and `outputs` is closed on return."""
        mine = {*self.outputs, *([self.into] if self.into is not None else [])}
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old = None
        if self.on_winch is not None and threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGWINCH, lambda *_: _poke(wake_w))
        try:
            self._loop(wake_r)
        finally:
            if old is not None:
                signal.signal(signal.SIGWINCH, old)
            os.close(wake_r)
            os.close(wake_w)
            for fd in mine - self._closed:
                os.close(fd)

    def _close(self, fd: int) -> None:
        if fd not in self._closed:
            self._closed.add(fd)
            os.close(fd)

    def _close_into(self) -> None:
        """The caller's input ended: EOF to the process (a pipe; a pty stays open)."""
        if self.into is None:
            return
        if self.on_input_eof is not None:
            self.on_input_eof()
            self.into = None
        elif self.close_into_on_eof:
            self._close(self.into)
            self.into = None

    def _loop(self, wake_r: int) -> None:
        for fd in (*self.outputs, *([self.into] if self.into is not None else [])):
            os.set_blocking(fd, False)
        finished: bool | None = False
        stdin = self.stdin
        if self.done < 0:
            finished = None                 # (never: the outputs' end is the end)
        while self.outputs or finished is False:
            readers = [*self.outputs, wake_r]
            if finished is False:
                readers.append(self.done)
            if stdin is not None and not finished and not self._pending \
                    and self.into is not None:
                readers.append(stdin)
            writers = [self.into] if self._pending and self.into is not None else []
            # After the exit only what is already written is drained: a background process
            # that keeps the output open does not hold the caller.
            r, w, _ = select.select(readers, writers, [], 0.05 if finished else None)
            if finished and not r and not w:
                return
            if wake_r in r:
                with contextlib.suppress(OSError):
                    os.read(wake_r, 512)
                if self.on_winch is not None:
                    self.on_winch()
            if self.done in r:
                finished = True
            for fd in [fd for fd in r if fd in self.outputs]:
                self._read_output(fd)
            if stdin is not None and stdin in r:
                data = _read(stdin)
                if data is None:
                    pass
                elif not data:
                    stdin = None
                    self._pending += self._held
                    self._held = b""
                    if not self._pending:
                        self._close_into()
                else:
                    self._pending += self._scan(data)
                    if self.detached:
                        return
            if w and self.into is not None:
                try:
                    n = os.write(self.into, self._pending)
                    del self._pending[:n]
                except BlockingIOError:
                    pass
                except OSError:             # the process closed its input
                    self._pending.clear()
                    self._close_into()
                if not self._pending and stdin is None:
                    self._close_into()

    def _read_output(self, fd: int) -> None:
        data = _read(fd)
        if data is None:
            return
        if data:
            try:
                self.outputs[fd](data)
                return
            except BrokenPipeError:         # the caller's output is closed (`| head`)
                pass
            except OSError as e:
                if e.errno != errno.EPIPE:
                    raise
        del self.outputs[fd]
        if fd != self.into:
            self._close(fd)


def _read(fd: int) -> bytes | None:
    """Up to 64 KiB; b"" at the end (EIO: the pty's last slave closed); None for nothing."""
    try:
        return os.read(fd, 65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as e:
        if e.errno == errno.EIO:
            return b""
        raise


def _poke(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, b"w")
