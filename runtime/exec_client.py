"""The caller's side of `exec`: three fds for the shim (the caller's own, or pipes pumped by
threads when the given streams are not real files), then wait for the exit code.  With tty
the shim's exec helper makes the terminal inside the container and pumps it to these fds.
"""

from __future__ import annotations

import os
import threading
from typing import IO, Any

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ExecSpec


def _real_fd(f: IO[bytes] | None) -> int | None:
    if f is None:
        return None
    try:
        return f.fileno()
    except (OSError, ValueError, AttributeError):
        return None


def run_exec(request: Any, xs: ExecSpec, stdin: IO[bytes] | None, stdout: IO[bytes] | None,
             stderr: IO[bytes] | None) -> int:
    """Pass three fds to the shim (real ones, or pipes pumped by threads) and wait."""
    theirs: list[int] = []        # passed to the shim, closed once sent
    pumps: list[threading.Thread] = []

    def pump_out(src: int, dst: IO[bytes] | None) -> None:
        try:
            while data := os.read(src, 65536):
                if dst is not None:
                    dst.write(data)
                    dst.flush()
        except OSError:
            pass
        finally:
            os.close(src)

    def pump_in(src: IO[bytes], dst: int) -> None:
        try:
            while data := src.read(65536):
                os.write(dst, data)
        except (OSError, ValueError):
            pass
        finally:
            os.close(dst)

    # tty: the terminal is made inside the container by the shim's exec helper; the caller's
    # streams are passed the same way in both cases.
    fd = _real_fd(stdin)
    if fd is None:
        if stdin is None:
            fd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        else:
            r, w = os.pipe()
            pumps.append(threading.Thread(target=pump_in, args=(stdin, w), daemon=True))
            fd = r
        theirs.append(fd)
    else:
        theirs.append(os.dup(fd))
    for f in (stdout, stderr):
        fd = _real_fd(f)
        if f is None or xs.detach:
            theirs.append(os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC))
        elif fd is None:
            r, w = os.pipe()
            pumps.append(threading.Thread(target=pump_out, args=(r, f), daemon=True))
            theirs.append(w)
        else:
            theirs.append(os.dup(fd))
    for t in pumps:
        t.start()
    try:
        reply = request(tuple(theirs))
    finally:
        for fd in set(theirs):
            os.close(fd)
    for t in pumps:
        t.join(timeout=5)
    if reply is None:
        raise ContainerRuntimeError("container is not running")
    return int(reply["exit_code"])
