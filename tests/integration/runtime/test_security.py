"""A probe inside a default container checks runtime.md §7.1, plus the §7.3 regressions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import Mount

from .conftest import Make, run

pytestmark = pytest.mark.root

PROBE = r"""
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t'
for n in mnt pid net uts ipc cgroup; do echo "ns_$n=$(readlink /proc/self/ns/$n)"; done
unshare -r true 2>/dev/null && echo unshare=ok || echo unshare=denied
unshare -m true 2>/dev/null && echo unshare_m=ok || echo unshare_m=denied
mount -t tmpfs none /tmp 2>/dev/null && echo mount=ok || echo mount=denied
[ -e /proc/kcore ] && echo "kcore=$(head -c 1 /proc/kcore 2>/dev/null | wc -c)"
echo "keys=$(wc -c < /proc/keys)"
echo "timer_list=$(wc -c < /proc/timer_list)"
echo x > /proc/sys/kernel/domainname 2>/dev/null && echo procsys=rw || echo procsys=ro
echo "dev=$(ls /dev | tr '\n' ' ')"
mknod /tmp/sda b 8 0 2>/dev/null
head -c 1 /tmp/sda >/dev/null 2>&1 && echo blkopen=ok || echo blkopen=denied
mknod /tmp/mem c 1 1 2>/dev/null
head -c 1 /tmp/mem >/dev/null 2>&1 && echo memopen=ok || echo memopen=denied
echo "rootprop=$(grep ' / / ' /proc/self/mountinfo | cut -d' ' -f7)"
echo "sys=$(grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1)"
touch /sys/x 2>/dev/null && echo sysw=ok || echo sysw=denied
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "nprocs=$(ls -d /proc/[0-9]* | wc -l)"
echo "acpi=$(ls /proc/acpi | wc -l)"
echo "firmware=$(ls /sys/firmware | wc -l)"
"""


def _probe(rt: LinuxRuntime, make: Make, **kw: object) -> dict[str, str]:
    st, out = run(rt, make("sh", "-c", PROBE, **kw))
    assert st.exit_code == 0, out
    vals = {}
    for line in out.splitlines():
        k, sep, v = line.partition("=") if "=" in line else line.partition(":")
        if sep:
            vals[k] = v.strip()
    return vals


def test_default_container_probe(rt: LinuxRuntime, make: Make) -> None:
    v = _probe(rt, make)
    assert v["CapEff"] == v["CapBnd"] == "00000000a80425fb"     # Docker's 14
    assert v["NoNewPrivs"] == "0"                               # Docker's default
    assert v["Seccomp"] == "2"
    for n in ("mnt", "pid", "net", "uts", "ipc", "cgroup"):
        assert v[f"ns_{n}"] != os.readlink(f"/proc/self/ns/{n}"), n
    assert v["unshare"] == v["unshare_m"] == v["mount"] == "denied"
    assert v.get("kcore", "0") == "0"
    assert v["keys"] == "0" and v["timer_list"] == "0"
    assert v["procsys"] == "ro"
    core = ["core"] if os.path.exists("/proc/kcore") else []    # runc: only when it exists
    assert v["dev"].split() == sorted([*core, "fd", "full", "mqueue", "null", "ptmx", "pts",
                                       "random", "shm", "stderr", "stdin", "stdout", "tty",
                                       "urandom", "zero"])
    assert v["blkopen"] == v["memopen"] == "denied"
    assert "shared:" not in v["rootprop"]
    assert v["sys"] == "ro" and v["sysw"] == "denied"
    assert v["pid1"].startswith("sh -c")
    assert v["acpi"] == "0" and v["firmware"] == "0"


def test_no_new_privs_cap_drop_and_user(rt: LinuxRuntime, make: Make) -> None:
    v = _probe(rt, make, no_new_privileges=True, cap_drop=("NET_RAW", "MKNOD"))
    assert v["NoNewPrivs"] == "1" and v["Seccomp"] == "2"
    assert int(v["CapEff"], 16) == 0xa80425fb & ~(1 << 13) & ~(1 << 27)
    _, out = run(rt, make("sh", "-c", "id; grep CapEff /proc/self/status", user="app"))
    assert out.splitlines()[0] == "uid=1000(app) gid=1000(app) groups=50(staff)"
    assert out.splitlines()[1].split()[1] == "0000000000000000"


def test_privileged_and_unconfined(rt: LinuxRuntime, make: Make) -> None:
    v = _probe(rt, make, seccomp="unconfined")
    assert v["Seccomp"] == "0" and v["CapEff"] == "00000000a80425fb"
    assert v["mount"] == "denied"               # no CAP_SYS_ADMIN, even without seccomp
    v = _probe(rt, make, privileged=True)
    assert v["Seccomp"] == "0" and v["mount"] == "ok"
    assert (v["procsys"], v["sys"]) == ("rw", "rw")     # no read-only paths, /sys rw
    assert v["timer_list"] != "0"                       # nor masked ones
    import stat

    host_blk = {n for n in os.listdir("/dev") if stat.S_ISBLK(os.lstat(f"/dev/{n}").st_mode)}
    assert host_blk <= set(v["dev"].split())            # the host's devices
    host = next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
                if ln.startswith("CapBnd:"))
    assert v["CapEff"] == host                  # every capability this host lets us hold


def test_only_stdio_fds_reach_pid1(rt: LinuxRuntime, make: Make, tmp_path: Path) -> None:
    leak = os.open(tmp_path / "secret", os.O_CREAT | os.O_RDWR)    # inheritable on purpose
    os.set_inheritable(leak, True)
    try:
        spec = make("sleep", "30")
        st = rt.start(spec.id)
        assert sorted(os.listdir(f"/proc/{st.pid}/fd")) == ["0", "1", "2"]
    finally:
        os.close(leak)


def test_cwd_cannot_escape_through_a_leaked_fd(rt: LinuxRuntime, make: Make) -> None:
    # CVE-2024-21626: a working dir of /proc/self/fd/N must not reach a host directory.
    spec = make("pwd", working_dir="/proc/self/fd/4")
    with pytest.raises(ContainerRuntimeError, match="chdir to cwd"):
        rt.start(spec.id)


def test_no_host_process_visible_from_exec(rt: LinuxRuntime, make: Make) -> None:
    import io

    from pystack.runtime.spec import ExecSpec

    spec = make("sleep", "30")
    rt.start(spec.id)
    out = io.BytesIO()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "ls -l /proc/*/exe 2>&1")), stdout=out)
    assert code == 0
    text = out.getvalue().decode()
    assert "busybox" in text and "python" not in text


def test_symlinks_in_the_image_never_lead_out(rt: LinuxRuntime, make: Make, tmp_path: Path,
                                             busybox_rootfs: Path) -> None:
    root = tmp_path / "evil"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    victim = tmp_path / "victim"
    victim.write_text("host file\n")
    (root / "etc" / "hostname").unlink()
    os.symlink("/../../../../../../../../" + str(victim), root / "etc" / "hostname")
    os.symlink(str(tmp_path), root / "hostdir")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "data").write_text("volume\n")
    spec = make("sh", "-c", "cat /etc/hostname; ls /hostdir; echo pwned > /etc/hostname",
                lower_dirs=(str(root),), hostname="box",
                mounts=(Mount(type="bind", source=str(vol), target="/hostdir/sub"),))
    _, out = run(rt, spec)
    assert victim.read_text() == "host file\n"
    assert not (tmp_path / "sub").exists()
    assert out.splitlines()[0] == "box"
    assert "sub" in out


PROBE2 = r"""
for p in /proc/sysrq-trigger /proc/irq /proc/bus /proc/fs /proc/sys; do
  echo "ro_$p=$(awk -v p=$p '$5 == p {split($6, o, ","); print o[1]}' /proc/self/mountinfo)"
