"""The rtnetlink encoder/decoder without a socket: attributes round-trip, nested and padded."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.net import rtnl


@settings(max_examples=60)
@given(st.dictionaries(st.integers(1, 0x3FFF), st.binary(max_size=40), max_size=8))
def test_attrs_round_trip(items: dict[int, bytes]) -> None:
    data = b"".join(rtnl.attr(k, v) for k, v in items.items())
    assert len(data) % 4 == 0
    assert rtnl.attrs(data) == items


def test_nested_flag_is_masked_and_first_wins() -> None:
    inner = rtnl.attr(rtnl.IFLA_INFO_KIND, b"veth\0")
    data = rtnl.attr(rtnl.IFLA_LINKINFO | rtnl.NLA_F_NESTED, inner) + \
        rtnl.attr(rtnl.IFLA_LINKINFO, b"x")
    got = rtnl.attrs(data)
    assert got[rtnl.IFLA_LINKINFO] == inner
    assert rtnl.attrs(got[rtnl.IFLA_LINKINFO]) == {rtnl.IFLA_INFO_KIND: b"veth\0"}


def test_truncated_input_stops_cleanly() -> None:
    assert rtnl.attrs(struct.pack("=HH", 2, 1)) == {}
    assert rtnl.attrs(b"\x01") == {}
