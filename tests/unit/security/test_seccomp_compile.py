"""The seccomp compiler, checked by running its BPF output in a small classic-BPF interpreter
(no kernel): the default profile's decisions, and 64-bit argument tests against Python's own
arithmetic (hypothesis)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.security import caps, seccomp
from pystack.runtime.security.seccomp_model import Arg, Profile, Rule
from pystack.runtime.security.syscalls_x86_64 import I386, X86_64

ALLOW, KILL_PROCESS = 0x7FFF0000, 0x80000000


def errno_ret(e: int) -> int:
    return 0x00050000 | e


def run(prog: bytes, nr: int, args: tuple[int, ...] = (), arch: int = 0xC000003E) -> int:
    """Evaluate a classic BPF seccomp program on one seccomp_data."""
    full = (*args, *([0] * (6 - len(args))))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *full)
    insns = [struct.unpack_from("<HBBI", prog, i) for i in range(0, len(prog), 8)]
    a, pc = 0, 0
    for _ in range(10_000):
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:
            a &= k
        elif code == 0x05:
            pc += k
        elif code in (0x15, 0x25, 0x35):
            cond = {0x15: a == k, 0x25: a > k, 0x35: a >= k}[code]
            pc += jt if cond else jf
        elif code == 0x06:
            return int(k)
        else:
            raise AssertionError(f"unknown opcode {code:#x}")
        pc += 1
    raise AssertionError("no return")


@pytest.fixture(scope="module")
def default_prog() -> bytes:
    prog = seccomp.build_filter(caps.DEFAULT, None)
    assert prog is not None
    return prog


def test_unconfined_is_none() -> None:
    assert seccomp.build_filter(caps.DEFAULT, "unconfined") is None


def test_default_profile_fits_and_allows_ordinary_calls(default_prog: bytes) -> None:
    assert len(default_prog) // 8 < 4096
    for name in ("read", "write", "openat", "execve", "exit_group", "futex", "mmap", "rseq",
                 "arch_prctl", "getrandom", "chroot", "mknodat", "setuid", "capset", "wait4"):
        assert run(default_prog, X86_64[name]) == ALLOW, name


@pytest.mark.parametrize("name", [
    "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "ptrace",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "userfaultfd", "open_by_handle_at", "pivot_root", "swapon", "swapoff",
    "reboot", "acct", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "syslog",
    "quotactl", "lookup_dcookie", "name_to_handle_at", "iopl", "ioperm", "create_module",
    "get_kernel_syms", "query_module", "uselib", "nfsservctl", "sysfs", "_sysctl", "move_pages",
    "mbind", "set_mempolicy", "io_uring_setup", "vhangup", "fsopen", "open_tree"])
def test_default_profile_refuses_with_eperm(default_prog: bytes, name: str) -> None:
    assert run(default_prog, X86_64[name]) == errno_ret(1)


def test_clone_flags_clone3_personality_socket(default_prog: bytes) -> None:
    clone = X86_64["clone"]
    assert run(default_prog, clone, (0x11 | 0x01000000 | 0x00200000,)) == ALLOW    # fork
    assert run(default_prog, clone, (0x003D0F00,)) == ALLOW                        # thread
    for flag in (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x02000000):
        assert run(default_prog, clone, (0x11 | flag,)) == errno_ret(1), hex(flag)
    assert run(default_prog, X86_64["clone3"]) == errno_ret(38)
    pers = X86_64["personality"]
    for ok in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert run(default_prog, pers, (ok,)) == ALLOW
    assert run(default_prog, pers, (0x0040000,)) == errno_ret(1)    # ADDR_NO_RANDOMIZE
    assert run(default_prog, pers, (0x1_0000_0000,)) == errno_ret(1)
    sock = X86_64["socket"]
    assert run(default_prog, sock, (2, 1, 0)) == ALLOW
    assert run(default_prog, sock, (40, 1, 0)) == errno_ret(1)


def test_foreign_arch_and_x32_are_killed(default_prog: bytes) -> None:
    assert run(default_prog, 64, arch=0xC00000B7) == KILL_PROCESS      # aarch64 write
    assert run(default_prog, 0x40000000 | 1) == KILL_PROCESS           # x32 write


def test_i386_has_its_own_numbers(default_prog: bytes) -> None:
    i386 = 0x40000003
    for name in ("read", "write", "mmap2", "socketcall", "fstat64", "_llseek", "set_thread_area",
                 "getuid32", "exit_group"):
        assert run(default_prog, I386[name], arch=i386) == ALLOW, name
    for name in ("mount", "umount", "unshare", "keyctl", "ptrace", "vm86", "vm86old", "stime",
                 "bpf", "reboot"):
        assert run(default_prog, I386[name], arch=i386) == errno_ret(1), name
    assert run(default_prog, I386["clone3"], arch=i386) == errno_ret(38)
    assert run(default_prog, I386["clone"], (0x10000011,), arch=i386) == errno_ret(1)
    assert run(default_prog, I386["clone"], (0x01200011,), arch=i386) == ALLOW
    assert run(default_prog, I386["personality"], (0xFFFFFFFF,), arch=i386) == ALLOW
    assert run(default_prog, I386["socket"], (40, 1, 0), arch=i386) == errno_ret(1)
    # 20 is getpid on i386 and writev on x86_64: the arch picks the table
    assert I386["getpid"] == 20 and run(default_prog, 20, arch=i386) == ALLOW


def test_capabilities_relax_groups() -> None:
    prog = seccomp.build_filter(caps.DEFAULT | {caps.BY_NAME["SYS_ADMIN"],
                                                caps.BY_NAME["SYS_PTRACE"]}, None)
    assert prog is not None
    for name in ("mount", "unshare", "setns", "ptrace", "process_vm_readv", "clone3"):
        assert run(prog, X86_64[name]) == ALLOW, name
    assert run(prog, X86_64["clone"], (0x10000000,)) == ALLOW
    assert run(prog, X86_64["keyctl"]) == errno_ret(1)
    no_chroot = seccomp.build_filter(caps.DEFAULT - {caps.BY_NAME["SYS_CHROOT"]}, None)
    assert no_chroot is not None
    assert run(no_chroot, X86_64["chroot"]) == errno_ret(1)


OPS = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT",
       "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"]
u64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**64 - 1]))


def expected(op: str, arg: int, v: int, v2: int) -> bool:
    return {"SCMP_CMP_EQ": arg == v, "SCMP_CMP_NE": arg != v, "SCMP_CMP_LT": arg < v,
            "SCMP_CMP_LE": arg <= v, "SCMP_CMP_GT": arg > v, "SCMP_CMP_GE": arg >= v,
            "SCMP_CMP_MASKED_EQ": arg & v == v2}[op]


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(OPS), idx=st.integers(0, 5), v=u64, v2=u64, arg=u64,
       near=st.booleans())
def test_argument_tests_match_64bit_semantics(op: str, idx: int, v: int, v2: int, arg: int,
                                              near: bool) -> None:
    if near:               # exercise the equal-high-word paths
        arg = (v & ~0xFFFFFFFF) | (arg & 0xFFFFFFFF)
    prof = Profile("SCMP_ACT_ERRNO", 1, (
        Rule(("getpid",), "SCMP_ACT_ALLOW", (Arg(idx, op, v, v2),)),
        Rule(("getpid",), "SCMP_ACT_ERRNO", errno_ret=7),
    ))
    prog = seccomp.compile_profile(prof, caps.DEFAULT)
    args = tuple(arg if i == idx else 0xDEAD for i in range(6))
    want = ALLOW if expected(op, arg, v, v2) else errno_ret(7)
    assert run(prog, X86_64["getpid"], args) == want
    assert run(prog, X86_64["getppid"], args) == errno_ret(1)


def test_all_args_must_match_and_first_rule_wins() -> None:
    prof = Profile("SCMP_ACT_KILL_PROCESS", 1, (
        Rule(("kill",), "SCMP_ACT_ALLOW", (Arg(0, "SCMP_CMP_EQ", 1), Arg(1, "SCMP_CMP_EQ", 9))),
        Rule(("kill",), "SCMP_ACT_LOG"),
        Rule(("kill",), "SCMP_ACT_ALLOW"),
    ))
    prog = seccomp.compile_profile(prof, frozenset())
    assert run(prog, X86_64["kill"], (1, 9)) == ALLOW
    assert run(prog, X86_64["kill"], (1, 15)) == 0x7FFC0000
    assert run(prog, X86_64["read"]) == KILL_PROCESS


@settings(max_examples=30, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(X86_64)), min_size=1, max_size=200, unique=True))
def test_allowlist_of_any_size_is_exact(names: list[str]) -> None:
    prog = seccomp.compile_profile(
        Profile("SCMP_ACT_ERRNO", 13, (Rule(tuple(names), "SCMP_ACT_ALLOW"),)), frozenset())
    chosen = set(names)
    for name, nr in X86_64.items():
        assert run(prog, nr) == (ALLOW if name in chosen else errno_ret(13)), name
