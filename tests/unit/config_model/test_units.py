"""Durations, byte sizes, cpus and port ranges: parsing and Go-style formatting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.orchestrator.config import units


@pytest.mark.parametrize(("text", "ns"), [
    ("10s", 10_000_000_000), ("1m30s", 90_000_000_000), ("500ms", 500_000_000),
    ("1h", 3_600_000_000_000), ("1.5s", 1_500_000_000), ("2us", 2_000), ("0", 0), (3, 3 * 10**9),
])
def test_parse_duration(text: object, ns: int) -> None:
    assert units.parse_duration_ns(text) == ns


@pytest.mark.parametrize("bad", ["5x", "s", "", "1.s.", "abc", "-5s", True, [1]])
def test_bad_duration(bad: object) -> None:
    with pytest.raises(ValueError):
        units.parse_duration_ns(bad)


def test_bad_duration_message() -> None:
    with pytest.raises(ValueError) as e:
        units.parse_duration_ns("5x")
    assert str(e.value) == "invalid duration '5x' (use a number and a unit: 10s, 1m30s, 500ms)"


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (90 * 10**9, "1m30s"), (500_000_000, "500ms"), (3600 * 10**9, "1h0m0s"),
    (1_500_000_000, "1.5s"), (1_000, "1µs"), (10 * 10**9, "10s"),
])
def test_format_duration_like_go(ns: int, text: str) -> None:
    assert units.format_duration(ns) == text


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**15))
def test_duration_round_trip(ns: int) -> None:
    assert units.parse_duration_ns(units.format_duration(ns)) == ns


@pytest.mark.parametrize(("text", "size"), [
    ("512m", 512 << 20), ("1g", 1 << 30), ("50M", 50 << 20), ("1024", 1024), (2048, 2048),
    ("1.5k", 1536), ("10MB", 10 << 20), ("1gb", 1 << 30),
])
def test_parse_bytes(text: object, size: int) -> None:
    assert units.parse_bytes(text) == size


def test_bad_bytes_message() -> None:
    with pytest.raises(ValueError) as e:
        units.parse_bytes("lots")
    assert str(e.value) == "invalid byte size 'lots' (use a number and a unit: 512m, 2g, 100k)"


def test_cpus() -> None:
    assert units.parse_cpus("1.5") == 1.5
    assert units.parse_cpus(2) == 2.0
    with pytest.raises(ValueError, match="invalid cpus 'many'"):
        units.parse_cpus("many")
    with pytest.raises(ValueError):
        units.parse_cpus(-1)


def test_port_ranges() -> None:
    assert units.parse_port_range("80") == (80, 80)
    assert units.parse_port_range("8000-8010") == (8000, 8010)
    with pytest.raises(ValueError, match=r"ports are 0 to 65535"):
        units.parse_port_range("70000")
    with pytest.raises(ValueError, match=r"the end is before the start"):
        units.parse_port_range("90-80")
