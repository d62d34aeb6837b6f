"""A real pseudo-terminal for tests: `Terminal(argv)` runs a command as a user's shell would
in a terminal (its own session, the pty's slave as stdin/stdout/stderr and controlling
terminal) and lets the test type, resize, read with `expect`, and check the modes that the
command left on the terminal."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 rows: int = 24, cols: int = 80) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.saved = termios.tcgetattr(self.slave)
        self.buf = b""
        slave = self.slave

        def child_setup() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True,
                                     preexec_fn=child_setup)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if hasattr(self, "proc"):
            # What the kernel does for a terminal emulator: SIGWINCH to the foreground group.
            pgrp = os.tcgetpgrp(self.master)
            os.killpg(pgrp, signal.SIGWINCH)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _fill(self, timeout: float) -> bool:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:             # EIO: nothing holds the slave any more
            data = b""
        self.buf += data
        return bool(data)

    def expect(self, pattern: bytes, timeout: float = 20.0) -> re.Match[bytes]:
        """Wait for `pattern` in the output; consume up to the end of the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.seen = self.buf[:m.end()]
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0 or (not self._fill(left) and self.proc.poll() is not None
                             and not self._fill(0.2)):
                raise AssertionError(f"{pattern!r} not seen; output so far: {self.buf!r}")

    def wait(self, timeout: float = 30.0) -> int:
        """The command's exit code, reading (and keeping) what it still writes."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; output: {self.buf!r}")
            self._fill(0.1)
        while self._fill(0.05):
            pass
        return self.proc.returncode

    def modes(self) -> list[object]:
        return termios.tcgetattr(self.slave)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)
