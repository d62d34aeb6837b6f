"""The shim-less one-shot path (runtime/oneshot.py, a build's RUN): the container it runs has
exactly a shim-started container's confinement, its output and exit code come back, a failed
start is an exit code with the reason, and a caller that dies takes its container with it."""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pystack.runtime import state
from pystack.runtime.cgroups import open_cgroup
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import ContainerSpec
from tests.integration.runtime.conftest import Make, run
from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

pytestmark = pytest.mark.root

# What says how a process is confined, from /proc/self/status, the cgroup and mount views.
PROBE = ("grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' "
         "/proc/self/status; cat /proc/self/cgroup; id; hostname; "
         "awk '{print $5, $6}' /proc/self/mountinfo; "     # masked, read-only paths
         "echo 1 2>&1 > /proc/sys/kernel/domainname || echo sys-read-only; "
         "mknod /tmp/sda b 8 0 && (head -c 1 /tmp/sda >/dev/null 2>&1 || echo sda-denied); "
         "ls /sys/fs/cgroup | head -3; echo done")


def spec_of(busybox_rootfs: Path, *argv: str, **kw: object) -> ContainerSpec:
    cid = secrets.token_hex(32)
    return ContainerSpec(id=cid, name=f"t-{cid[:8]}",
                         image=ImageConfig(cmd=tuple(IMAGE_CMD), env=tuple(IMAGE_ENV)),
                         image_id="", lower_dirs=(str(busybox_rootfs),), command=argv,
                         **{"network_mode": "none", "hostname": "probe", **kw})  # type: ignore[arg-type]


def cgroup_exists(cid: str) -> bool:
    cg = open_cgroup(cid)
    return any(os.path.exists(p) for p in (cg.path(c) for c in ("", "pids", "memory")) if p)


def oneshot(rt: LinuxRuntime, spec: ContainerSpec, tmp_path: Path) -> tuple[int, str, str]:
    out: list[bytes] = []
    cdir = tmp_path / spec.id
    with rt.oneshot(spec, cdir) as box:
        res = box.run(out.append)
        upper = sorted(str(p.relative_to(box.paths.upper)) for p in box.paths.upper.rglob("*"))
        assert not any(st.id == spec.id for st in rt.list_containers())   # in no `ps`
    assert not cdir.exists()
    assert not cgroup_exists(spec.id)
    return res.exit_code, b"".join(out).decode(), " ".join(upper) + "|" + res.error


def test_same_confinement_as_a_shim_started_container(rt: LinuxRuntime, make: Make,
                                                      busybox_rootfs: Path,
                                                      tmp_path: Path) -> None:
    code, text, _ = oneshot(rt, spec_of(busybox_rootfs, "sh", "-c", PROBE), tmp_path)
    shim_spec = make("sh", "-c", PROBE, hostname="probe")
    st, shim_text = run(rt, shim_spec)
    assert code == 0 and st.exit_code == 0
    assert text == shim_text, f"one-shot:\n{text}\nshim:\n{shim_text}"
    assert "Seccomp:\t2" in text and "CapEff:\t00000000a80425fb" in text
    assert "/proc/sys ro," in text and "sys-read-only" in text
    assert "sda-denied" in text and text.rstrip().endswith("done")


def test_output_exit_code_and_changes(rt: LinuxRuntime, busybox_rootfs: Path,
                                      tmp_path: Path) -> None:
    code, text, upper = oneshot(rt, spec_of(
        busybox_rootfs, "sh", "-c", "echo out; echo err >&2; mkdir -p /made; echo x > /made/f;"
        " exit 3"), tmp_path)
    assert code == 3
    assert text.splitlines() == ["out", "err"]
    assert "made made/f" in upper


def test_failed_start_is_an_exit_code_with_the_reason(rt: LinuxRuntime, busybox_rootfs: Path,
                                                      tmp_path: Path) -> None:
    code, _, upper = oneshot(rt, spec_of(busybox_rootfs, "no-such-command"), tmp_path)
    assert code == 127
    assert 'exec: "no-such-command": executable file not found in $PATH' in upper


def test_a_dead_caller_takes_its_container_with_it(busybox_rootfs: Path,
                                                   tmp_path: Path) -> None:
    spec = spec_of(busybox_rootfs, "sh", "-c", "echo up; exec sleep 600")
    (tmp_path / "spec.json").write_text(json.dumps(state.to_json(spec)))
    caller = subprocess.Popen(
        [sys.executable, "-c",
         "import json, sys, os\n"
         "from pathlib import Path\n"
         "from pystack.runtime import state\n"
         "from pystack.runtime.linux_runtime import LinuxRuntime\n"
         "from pystack.runtime.spec import ContainerSpec\n"
         "d = Path(sys.argv[1])\n"
         "spec = state.from_json(ContainerSpec, json.loads((d / 'spec.json').read_text()))\n"
         "with LinuxRuntime().oneshot(spec, d / spec.id) as box:\n"
         "    box.run(lambda b: (os.write(1, b)))\n", str(tmp_path)],
        stdout=subprocess.PIPE)
    try:
        assert caller.stdout is not None
        ready, _, _ = select.select([caller.stdout], [], [], 30)
        assert ready and caller.stdout.readline() == b"up\n"
        cg = open_cgroup(spec.id)
        pids = cg.pids()
        assert pids, "the container runs in its cgroup"
        fds = [os.pidfd_open(p) for p in pids]
    finally:
        caller.send_signal(signal.SIGKILL)
        caller.wait()
    try:
        # The runner sees the caller's end close and kills the container: every process of
        # the cgroup exits (a pidfd turns readable when its process has exited).
        for fd in fds:
            assert select.select([fd], [], [], 30)[0], "the container outlived its caller"
    finally:
        for fd in fds:
            os.close(fd)
    deadline = time.monotonic() + 10
    while cgroup_exists(spec.id) and time.monotonic() < deadline:
        time.sleep(0.01)                # the runner removes the cgroup right after the kill
    assert not cgroup_exists(spec.id)
    shutil.rmtree(tmp_path / spec.id, ignore_errors=True)


def test_a_namespace_that_cannot_be_joined_fails_the_start_with_the_reason(
        rt: LinuxRuntime, make: Make, busybox_rootfs: Path, tmp_path: Path) -> None:
    # Stage-1 joins namespaces while the caller puts it in the cgroup: its own failure is
    # what the start reports, on both paths.
    not_a_netns = str(tmp_path / "not-a-netns")
    Path(not_a_netns).write_text("")
    code, _, why = oneshot(rt, spec_of(busybox_rootfs, "true", network_mode="ns",
                                       netns=not_a_netns), tmp_path)
    assert code == 128 and "setns" in why
    spec = make("true", network_mode="ns", netns=not_a_netns)
    with pytest.raises(ContainerRuntimeError, match="setns"):
        rt.start(spec.id)
