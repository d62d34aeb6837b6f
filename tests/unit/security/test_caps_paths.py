"""Capability name handling and Docker's cap_add/cap_drop rules; masked/read-only paths,
default devices and the sysctl namespacing rules."""

from __future__ import annotations

import pytest

from pystack.runtime.errors import SecurityConfigError
from pystack.runtime.security import caps, paths


def test_names_and_numbers() -> None:
    assert len(caps.NAMES) == 41
    assert caps.BY_NAME["CHOWN"] == 0
    assert caps.BY_NAME["SYS_ADMIN"] == 21
    assert caps.BY_NAME["CHECKPOINT_RESTORE"] == 40
    assert caps.mask(caps.DEFAULT) == 0xA80425FB
    assert len(caps.DEFAULT) == 14
    assert caps.from_mask(0xA80425FB) == caps.DEFAULT
    assert caps.names({0, 21}) == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_resolve_default_and_tweaks() -> None:
    assert caps.resolve((), (), False) == caps.DEFAULT
    r = caps.resolve(["net_admin", "CAP_SYS_PTRACE"], ["MKNOD", "cap_net_raw"], False)
    assert r == (caps.DEFAULT - {27, 13}) | {12, 19}
    assert caps.resolve(["NET_ADMIN"], ["ALL"], False) == {12}
    assert caps.resolve(["ALL"], ["sys_admin"], False) == caps.all_caps() - {21}
    assert caps.resolve([], [], True) == caps.all_caps()
    assert caps.resolve(["all"], [], False) == caps.all_caps()


def test_unknown_capability_is_an_error() -> None:
    with pytest.raises(SecurityConfigError) as e:
        caps.resolve(["NET_ADMN"], [], False)
    assert str(e.value) == "unknown capability: 'NET_ADMN'"
    with pytest.raises(SecurityConfigError):
        caps.resolve([], ["CAP_"], True)


def test_masked_and_readonly_paths() -> None:
    masked = paths.masked_paths()
    for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
              "/proc/acpi", "/sys/firmware", "/proc/interrupts", "/sys/devices/virtual/powercap"):
        assert p in masked
    assert set(paths.READONLY_PATHS) == {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                         "/proc/sysrq-trigger"}


def test_devices_and_links() -> None:
    devs = {d.path: (d.major, d.minor) for d in paths.DEFAULT_DEVICES}
    assert devs == {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
                    "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}
    null = paths.DEFAULT_DEVICES[0]
    assert null.st_mode == 0o20666 and null.rdev == 0x103
    links = dict(paths.dev_symlinks())
    assert links["/dev/fd"] == "/proc/self/fd" and links["/dev/ptmx"] == "pts/ptmx"
    assert links["/dev/stderr"] == "/proc/self/fd/2"


@pytest.mark.parametrize("name", ["net.ipv4.ip_forward", "net/ipv4/ip_unprivileged_port_start",
                                  "kernel.shmmax", "kernel.msgmnb", "kernel.sem",
                                  "fs.mqueue.msg_max", "kernel.shm_rmid_forced"])
def test_namespaced_sysctls_pass(name: str) -> None:
    paths.check_sysctl(name)


@pytest.mark.parametrize(("name", "kw", "msg"), [
    ("kernel.pid_max", {}, "sysctl 'kernel.pid_max' is not in a separate kernel namespace"),
    ("vm.swappiness", {}, "sysctl 'vm.swappiness' is not in a separate kernel namespace"),
    ("fs.file-max", {}, "sysctl 'fs.file-max' is not in a separate kernel namespace"),
    ("net.ipv4.ip_forward", {"own_netns": False},
     "sysctl 'net.ipv4.ip_forward' is not allowed in the host's network namespace"),
    ("kernel.shmmax", {"own_ipcns": False},
     "sysctl 'kernel.shmmax' is not allowed in the host's ipc namespace"),
    ("kernel.hostname", {}, "sysctl 'kernel.hostname' is not allowed"),
    ("net/../../etc", {}, "invalid sysctl name 'net/../../etc'"),
    ("", {}, "invalid sysctl name ''"),
])
def test_host_sysctls_refused(name: str, kw: dict[str, bool], msg: str) -> None:
    with pytest.raises(SecurityConfigError) as e:
        paths.check_sysctl(name, **kw)
    assert str(e.value) == msg


def test_sysctl_path() -> None:
    assert paths.sysctl_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert paths.sysctl_path("net/ipv4/conf/eth0.1/rp_filter") == \
        "/proc/sys/net/ipv4/conf/eth0.1/rp_filter"
