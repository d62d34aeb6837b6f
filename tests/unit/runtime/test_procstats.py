"""runtime/procstats.py's parsers: /proc/PID/net/dev (every interface but lo), /proc/stat as
moby reads it for CPU %, procps' terminal names; fuzzed: any text parses without raising."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pystack.runtime.procstats import parse_net_dev, parse_proc_stat, tty_name

NET_DEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop"
    " fifo colls carrier compressed\n"
    "    lo: 123456 100 0 0 0 0 0 0 123456 100 0 0 0 0 0 0\n"
    "  eth0:   1500  10 0 0 0 0 0 0    916   8 0 0 0 0 0 0\n"
    "  eth1:    500   3 0 0 0 0 0 0     84   1 0 0 0 0 0 0\n")


def test_net_dev_sums_every_interface_but_lo() -> None:
    assert parse_net_dev(NET_DEV) == (2000, 1000)
    assert parse_net_dev("") == (0, 0)


def test_proc_stat_as_moby() -> None:
    text = ("cpu  100 5 50 1000 10 1 2 7 0 0\ncpu0 50 2 25 500 5 0 1 3 0 0\n"
            "cpu1 50 3 25 500 5 1 1 4 0 0\nintr 1 2 3\nbtime 1700000000\n")
    # user..softirq = 1168 ticks at 100 Hz = 11.68 s; steal (7) is not counted; 2 CPUs
    assert parse_proc_stat(text, hz=100) == (11_680_000_000, 2)


def test_tty_names_as_procps() -> None:
    assert tty_name(0) == "?"
    assert tty_name((136 << 8) | 3) == "pts/3"
    assert tty_name((137 << 8) | 1) == "pts/257"
    assert tty_name((4 << 8) | 1) == "tty1"
    assert tty_name((4 << 8) | 65) == "ttyS1"


@given(st.text())
def test_any_text_parses(text: str) -> None:
    rx, tx = parse_net_dev(text)
    assert rx >= 0 and tx >= 0
    total, online = parse_proc_stat(text)
    assert total >= 0 and online >= 0


@given(st.integers(min_value=0, max_value=(1 << 32) - 1))
def test_any_tty_number_has_a_name(n: int) -> None:
    assert tty_name(n)


def test_non_ascii_digits_are_not_numbers() -> None:
    assert parse_net_dev("a\nb\n eth0: ² 0 0 0 0 0 0 0 ³ 0\n") == (0, 0)
    assert parse_proc_stat("cpu ² 1 1 1 1 1 1\ncpu² 1\n", hz=100) == (60_000_000, 0)
