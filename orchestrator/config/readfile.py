"""Reading the text of a stack file or an env file, safely: regular files only (a FIFO with no
writer, a device such as /dev/zero or a directory is refused before any read blocks), a size
limit checked before and while reading, and UTF-8 errors reported as FILE:LINE:COL.

Owns MAX_BYTES (the one size limit of every file the loader reads, stdin included) and the
wording of these problems.  Raises ReadProblem with one formatted line; callers add it to
their problem list.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

# Real compose files are a few KiB (1,000 services fit in 1 MiB); the printed config of a
# 1-65535 port range, which must load back, is 10 MiB of JSON.
MAX_BYTES = 16 << 20


class ReadProblem(Exception):
    """A file that cannot be used as text; `line` is the formatted problem."""

    def __init__(self, line: str, *, missing: bool = False) -> None:
        super().__init__(line)
        self.line = line
        self.missing = missing      # the file does not exist (optional files may skip it)


def read_path(path: str, display: str, what: str = "compose file") -> str:
    """The text of the regular file `path` (shown as `display` in problems)."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise ReadProblem(f"{display}: no such file (check the path)", missing=True) from None
    except IsADirectoryError:
        raise ReadProblem(f"{display}: is a directory, not a {what}") from None
    except OSError as e:
        raise ReadProblem(f"{display}: cannot read ({e.strerror})") from None
    except ValueError:  # a NUL byte in the name
        raise ReadProblem(f"{path!r}: not a valid file name") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ReadProblem(f"{display}: is a directory, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise ReadProblem(f"{display}: not a regular file (a {what} must be a plain file, "
                              "not a pipe, socket or device)")
        if st.st_size > MAX_BYTES:
            raise ReadProblem(_too_big(display, what))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = _bounded(fh)
    except OSError as e:
        raise ReadProblem(f"{display}: cannot read ({e.strerror})") from None
    finally:
        os.close(fd)
    if data is None:
        raise ReadProblem(_too_big(display, what))
    return decode(data, display)


def read_stream(fh: BinaryIO, display: str = "-", what: str = "compose file") -> str:
    """The text of a stream (stdin), with the same limit."""
    try:
        data = _bounded(fh)
    except OSError as e:
        raise ReadProblem(f"{display}: cannot read ({e.strerror})") from None
    if data is None:
        raise ReadProblem(_too_big(display, what))
    return decode(data, display)


def decode(data: bytes, display: str) -> str:
    """UTF-8 text, or a problem at the FILE:LINE:COL of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ReadProblem(f"{display}:{line}:{column}: not UTF-8 text (byte "
                          f"0x{data[e.start]:02x}; save the file as UTF-8)") from None


def _bounded(fh: BinaryIO) -> bytes | None:
    data = fh.read(MAX_BYTES + 1)
    return None if len(data) > MAX_BYTES else data


def _too_big(display: str, what: str) -> str:
    return (f"{display}: larger than {MAX_BYTES >> 20} MiB, the limit for a {what} "
            "(check that this is the right file)")
