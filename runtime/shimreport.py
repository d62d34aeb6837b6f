"""The start handshake with a new shim: reading its report pipe.

The shim writes its pid on the first line, at once after it detached, then one JSON object
(`{"pid": N}`, or `{"error": ...}`) and closes the pipe.  `read_report` reads to EOF.  A shim
that stays silent past the deadline is killed through a pidfd of the pid it sent first, so a
shim too slow to have recorded itself in the state dies too (it would otherwise start the
container after the start had failed).  With no pid line by then the zygote is stuck:
`kill_zygote` is called so that it forks no shim later, and a shim it forked meanwhile is
still killed by its pid line.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable


def read_report(r: int, timeout: float, kill_zygote: Callable[[], None]) -> bytes | None:
    """The report after the pid line (b"" when the shim died first); None when the shim did
    not report within `timeout` and was killed (its container is the caller's to clean up)."""
    raw = b""
    shim_fd = -1
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([r], [], [], left)[0]:
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                return raw.partition(b"\n")[2] if b"\n" in raw else raw
            raw += chunk
            if shim_fd < 0 and b"\n" in raw:
                shim_fd = _pidfd_of(raw)
        if shim_fd < 0:
            kill_zygote()
            shim_fd = _pidfd_of(_pid_line(r, raw))
        if shim_fd >= 0:
            _kill(shim_fd)
        return None
    finally:
        if shim_fd >= 0:
            os.close(shim_fd)


def _pid_line(r: int, raw: bytes, wait: float = 10) -> bytes:
    """What the pipe holds once a pid line is in (or EOF, or `wait` seconds have passed)."""
    end = time.monotonic() + wait
    while b"\n" not in raw and (left := end - time.monotonic()) > 0:
        if not select.select([r], [], [], left)[0] or not (chunk := os.read(r, 65536)):
            break
        raw += chunk
    return raw


def _pidfd_of(raw: bytes) -> int:
    """A pidfd of the pid on the report's first line (-1: none yet, gone, or not a pid)."""
    if b"\n" not in raw:
        return -1
    try:
        return os.pidfd_open(int(raw.partition(b"\n")[0]))
    except (ValueError, OSError):
        return -1


def _kill(fd: int) -> None:
    """SIGKILL the process of `fd` and wait (up to 2 s) until it is gone."""
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    except OSError:
        return                                  # gone already
    select.select([fd], [], [], 2)              # readable once it has exited
