"""Syscalls the default seccomp profile refuses, called directly by a small static C probe
(built with gcc when the machine has it: busybox cannot make these calls)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pystack.runtime.linux_runtime import LinuxRuntime

from .conftest import Make, run

pytestmark = pytest.mark.root

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#define T(name, ...) do { errno = 0; long r = syscall(__VA_ARGS__); \
    printf("%s=%d\n", name, r < 0 ? errno : 0); } while (0)
int main(void) {
  T("keyctl", SYS_keyctl, 0, 0, 0, 0, 0);
  T("add_key", SYS_add_key, "user", "x", "y", 1, -2);
  T("ptrace", SYS_ptrace, 0, 0, 0, 0);
  T("unshare_user", SYS_unshare, 0x10000000);
  T("mount", SYS_mount, "none", "/tmp", "tmpfs", 0, 0);
  T("kexec_load", SYS_kexec_load, 0, 0, 0, 0);
  T("init_module", SYS_init_module, 0, 0, "");
  T("bpf", SYS_bpf, 0, 0, 0);
  T("perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0);
  T("userfaultfd", SYS_userfaultfd, 0);
  T("pivot_root", SYS_pivot_root, "/", "/");
  T("setns", SYS_setns, 0, 0);
  T("open_by_handle_at", SYS_open_by_handle_at, 0, 0, 0);
  T("clone3", SYS_clone3, 0, 0);
  T("getpid", SYS_getpid);
  return 0;
}
"""


@pytest.fixture(scope="module")
def probe_rootfs(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: cannot build the syscall probe")
    d = tmp_path_factory.mktemp("probe")
    (d / "probe.c").write_text(PROBE_C)
    r = subprocess.run([gcc, "-static", "-O1", "-o", str(d / "probe"), str(d / "probe.c")],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot build a static probe: {r.stderr[:200]}")
    root = d / "rootfs"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    shutil.copy2(d / "probe", root / "bin" / "probe")
    return root


def test_default_profile_refuses_dangerous_syscalls(rt: LinuxRuntime, make: Make,
                                                   probe_rootfs: Path) -> None:
    st, out = run(rt, make("probe", lower_dirs=(str(probe_rootfs),)))
    got = dict(line.split("=") for line in out.split())
    eperm = {k: "1" for k in ("keyctl", "add_key", "ptrace", "unshare_user", "mount",
                              "kexec_load", "init_module", "bpf", "perf_event_open",
                              "userfaultfd", "pivot_root", "setns", "open_by_handle_at")}
    assert got == {**eperm, "clone3": "38", "getpid": "0"}   # clone3: ENOSYS, as Docker
    assert st.exit_code == 0


def test_unconfined_lets_them_through_to_the_kernel(rt: LinuxRuntime, make: Make,
                                                    probe_rootfs: Path) -> None:
    _, out = run(rt, make("probe", lower_dirs=(str(probe_rootfs),), seccomp="unconfined"))
    got = dict(line.split("=") for line in out.split())
    assert got["keyctl"] != "1" and got["ptrace"] == "0"      # the kernel answers now
