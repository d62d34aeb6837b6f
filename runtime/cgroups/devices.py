"""Device access rules: Docker's default allow-list, and on cgroup v2 the eBPF program that
enforces it (BPF_PROG_TYPE_CGROUP_DEVICE), hand-assembled like runc's devicefilter.

v1 writes the rules into devices.deny/devices.allow.  v2 has no devices files: a program
attached to the container's cgroup answers each open/mknod of a device node with allow (1) or
deny (0).  Its context is struct bpf_cgroup_dev_ctx {u32 access_type (access << 16 | type);
u32 major; u32 minor}.  The program is loaded with bpf(2) through ctypes, attached with
BPF_F_ALLOW_MULTI, and goes away with the cgroup.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

from pystack.runtime.errors import CgroupError

# Docker's DefaultLinuxSpec device rules plus runc's AllowedDevices (specconv), v1 syntax.
DEFAULT_RULES: tuple[str, ...] = (
    "c *:* m", "b *:* m",          # mknod of any node; opening it is still refused
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",          # null zero full
    "c 1:8 rwm", "c 1:9 rwm",                       # random urandom
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",          # tty console ptmx
    "c 136:* rwm",                                  # /dev/pts/*
    "c 10:200 rwm",                                 # /dev/net/tun
)

DEV_BLOCK, DEV_CHAR = 1, 2                      # BPF_DEVCG_DEV_*
ACC = {"m": 1, "r": 2, "w": 4}                  # BPF_DEVCG_ACC_MKNOD/READ/WRITE


@dataclass(frozen=True)
class DeviceRule:
    kind: str               # "a", "b" or "c"
    major: int | None       # None = any
    minor: int | None
    access: int             # ACC bits

    def allows(self, kind: int, major: int, minor: int, access: int) -> bool:
        if self.kind != "a" and {"b": DEV_BLOCK, "c": DEV_CHAR}[self.kind] != kind:
            return False
        if access & ~self.access:
            return False
        return (self.major is None or self.major == major) and \
            (self.minor is None or self.minor == minor)


def parse_rule(text: str) -> DeviceRule:
    """"c 1:3 rwm" / "a" / "b *:* m" -> DeviceRule."""
    parts = text.split()
    try:
        if parts == ["a"]:
            return DeviceRule("a", None, None, 7)
        kind, nums, acc = parts
        ma, mi = nums.split(":")
        if kind not in ("a", "b", "c") or not acc or any(c not in ACC for c in acc):
            raise ValueError(text)
        bits = 0
        for c in acc:
            bits |= ACC[c]
        return DeviceRule(kind, None if ma == "*" else int(ma), None if mi == "*" else int(mi),
                          bits)
    except ValueError:
        raise CgroupError(f"invalid device rule {text!r}") from None


# --- eBPF assembly ---

def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


LDX_W, AND64_K, RSH64_K, MOV64_X, MOV64_K = 0x61, 0x57, 0x77, 0xBF, 0xB7
JNE_K, JNE_X, EXIT = 0x55, 0x5D, 0x95


def compile_program(rules: tuple[DeviceRule, ...]) -> bytes:
    """An eBPF program: 1 if any rule allows the access, else 0."""
    prog = [
        _insn(LDX_W, 2, 1, 0), _insn(AND64_K, 2, imm=0xFFFF),      # r2 = type
        _insn(LDX_W, 3, 1, 0), _insn(RSH64_K, 3, imm=16),          # r3 = access
        _insn(LDX_W, 4, 1, 4), _insn(LDX_W, 5, 1, 8),              # r4 = major, r5 = minor
    ]
    for r in rules:
        checks: list[tuple[int, int, int, int]] = []            # (code, dst, src, imm)
        if r.kind != "a":
            checks.append((JNE_K, 2, 0, DEV_BLOCK if r.kind == "b" else DEV_CHAR))
        if r.access != 7:
            checks += [(MOV64_X, 1, 3, 0), (AND64_K, 1, 0, r.access), (JNE_X, 1, 3, 0)]
        if r.major is not None:
            checks.append((JNE_K, 4, 0, r.major))
        if r.minor is not None:
            checks.append((JNE_K, 5, 0, r.minor))
        n = len(checks)
        for i, (code, dst, src, imm) in enumerate(checks):
            # a failed test jumps over the rest of the checks and the "r0 = 1; exit" pair
            off = (n - i - 1) + 2 if code in (JNE_K, JNE_X) else 0
            prog.append(_insn(code, dst, src, off, imm))
        prog += [_insn(MOV64_K, 0, imm=1), _insn(EXIT)]
    prog += [_insn(MOV64_K, 0, imm=0), _insn(EXIT)]
    return b"".join(prog)


# --- loading and attaching ---

SYS_BPF = 321                     # x86_64
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI = 15, 6, 2


def _bpf(cmd: int, attr: bytes) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    r = int(libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_long(cmd), buf, ctypes.c_long(128)))
    if r < 0:
        e = ctypes.get_errno()
        raise CgroupError(f"bpf({cmd}) failed: {os.strerror(e)}") from OSError(e, os.strerror(e))
    return r


def attach(cgroup_dir: str, rules: tuple[DeviceRule, ...]) -> None:
    """Load the device program for `rules` and attach it to a cgroup v2 directory."""
    prog = compile_program(rules)
    code = ctypes.create_string_buffer(prog, len(prog))
    lic = ctypes.create_string_buffer(b"Apache-2.0")
    attr = struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(prog) // 8,
                       ctypes.addressof(code), ctypes.addressof(lic), 0, 0, 0, 0, 0,
                       b"pystack_dev", 0, 0)
    prog_fd = _bpf(BPF_PROG_LOAD, attr)
    try:
        try:
            cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise CgroupError(f"cannot open cgroup {cgroup_dir}: {e.strerror}") from e
        try:
            _bpf(BPF_PROG_ATTACH, struct.pack("<IIII", cg_fd, prog_fd, BPF_CGROUP_DEVICE,
                                              BPF_F_ALLOW_MULTI))
        finally:
            os.close(cg_fd)
    finally:
        os.close(prog_fd)


def default_rules() -> tuple[DeviceRule, ...]:
    return tuple(parse_rule(r) for r in DEFAULT_RULES)
