"""Seccomp: compile a profile to a classic BPF program by hand, and install it (no libseccomp).

    prog = build_filter(caps, spec.seccomp)   # None = "unconfined"; bytes otherwise
    ...                                       # in the container's PID 1, last before execve:
    install(prog)                             # needs NO_NEW_PRIVS or CAP_SYS_ADMIN

The program checks the architecture (x86_64, or i386 for 32-bit binaries and int 0x80; other
arches and the x32 ABI kill the process), then finds the syscall with a binary search over the
numbers that have rules on that arch, runs that syscall's rules in order (64-bit argument tests
built from two 32-bit loads) and returns the first matching action, else the profile's default.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from dataclasses import dataclass

from pystack.runtime.errors import SecurityConfigError
from pystack.runtime.security import caps as capsmod
from pystack.runtime.security.seccomp_model import Arg, Profile, Rule, load_profile
from pystack.runtime.security.syscalls_x86_64 import I386, X86_64

__all__ = ["build_filter", "compile_profile", "install", "load_profile", "mode"]

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
# how Docker profiles (Go arch names) and libseccomp spell each arch in includes/excludes
ARCH_X86_64 = ("amd64", "x86_64", "SCMP_ARCH_X86_64")
ARCH_I386 = ("386", "x86", "i386", "SCMP_ARCH_X86")
X32_SYSCALL_BIT = 0x40000000
RET = {"SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_KILL": 0x00000000,
       "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_TRAP": 0x00030000,
       "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
# classic BPF opcodes
LD_ABS, ALU_AND, JA, JEQ, JGT, JGE, RET_K = 0x20, 0x54, 0x05, 0x15, 0x25, 0x35, 0x06
OFF_NR, OFF_ARCH = 0, 4
MAX_INSNS = 4096
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def _ret(action: str, errno_ret: int | None, default_errno: int) -> int:
    base = RET[action]
    if action == "SCMP_ACT_ERRNO":
        return base | ((default_errno if errno_ret is None else errno_ret) & 0xFFFF)
    return base


@dataclass
class _Label:
    pos: int = -1


class _Asm:
    """A tiny assembler: jump targets are labels or 0 (fall through); far jumps use `ja`."""

    def __init__(self) -> None:
        self.insns: list[tuple[int, _Label | int, _Label | int, _Label | int]] = []

    def emit(self, code: int, k: _Label | int = 0, jt: _Label | int = 0,
             jf: _Label | int = 0) -> None:
        self.insns.append((code, jt, jf, k))

    def mark(self, label: _Label) -> None:
        label.pos = len(self.insns)

    def assemble(self) -> bytes:
        if len(self.insns) > MAX_INSNS:
            raise SecurityConfigError(
                f"seccomp filter too large ({len(self.insns)} > {MAX_INSNS} instructions)")
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.insns):
            def off(t: _Label | int, i: int = i) -> int:
                if isinstance(t, int):
                    return t
                assert t.pos > i, "backward jump"
                return t.pos - i - 1
            jto, jfo, ko = off(jt), off(jf), off(k) if code == JA else k
            assert isinstance(ko, int) and 0 <= jto <= 255 and 0 <= jfo <= 255, (i, jto, jfo)
            out += struct.pack("<HBBI", code, jto, jfo, ko & 0xFFFFFFFF)
        return bytes(out)


def _applies(rule: Rule, have: set[str], kernel: tuple[int, int],
             arch_names: tuple[str, ...]) -> bool:
    if any(c not in have for c in rule.includes_caps):
        return False
    if any(c in have for c in rule.excludes_caps):
        return False
    if rule.includes_arches and not any(a in arch_names for a in rule.includes_arches):
        return False
    if any(a in arch_names for a in rule.excludes_arches):
        return False
    return rule.min_kernel is None or kernel >= rule.min_kernel


def _kernel() -> tuple[int, int]:
    parts = platform.release().split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def _arg_test(a: _Asm, arg: Arg, fail: _Label) -> None:
    """Fall through when the 64-bit argument test holds, jump to `fail` otherwise."""
    lo_off, hi_off = 16 + 8 * arg.index, 20 + 8 * arg.index
    v = arg.value_two if arg.op == "SCMP_CMP_MASKED_EQ" else arg.value
    vlo, vhi = v & 0xFFFFFFFF, v >> 32
    ok = _Label()
    if arg.op in ("SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"):
        masked = arg.op == "SCMP_CMP_MASKED_EQ"
        ne = arg.op == "SCMP_CMP_NE"
        a.emit(LD_ABS, hi_off)
        if masked:
            a.emit(ALU_AND, arg.value >> 32)
        a.emit(JEQ, vhi, 0, ok if ne else fail)
        a.emit(LD_ABS, lo_off)
        if masked:
            a.emit(ALU_AND, arg.value & 0xFFFFFFFF)
        if ne:
            a.emit(JEQ, vlo, fail, 0)
        else:
            a.emit(JEQ, vlo, 0, fail)
    elif arg.op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        a.emit(LD_ABS, hi_off)
        a.emit(JGT, vhi, ok, 0)
        a.emit(JEQ, vhi, 0, fail)
        a.emit(LD_ABS, lo_off)
        a.emit(JGT if arg.op == "SCMP_CMP_GT" else JGE, vlo, 0, fail)
    else:  # LT, LE
        a.emit(LD_ABS, hi_off)
        a.emit(JGT, vhi, fail, 0)
        a.emit(JEQ, vhi, 0, ok)
        a.emit(LD_ABS, lo_off)
        a.emit(JGE if arg.op == "SCMP_CMP_LT" else JGT, vlo, fail, 0)
    a.mark(ok)


def _per_call(profile: Profile, have: set[str], table: dict[str, int],
              arch_names: tuple[str, ...]) -> dict[int, list[tuple[tuple[Arg, ...], int]]]:
    """syscall number -> its applicable rules in order, as (argument tests, return value)."""
    kernel = _kernel()
    per_call: dict[int, list[tuple[tuple[Arg, ...], int]]] = {}
    for rule in profile.rules:
        if not _applies(rule, have, kernel, arch_names):
            continue
        ret = _ret(rule.action, rule.errno_ret, profile.default_errno)
        for name in rule.names:
            nr = table.get(name)
            if nr is not None:          # unknown on this arch (other arches' calls): skip
                per_call.setdefault(nr, []).append((rule.args, ret))
    return per_call


def compile_profile(profile: Profile, caps: frozenset[int]) -> bytes:
    """The BPF program (struct sock_filter[] bytes) for `profile` as seen by a container
    holding `caps` (includes/excludes by capability are resolved here).  x86_64 and i386
    (int 0x80, 32-bit binaries) each get their own dispatch; anything else is killed."""
    have = set(capsmod.names(caps))
    default = _ret(profile.default_action, None, profile.default_errno)
    a = _Asm()
    dflt = _Label()
    rets: dict[int, _Label] = {}        # a shared `ret` per unconditional action
    arches = ((AUDIT_ARCH_X86_64, X86_64, ARCH_X86_64), (AUDIT_ARCH_I386, I386, ARCH_I386))
    entry = [_Label() for _ in arches]
    a.emit(LD_ABS, OFF_ARCH)
    for (audit, _, _), lab in zip(arches, entry, strict=True):
        a.emit(JEQ, audit, 0, 1)
        a.emit(JA, lab)
    a.emit(RET_K, RET["SCMP_ACT_KILL_PROCESS"])

    def tree(items: list[tuple[int, _Label]]) -> None:
        if len(items) <= 4:
            for nr, lab in items:
                a.emit(JEQ, nr, 0, 1)
                a.emit(JA, lab)
            a.emit(JA, dflt)
            return
        mid = len(items) // 2
        right = _Label()
        a.emit(JGE, items[mid][0], 0, 1)
        a.emit(JA, right)
        tree(items[:mid])
        a.mark(right)
        tree(items[mid:])

    for (audit, table, names), lab in zip(arches, entry, strict=True):
        per_call = _per_call(profile, have, table, names)
        a.mark(lab)
        a.emit(LD_ABS, OFF_NR)
        if audit == AUDIT_ARCH_X86_64:      # the x32 ABI shares the arch: not supported
            a.emit(JGE, X32_SYSCALL_BIT, 0, 1)
            a.emit(RET_K, RET["SCMP_ACT_KILL_PROCESS"])
        blocks: dict[int, _Label] = {}
        targets: list[tuple[int, _Label]] = []
        for nr in sorted(per_call):
            rules = per_call[nr]
            if not rules[0][0]:                   # first rule unconditional: it decides
                target = rets.setdefault(rules[0][1], _Label())
            else:
                target = blocks.setdefault(nr, _Label())
            targets.append((nr, target))
        tree(targets)
        for nr, block in blocks.items():
            a.mark(block)
            for args, ret in per_call[nr]:
                nxt = _Label()
                for arg in args:
                    _arg_test(a, arg, nxt)
                a.emit(RET_K, ret)
                a.mark(nxt)
                if not args:
                    break                         # later rules are unreachable
            else:
                a.emit(JA, dflt)
    for ret, lab in rets.items():
        a.mark(lab)
        a.emit(RET_K, ret)
    a.mark(dflt)
    a.emit(RET_K, default)
    return a.assemble()


def build_filter(caps: frozenset[int], profile: str | None) -> bytes | None:
    """The filter for a container: None = the default profile, "unconfined" = no filter
    (returns None), else a path to a Docker seccomp JSON profile."""
    if profile == "unconfined":
        return None
    if platform.machine() not in ("x86_64", "amd64"):
        raise SecurityConfigError(f"seccomp filters are only built for x86_64, not "
                                  f"{platform.machine()}", hint="use seccomp=unconfined")
    if profile is None:
        cached = _default_cache.get(caps)
        if cached is None:
            from pystack.runtime.security.seccomp_default import default_profile

            cached = _default_cache[caps] = compile_profile(default_profile(), caps)
        return cached
    return compile_profile(load_profile(profile), caps)


_default_cache: dict[frozenset[int], bytes] = {}    # the default profile, per cap set


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(prog: bytes) -> None:
    """Load the filter into this (single-threaded) process.  Needs NO_NEW_PRIVS or
    CAP_SYS_ADMIN in the effective set: without NNP, install before dropping caps."""
    if not prog or len(prog) % 8:
        raise SecurityConfigError("not a seccomp BPF program")
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                   ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if r != 0:
        e = ctypes.get_errno()
        hint = None
        if e == 13:  # EACCES
            hint = "set no_new_privs first, or install while CAP_SYS_ADMIN is still held"
        raise SecurityConfigError(f"cannot install the seccomp filter: {os.strerror(e)}",
                                  hint=hint) from OSError(e, os.strerror(e))


def mode(pid: int | str = "self") -> int:
    """The Seccomp: field of /proc/<pid>/status (0 off, 1 strict, 2 filter)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return 0
