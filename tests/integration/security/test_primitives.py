"""Capabilities, NNP, dumpable and seccomp applied for real, each in a forked child (not a full
container: the in-container probe is the runtime's test).  The child reports back as JSON."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pystack.runtime.errors import SecurityConfigError
from pystack.runtime.security import caps, seccomp
from pystack.runtime.security.syscalls_x86_64 import X86_64

pytestmark = pytest.mark.root

DOCKER_MASK = 0xA80425FB
libc = ctypes.CDLL(None, use_errno=True)


def in_child(fn: Callable[[], Any]) -> Any:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # pragma: no cover - child
        os.close(r)
        try:
            res: list[Any] = ["ok", fn()]
        except BaseException as e:
            res = ["err", f"{type(e).__name__}: {e}", getattr(e, "hint", None)]
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    out = json.loads(b"".join(chunks))
    if out[0] == "err":
        raise AssertionError(out[1:])
    return out[1]


def syscall(name: str, *args: int) -> int:
    """The errno a raw syscall fails with, 0 on success."""
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(X86_64[name]), *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if r == -1 else 0


def status_of(argv: list[str]) -> dict[str, int]:
    """Cap*/NoNewPrivs/Seccomp of a freshly exec'ed program (its /proc/self/status)."""
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        if k.startswith("Cap"):
            res[k] = int(v.strip(), 16)
        elif k in ("NoNewPrivs", "Seccomp"):
            res[k] = int(v.strip())
    return res


CAT_STATUS = ["/bin/cat", "/proc/self/status"]


def test_root_keeps_exactly_the_set_across_exec() -> None:
    def child() -> Any:
        caps.apply(caps.DEFAULT)
        return caps.current(), status_of(CAT_STATUS)
    now, after = in_child(child)
    for s in (now, after):
        assert s["CapEff"] == s["CapPrm"] == s["CapBnd"] == DOCKER_MASK
        assert s["CapInh"] == 0 and s["CapAmb"] == 0


def test_non_root_user_gets_no_effective_caps_after_exec() -> None:
    def child() -> Any:
        caps.prepare_user_switch(caps.DEFAULT)
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
        caps.finish_user_switch(caps.DEFAULT)
        return caps.current(), status_of(CAT_STATUS), os.getuid()
    now, after, uid = in_child(child)
    assert uid == 1000
    assert now["CapEff"] == now["CapPrm"] == DOCKER_MASK     # until execve, as with runc
    assert after["CapEff"] == after["CapPrm"] == 0
    assert after["CapBnd"] == DOCKER_MASK


def test_cap_drop_all_and_add_one() -> None:
    want = caps.resolve(["NET_BIND_SERVICE"], ["ALL"], False)

    def child() -> Any:
        caps.apply(want)
        return status_of(CAT_STATUS)
    after = in_child(child)
    assert after["CapEff"] == after["CapBnd"] == 1 << 10


def test_no_new_privs_and_dumpable() -> None:
    def child() -> Any:
        assert not caps.no_new_privs()
        caps.set_no_new_privs()
        caps.set_dumpable(False)
        return caps.no_new_privs(), caps.prctl(3), status_of(CAT_STATUS)["NoNewPrivs"]
    nnp, dumpable, exec_nnp = in_child(child)
    assert nnp is True and dumpable == 0 and exec_nnp == 1


def _refusals() -> dict[str, int]:
    return {
        "mount": syscall("mount", 0, 0, 0, 0, 0),
        "umount2": syscall("umount2", 0, 0),
        "unshare": syscall("unshare", 0x00020000),
        "setns": syscall("setns", 0, 0),
        "keyctl": syscall("keyctl", 0, 0),
        "add_key": syscall("add_key", 0, 0, 0, 0, 0),
        "ptrace": syscall("ptrace", 0, 0, 0, 0),
        "bpf": syscall("bpf", 0, 0, 0),
        "clone_newuser": syscall("clone", 0x10000000 | 17, 0, 0, 0, 0),
        "clone3": syscall("clone3", 0, 0),
        "personality_bad": syscall("personality", 0x0040000),
        "reboot": syscall("reboot", 0, 0, 0, 0),
    }


