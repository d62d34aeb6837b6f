"""The v2 device program, run in a small eBPF interpreter (no kernel) against the rules'
own Python semantics; and the rule parser."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.cgroups import devices
from pystack.runtime.cgroups.devices import DEV_BLOCK, DEV_CHAR, DeviceRule, parse_rule
from pystack.runtime.errors import CgroupError

MASK64 = (1 << 64) - 1


def run(prog: bytes, kind: int, major: int, minor: int, access: int) -> int:
    ctx = struct.pack("<III", access << 16 | kind, major, minor)
    regs = [0] * 11
    insns = [struct.unpack_from("<BBhi", prog, i) for i in range(0, len(prog), 8)]
    pc = 0
    for _ in range(10_000):
        code, regsb, off, imm = insns[pc]
        dst, src = regsb & 0xF, regsb >> 4
        pc += 1
        if code == 0x61:
            assert src == 1
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x57:
            regs[dst] &= imm & MASK64
        elif code == 0x77:
            regs[dst] >>= imm
        elif code == 0xBF:
            regs[dst] = regs[src]
        elif code == 0xB7:
            regs[dst] = imm & MASK64
        elif code == 0x55:
            if regs[dst] != imm & MASK64:
                pc += off
        elif code == 0x5D:
            if regs[dst] != regs[src]:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"opcode {code:#x}")
    raise AssertionError("no exit")


def test_default_rules() -> None:
    prog = devices.compile_program(devices.default_rules())
    r, w, m = 2, 4, 1
    assert run(prog, DEV_CHAR, 1, 3, r | w) == 1          # /dev/null
    assert run(prog, DEV_CHAR, 136, 7, r | w) == 1        # /dev/pts/7
    assert run(prog, DEV_CHAR, 1, 1, r) == 0              # /dev/mem
    assert run(prog, DEV_CHAR, 1, 1, m) == 1              # mknod is allowed
    assert run(prog, DEV_BLOCK, 8, 0, m) == 1
    assert run(prog, DEV_BLOCK, 8, 0, r) == 0             # /dev/sda
    assert run(prog, DEV_BLOCK, 1, 3, r) == 0             # type matters


rules_st = st.builds(DeviceRule, st.sampled_from(["a", "b", "c"]),
                     st.one_of(st.none(), st.integers(0, 300)),
                     st.one_of(st.none(), st.integers(0, 300)), st.integers(1, 7))


@settings(max_examples=150, deadline=None)
@given(rules=st.lists(rules_st, max_size=6), kind=st.sampled_from([DEV_BLOCK, DEV_CHAR]),
       major=st.integers(0, 300), minor=st.integers(0, 300), access=st.integers(1, 7))
def test_program_matches_rule_semantics(rules: list[DeviceRule], kind: int, major: int,
                                        minor: int, access: int) -> None:
    prog = devices.compile_program(tuple(rules))
    want = any(r.allows(kind, major, minor, access) for r in rules)
    assert run(prog, kind, major, minor, access) == int(want)


def test_parse_rule() -> None:
    assert parse_rule("c 1:3 rwm") == DeviceRule("c", 1, 3, 7)
    assert parse_rule("b *:* m") == DeviceRule("b", None, None, 1)
    assert parse_rule("a") == DeviceRule("a", None, None, 7)
    for bad in ("x 1:3 r", "c 1 r", "c 1:3 q", "c a:3 r", ""):
        with pytest.raises(CgroupError) as e:
            parse_rule(bad)
        assert str(e.value) == f"invalid device rule {bad!r}"