done
echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq=written || echo sysrq=refused
cg='$5 ~ "^/sys/fs/cgroup" {split($6, o, ","); printf "%s ", o[1]}'
echo "cgfs=$(awk "$cg" /proc/self/mountinfo)"
ra=none
for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent; do
  [ -e "$f" ] || continue
  ra=present
  echo x > "$f" 2>/dev/null && { ra=writable; break; }
done
echo "release_agent=$ra"
echo "cgroups=$(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\n' ' ')"
echo "localnet=$(cat /proc/sys/net/ipv4/conf/all/route_localnet)"
echo "roots=$(awk '{print $4}' /proc/self/mountinfo | sort -u | tr '\n' ' ')"
echo "sched_debug=$(wc -c < /proc/sched_debug 2>/dev/null || echo absent)"
echo "fds=$(ls /proc/self/fd | tr '\n' ' ')"
echo "cwd=$(readlink /proc/1/cwd)"
"""


def test_default_container_probe_rest_of_7_1(rt: LinuxRuntime, make: Make) -> None:
    """The §7.1 rows the first probe leaves: every read-only /proc path, cgroupfs read-only
    with no writable release_agent, the container's own cgroup, route_localnet, no host
    directory bound in but the files the runtime gives (/etc/hosts, hostname, resolv.conf)."""
    st, out = run(rt, make("sh", "-c", PROBE2, working_dir="/tmp"))
    assert st.exit_code == 0, out
    v = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
    for p in ("/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/sys"):
        want = "ro" if os.path.exists(p) else ""            # not every kernel has them all
        assert v[f"ro_{p}"] == want, (p, v[f"ro_{p}"])
    assert v["sysrq"] == "refused"
    # every mount at or under /sys/fs/cgroup is read-only: the tmpfs and the v1 hierarchies,
    # or on a unified host the cgroup2 mount itself with nothing writable under it
    assert set(v["cgfs"].split()) <= {"ro"}, v["cgfs"]
    assert v["release_agent"] in ("none", "present")
    assert v["cgroups"].split() == ["/"]          # its own cgroup namespace: it sees its root
    assert v["localnet"] == "0"
    root, run_dir = os.environ["PYSTACK_ROOT"], os.environ.get("PYSTACK_RUN", "/run/pystack")
    for r in v["roots"].split():
        assert not r.startswith(run_dir), r       # no shim socket, no runtime state
        if r.startswith(root):
            assert r.rsplit("/", 1)[1] in ("hosts", "hostname", "resolv.conf"), r
    assert v["sched_debug"] in ("0", "absent")
    assert v["fds"].split() == ["0", "1", "2", "3"]    # ls's own dir fd is the 4th
    assert v["cwd"] == "/tmp"
