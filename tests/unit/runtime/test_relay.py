"""The console relay's pure parts: Docker's --detach-keys syntax and the scanner that holds
back a possible detach sequence (fuzzed: what is forwarded is exactly the input before the
first detach sequence, however the input is split into reads)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.relay import Relay, detach_sequence


def test_detach_keys_syntax() -> None:
    assert detach_sequence(None) == b"\x10\x11"
    assert detach_sequence("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_sequence("ctrl-x,y") == b"\x18y"
    assert detach_sequence("ctrl-@,ctrl-[,ctrl-\\,ctrl-_") == b"\x00\x1b\x1c\x1f"
    assert detach_sequence("") == b""
    for bad in ("ctrl-9", "ctrl-", "abc", "ctrl-p,,meta-q"):
        with pytest.raises(ContainerRuntimeError, match="invalid detach keys"):
            detach_sequence(bad)


def _relay(keys: bytes) -> Relay:
    return Relay(stdin=None, into=None, outputs={}, done=-1, detach=keys)


@given(st.lists(st.binary(max_size=8), max_size=12),
       st.sampled_from([b"\x10\x11", b"\x18y", b"\x10", b"ab"]))
def test_scanner_forwards_exactly_the_input_before_the_sequence(
        chunks: list[bytes], keys: bytes) -> None:
    r = _relay(keys)
    out = b""
    for c in chunks:
        out += r._scan(c)
        if r.detached:
            break
    data = b"".join(chunks)
    cut = data.find(keys)
    if cut >= 0:
        assert r.detached and out == data[:cut]
    else:
        assert not r.detached
        assert out + r._held == data and keys.startswith(r._held)


def test_relay_ends_on_done_and_closes_its_fds() -> None:
    out_r, out_w = os.pipe()
    done_r, done_w = os.pipe()
    got: list[bytes] = []
    os.write(out_w, b"last words")
    os.write(done_w, b"x")
    Relay(stdin=None, into=None, outputs={out_r: got.append}, done=done_r).run()
    assert b"".join(got) == b"last words"       # drained although out_w is still open
    with pytest.raises(OSError):
        os.fstat(out_r)
    for fd in (out_w, done_r, done_w):
        os.close(fd)
