"""Spec features seen from inside: mounts, read-only root, hostname, sysctls, ulimits, env."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import Mount, Resources, Ulimit

from .conftest import Make, run

pytestmark = pytest.mark.root


def test_mounts_hosts_hostname_and_read_only_root(rt: LinuxRuntime, make: Make,
                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("from host\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 db\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.1.2.1\n")
    script = ("cat /data/f; echo w > /data/new; touch /ro/x 2>/dev/null || echo ro-refused; "
              "touch /rootfile 2>/dev/null || echo root-ro; echo t > /scratch/t && echo tmpfs-ok; "
              "grep ' /scratch ' /proc/self/mountinfo | cut -d' ' -f6; "
              "hostname; cat /etc/hostname; cat /proc/sys/kernel/domainname; "
              "cat /etc/hosts /etc/resolv.conf; "
              "df -k /dev/shm | tail -1 | awk '{print $2}'")
    spec = make("sh", "-c", script, read_only=True, hostname="web", domainname="example.org",
                etc_hosts=str(hosts), etc_resolv=str(resolv), shm_size=8 << 20,
                mounts=(Mount(type="bind", source=str(data), target="/data"),
                        Mount(type="bind", source=str(ro), target="/ro", read_only=True),
                        Mount(type="tmpfs", target="/scratch", tmpfs_size=1 << 20)))
    st, out = run(rt, spec)
    assert st.exit_code == 0, out
    assert out.splitlines() == ["from host", "ro-refused", "root-ro", "tmpfs-ok",
                                "rw,nosuid,nodev,noexec,relatime", "web", "web", "example.org",
                                "10.1.2.3 db", "nameserver 10.1.2.1", "8192"]
    assert (data / "new").read_text() == "w\n"
    assert not (ro / "x").exists()


def test_sysctls_ulimits_oom_score_env_and_workdir(rt: LinuxRuntime, make: Make) -> None:
    _, host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    spec = make("sh", "-c", "cat /proc/sys/kernel/shmmni; ulimit -n; ulimit -Hn; "
                "cat /proc/self/oom_score_adj; echo $GREETING $HOME; pwd",
                sysctls={"kernel.shmmni": "1234"},
                ulimits=(Ulimit("nofile", 1024, host_hard + 1000),),
                resources=Resources(oom_score_adj=500), env={"GREETING": "hi"},
                working_dir="/made/by/us")
    st, out = run(rt, spec)
    assert out.splitlines() == ["1234", "1024", str(host_hard), "500", "hi /root",
                                "/made/by/us"]
    assert st.exit_code == 0
    assert st.warnings == (f"ulimit nofile hard {host_hard + 1000} above the host's "
                           f"{host_hard}: clamped",)


def test_many_layers_mount(rt: LinuxRuntime, make: Make, busybox_rootfs: Path,
                           tmp_path: Path) -> None:
    # 60 lower dirs with long paths: more than a page of mount options.
    layers = [str(busybox_rootfs)]
    for i in range(60):
        d = tmp_path / ("layer-" + "x" * 60 + f"-{i:02d}")
        (d / "layers").mkdir(parents=True)
        (d / "layers" / f"l{i:02d}").write_text(f"{i}\n")
        layers.append(str(d))
    spec = make("sh", "-c", "cat /layers/l00 /layers/l59; ls /layers | wc -l",
                lower_dirs=tuple(layers))
    st, out = run(rt, spec)
    assert st.exit_code == 0 and out.split() == ["0", "59", "60"]


def test_join_a_pinned_netns_and_host_network(rt: LinuxRuntime, make: Make) -> None:
    import os
    import subprocess

    pin = Path(os.environ["PYSTACK_RUN"]) / f"netns-{os.getpid()}"
    pin.touch()
    subprocess.run(["unshare", f"--net={pin}", "true"], check=True)
    try:
        spec = make("sleep", "30", network_mode="ns", netns=str(pin))
        st = rt.start(spec.id)
        assert os.stat(f"/proc/{st.pid}/ns/net").st_ino == os.stat(pin).st_ino
        rt.delete(spec.id, force=True)
    finally:
        subprocess.run(["umount", str(pin)], check=True)
        pin.unlink()
    host = make("sleep", "30", network_mode="host")
    st = rt.start(host.id)
    assert os.readlink(f"/proc/{st.pid}/ns/net") == os.readlink("/proc/self/ns/net")
    assert os.readlink(f"/proc/{st.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")


def test_empty_volume_is_filled_from_the_image(rt: LinuxRuntime, make: Make,
                                               tmp_path: Path) -> None:
    vol, nocopy = tmp_path / "vol", tmp_path / "nocopy"
    vol.mkdir()
    nocopy.mkdir()
    spec = make("sh", "-c", "head -1 /etc/passwd; ls /www | wc -l",
                mounts=(Mount(type="volume", source=str(vol), target="/etc"),
                        Mount(type="volume", source=str(nocopy), target="/www", nocopy=True)))
    _, out = run(rt, spec)
    assert out == "root:x:0:0:root:/root:/bin/sh\n0\n"
    assert (vol / "passwd").read_text().startswith("root:") and (vol / "hostname").exists()
    assert list(nocopy.iterdir()) == []


def test_join_another_containers_pid_and_ipc_namespaces(rt: LinuxRuntime, make: Make) -> None:
    import os

    a = make("sleep", "30")
    pa = rt.start(a.id).pid
    b = make("sh", "-c", "ps -o comm | sort | tr '\\n' ' '",
             pid_namespace=f"/proc/{pa}/ns/pid", ipc_namespace=f"/proc/{pa}/ns/ipc")
    st, out = run(rt, b)
    assert st.exit_code == 0 and "sleep" in out.split()        # a's PID 1, seen from b
    c = make("sleep", "30", pid_namespace=f"/proc/{pa}/ns/pid",
             ipc_namespace=f"/proc/{pa}/ns/ipc")
    pc = rt.start(c.id).pid
    for ns in ("pid", "ipc"):
        assert os.readlink(f"/proc/{pc}/ns/{ns}") == os.readlink(f"/proc/{pa}/ns/{ns}")
    assert os.readlink(f"/proc/{pc}/ns/mnt") != os.readlink(f"/proc/{pa}/ns/mnt")


def test_stdin_open_keeps_stdin_open(rt: LinuxRuntime, make: Make) -> None:
    import time

    held = make("sh", "-c", "cat; echo eof", stdin_open=True)
    closed = make("sh", "-c", "cat; echo eof")
    rt.start(held.id)
    rt.start(closed.id)
    assert rt.wait(closed.id, timeout=10).exit_code == 0
    time.sleep(0.3)
    assert rt.state(held.id).status == "running"     # cat still waits on its stdin
    assert rt.stop(held.id, timeout=0).exit_code == 137


def test_default_hostname_is_the_short_id(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "hostname; cat /etc/hostname; echo $HOSTNAME; head -1 /etc/hosts")
    _, out = run(rt, spec)
    assert out.split() == [spec.id[:12]] * 3 + ["127.0.0.1", "localhost"]