def test_default_seccomp_refuses_and_allows() -> None:
    prog = seccomp.build_filter(caps.DEFAULT, None)
    assert prog is not None

    def child() -> Any:
        caps.set_no_new_privs()
        seccomp.install(prog)
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, st = os.waitpid(pid, 0)
        sh = subprocess.run(["/bin/busybox", "sh", "-c", "echo hi; cat /proc/self/status"],
                            capture_output=True, text=True)
        return {"mode": seccomp.mode(), "refused": _refusals(),
                "getpid": syscall("getpid"), "personality": syscall("personality", 0xFFFFFFFF),
                "fork": os.waitstatus_to_exitcode(st), "sh": sh.stdout.splitlines()[0],
                "sh_seccomp": "Seccomp:\t2" in sh.stdout}
    res = in_child(child)
    assert res["mode"] == 2
    assert res["refused"] == {**dict.fromkeys(res["refused"], errno.EPERM),
                              "clone3": errno.ENOSYS}
    assert res["getpid"] == 0 and res["personality"] == 0 and res["fork"] == 7
    assert res["sh"] == "hi" and res["sh_seccomp"]


def test_sys_admin_relaxes_mount_and_unshare() -> None:
    full = caps.DEFAULT | {caps.BY_NAME["SYS_ADMIN"]}
    prog = seccomp.build_filter(full, None)
    assert prog is not None

    def child() -> Any:
        seccomp.install(prog)             # no NNP: allowed because CAP_SYS_ADMIN is held
        return syscall("unshare", 0x04000000), syscall("mount", 0, 0, 0, 0, 0)
    uts, mount = in_child(child)
    assert uts == 0
    assert mount not in (0, errno.EPERM)


def test_install_without_nnp_or_sys_admin_is_a_clear_error() -> None:
    prog = seccomp.build_filter(caps.DEFAULT, None)
    assert prog is not None

    def child() -> Any:
        caps.apply(caps.DEFAULT)
        try:
            seccomp.install(prog)
        except SecurityConfigError as e:
            return [str(e), e.hint, seccomp.mode()]
        return None
    msg, hint, mode = in_child(child)
    assert msg == "cannot install the seccomp filter: Permission denied"
    assert "no_new_privs" in hint and mode == 0


def test_runc_order_without_nnp_seccomp_then_caps() -> None:
    prog = seccomp.build_filter(caps.DEFAULT, None)
    assert prog is not None

    def child() -> Any:
        seccomp.install(prog)             # first, while CAP_SYS_ADMIN is still held
        caps.prepare_user_switch(caps.DEFAULT)
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
        caps.finish_user_switch(caps.DEFAULT)
        return status_of(CAT_STATUS)
    after = in_child(child)
    assert after["Seccomp"] == 2 and after["NoNewPrivs"] == 0
    assert after["CapEff"] == 0 and after["CapBnd"] == DOCKER_MASK


def test_docker_json_profile(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
    ]}))
    prog = seccomp.build_filter(caps.DEFAULT, str(f))
    assert prog is not None

    def child() -> Any:
        caps.set_no_new_privs()
        seccomp.install(prog)
        return syscall("getppid"), syscall("kill", os.getpid(), 0), syscall("getpid")
    assert in_child(child) == [errno.EACCES, errno.EPERM, 0]


def int80(nr: int, a1: int = 0, a2: int = 0, a3: int = 0) -> int:
    """A 32-bit compat syscall (int 0x80) from this 64-bit process: -errno or the result."""
    import mmap

    code = (b"\x53" + b"\xb8" + nr.to_bytes(4, "little") + b"\xbb" + a1.to_bytes(4, "little")
            + b"\xb9" + a2.to_bytes(4, "little") + b"\xba" + a3.to_bytes(4, "little")
            + b"\xcd\x80\x5b\xc3")     # push rbx; mov eax/ebx/ecx/edx; int 0x80; pop rbx; ret
    buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))
    return int(fn())


def test_i386_syscalls_are_filtered_with_their_own_numbers() -> None:
    from pystack.runtime.security.syscalls_x86_64 import I386

    if in_child(lambda: int80(I386["getpid"])) < 0:
        pytest.skip("this kernel has no ia32 emulation")
    prog = seccomp.build_filter(caps.DEFAULT, None)
    assert prog is not None

    def child() -> Any:
        caps.set_no_new_privs()
        seccomp.install(prog)
        return [int80(I386["getpid"]) == os.getpid(), int80(I386["mount"]),
                int80(I386["unshare"], 0x20000), int80(I386["clone3"]),
                int80(I386["keyctl"])]
    assert in_child(child) == [True, -errno.EPERM, -errno.EPERM, -errno.ENOSYS, -errno.EPERM]
