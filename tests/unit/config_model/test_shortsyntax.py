"""Short syntaxes expand to compose-go's long forms."""

from __future__ import annotations

import pytest

from pystack.orchestrator.config import shortsyntax as s


def _abs(p: str) -> str:
    return "/proj/" + p.removeprefix("./") if not p.startswith("/") else p


def test_ports_short() -> None:
    assert s.parse_port_spec("8080:80") == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]
    assert s.parse_port_spec("127.0.0.1:5353:53/udp") == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 53, "published": "5353",
         "protocol": "udp"}]
    assert s.parse_port_spec("3000") == [{"mode": "ingress", "target": 3000, "protocol": "tcp"}]
    assert s.parse_port_spec("[::1]:81:81")[0]["host_ip"] == "::1"
    assert s.parse_port_spec("127.0.0.1::80") == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "protocol": "tcp"}]


def test_port_ranges_expand_one_entry_per_port() -> None:
    out = s.parse_port_spec("9000-9001:9000-9001")
    assert [(p["published"], p["target"]) for p in out] == [("9000", 9000), ("9001", 9001)]
    assert s.parse_port_spec("8000-8005:90")[0]["published"] == "8000-8005"


def test_bad_ports() -> None:
    with pytest.raises(ValueError, match="the host and container ranges differ in size"):
        s.parse_port_spec("1-2:5-7")
    with pytest.raises(ValueError, match="invalid protocol 'icmp'"):
        s.parse_port_spec("80/icmp")
    with pytest.raises(ValueError, match="invalid port 'x'"):
        s.parse_port_spec("x:80")


def test_long_port_published_becomes_string() -> None:
    assert s.ports({"target": 80, "published": 8080}) == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]


def test_volumes_short() -> None:
    assert s.parse_volume_spec("./data:/data:ro", _abs) == {
        "type": "bind", "source": "/proj/data", "target": "/data", "read_only": True,
        "bind": {"create_host_path": True}}
    assert s.parse_volume_spec("named:/n", _abs) == {
        "type": "volume", "source": "named", "target": "/n", "volume": {}}
    assert s.parse_volume_spec("/anon", _abs) == {"type": "volume", "target": "/anon",
                                                  "volume": {}}
    assert s.parse_volume_spec(".:/code:rw,z", _abs)["bind"] == {
        "selinux": "z", "create_host_path": True}
    assert s.parse_volume_spec("vol:/v:nocopy", _abs)["volume"] == {"nocopy": True}
    with pytest.raises(ValueError, match="invalid volume option 'bogus'"):
        s.parse_volume_spec("vol:/v:bogus", _abs)
    with pytest.raises(ValueError, match="invalid volume 'a:b:c:d'"):
        s.parse_volume_spec("a:b:c:d", _abs)


def test_mappings_and_hosts() -> None:
    assert s.to_mapping(["A=1", "B", "C="], empty=None) == {"A": "1", "B": None, "C": ""}
    assert s.to_mapping({"n": 1, "b": True}, empty="") == {"n": "1", "b": "true"}
    assert s.extra_hosts(["b:1.1.1.1", "a=::1"]) == ["a=::1", "b=1.1.1.1"]
    assert s.extra_hosts({"h": ["1.1.1.1", "2.2.2.2"]}) == ["h=1.1.1.1", "h=2.2.2.2"]


def test_file_refs() -> None:
    assert s.file_ref("s1", "/run/secrets/") == {"source": "s1", "target": "/run/secrets/s1"}
    assert s.file_ref("c1", None) == {"source": "c1"}
    assert s.file_ref({"source": "s", "mode": 0o440}, None)["mode"] == "0440"


@pytest.mark.parametrize(("text", "words"), [
    ("sh -c 'echo hi'", ["sh", "-c", "echo hi"]),
    ("a; b", ["a"]), ("a && b", ["a"]), ("a | b", ["a"]), ("a > f", ["a"]), ("a 2>f", ["a"]),
    ("echo $(date)", ["echo", "$(date)"]), ("echo `x`", ["echo", "`x`"]),
    ('echo "a\\"b"', ["echo", 'a"b']), ("echo it\\'s", ["echo", "it's"]),
    ("  x   y  ", ["x", "y"]), ("", []), ("'' x", ["", "x"]),
])
def test_command_split_like_go_shellwords(text: str, words: list[str]) -> None:
    assert s.split_command(text) == words


@pytest.mark.parametrize("text", ["echo (hi)", "echo 'open", 'echo "open', "a\\", "x)"])
def test_command_split_errors(text: str) -> None:
    with pytest.raises(ValueError, match="invalid command line string"):
        s.split_command(text)


def test_windows_drive_letters_like_compose_go() -> None:
    assert s.parse_volume_spec("v:/data", _abs) == {"type": "volume", "target": "v:/data",
                                                    "volume": {}}
    assert s.parse_volume_spec("c:/x:/y:ro", _abs) == {
        "type": "bind", "source": "c:/x", "target": "/y", "read_only": True,
        "bind": {"create_host_path": True}}
