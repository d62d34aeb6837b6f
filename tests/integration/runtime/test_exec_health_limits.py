"""exec, healthcheck transitions, and resource limits that bite (through containers)."""

from __future__ import annotations

import io
import os
import time

import pytest

from pystack.runtime.cgroups import open_cgroup
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import ExecSpec, Healthcheck, Resources

from .conftest import Make, run

pytestmark = pytest.mark.root


def test_exec_exit_code_env_user_workdir_and_stdin(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "30", env={"A": "1"}, hostname="box")
    rt.start(spec.id)
    out, err = io.BytesIO(), io.BytesIO()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "echo $A$B $(hostname) $(pwd); "
                                           "id -u; echo e >&2; exit 4"),
                                     env={"B": "2"}, user="app", working_dir="/tmp"),
                   stdout=out, stderr=err)
    assert code == 4
    assert out.getvalue() == b"12 box /tmp\n1000\n"
    assert err.getvalue() == b"e\n"
    out = io.BytesIO()
    assert rt.exec(spec.id, ExecSpec(argv=("cat",)), stdin=io.BytesIO(b"piped\n"),
                   stdout=out) == 0
    assert out.getvalue() == b"piped\n"
    err = io.BytesIO()
    assert rt.exec(spec.id, ExecSpec(argv=("nosuch",)), stderr=err) == 127
    assert b"executable file not found" in err.getvalue()
    out = io.BytesIO()
    rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "grep -E 'Seccomp:|CapEff' /proc/self/status; "
                                    "cat /proc/1/cmdline")), stdout=out)
    text = out.getvalue().decode()
    assert "Seccomp:\t2" in text and "a80425fb" in text and text.endswith("sleep\x0030\x00")
    rt.stop(spec.id, timeout=0)
    with pytest.raises(ContainerRuntimeError, match="not running"):
        rt.exec(spec.id, ExecSpec(argv=("true",)))


def test_exec_tty(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "30")
    rt.start(spec.id)
    out = io.BytesIO()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "tty; [ -t 0 ] && echo tty; exit 5"),
                                     tty=True), stdout=out)
    assert code == 5
    assert out.getvalue() == b"/dev/pts/0\r\ntty\r\n"   # the line discipline adds \r
    out = io.BytesIO()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "read x; echo got $x"), tty=True),
                   stdin=io.BytesIO(b"hello\n"), stdout=out)
    assert code == 0 and out.getvalue().endswith(b"got hello\r\n")
    t = time.monotonic()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "sleep 20 & echo bg; exit 3"), tty=True),
                   stdout=io.BytesIO())
    assert code == 3 and time.monotonic() - t < 5     # a background job does not hold it


def test_tty_container(rt: LinuxRuntime, make: Make) -> None:
    _, out = run(rt, make("sh", "-c", "tty; [ -t 2 ] && echo tty; ls /dev/console", tty=True))
    assert out == "/dev/pts/0\r\ntty\r\n/dev/console\r\n"


def _wait_health(rt: LinuxRuntime, cid: str, want: str, timeout: float = 20,
                 fails: int = 0) -> None:
    """Until the health status is `want` (or, for "starting_with_failures", until `fails`
    failed probes are in the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = rt.state(cid).health
        if h is not None and (h.status == want or (
                fails and sum(r.exit_code != 0 for r in h.log) >= fails)):
            return
        time.sleep(0.05)
    raise AssertionError(f"health never became {want}: {rt.state(cid).health}")


def test_healthcheck_transitions(rt: LinuxRuntime, make: Make) -> None:
    # The test drives the probe's outcome (exec touch/rm): no timing window to hit under load.
    # Failures inside start_period do not count: it stays "starting" until the first success.
    spec = make("sleep", "60",
                healthcheck=Healthcheck(test=("CMD-SHELL", "test -f /tmp/ok && echo fine"),
                                        interval=0.1, timeout=5, retries=2, start_period=60,
                                        start_interval=0.1))
    rt.start(spec.id)
    h = rt.state(spec.id).health
    assert h is not None and h.status == "starting"
    _wait_health(rt, spec.id, "starting_with_failures", fails=2)
    h = rt.state(spec.id).health
    assert h is not None and h.status == "starting" and h.failing_streak == 0
    assert rt.exec(spec.id, ExecSpec(argv=("touch", "/tmp/ok"))) == 0
    _wait_health(rt, spec.id, "healthy")
    h = rt.state(spec.id).health
    assert h is not None and h.log[-1].exit_code == 0 and h.log[-1].output == "fine\n"
    assert rt.exec(spec.id, ExecSpec(argv=("rm", "/tmp/ok"))) == 0
    _wait_health(rt, spec.id, "unhealthy")
    h = rt.state(spec.id).health
    assert h is not None and h.failing_streak >= 2 and len(h.log) <= 5


def test_healthcheck_timeout_and_none(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "30", healthcheck=Healthcheck(test=("CMD", "sleep", "5"), interval=0.1,
                                                      timeout=0.2, retries=1))
    rt.start(spec.id)
    _wait_health(rt, spec.id, "unhealthy")
    h = rt.state(spec.id).health
    assert h is not None and "exceeded timeout" in h.log[-1].output
    off = make("true", healthcheck=Healthcheck(test=("NONE",)))
    st, _ = run(rt, off)
    assert st.health is None


def test_oom_kill_is_reported(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "x=a; while :; do x=$x$x; done",
                resources=Resources(memory=32 << 20, memory_swap=32 << 20))
    st, _ = run(rt, spec, timeout=30)
    assert st.oom_killed and st.exit_code == 137


def test_pids_limit_stops_a_fork_bomb(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done 2>&1; "
                "echo started $(ls -d /proc/[0-9]* | wc -l)",
                resources=Resources(pids_limit=10))
    rt.start(spec.id)
    deadline = time.monotonic() + 20
    while rt.state(spec.id).status == "running":    # sampled all along the fork loop
        assert len(rt.processes(spec.id)) <= 10
        assert time.monotonic() < deadline, "the fork loop never finished"
        time.sleep(0.05)
    st = rt.wait(spec.id, timeout=15)
    out = "".join(e.line for e in rt.logs(spec.id))
    assert "can't fork" in out or "Resource temporarily unavailable" in out, out
    assert st.status == "exited"


def test_cpu_quota_shows_in_the_cgroup(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "30", resources=Resources(cpus=0.5, memory=64 << 20))
    rt.start(spec.id)
    cg = open_cgroup(spec.id)
    cpu = cg.path("cpu")
    assert cpu is not None
    if os.path.exists(f"{cpu}/cpu.max"):                  # v2: "quota period"
        with open(f"{cpu}/cpu.max") as f:
            assert f.read().split() == ["50000", "100000"]
    else:
        with open(f"{cpu}/cpu.cfs_quota_us") as f:
            assert int(f.read()) == 50000
    stats = rt.stats(spec.id)
    assert stats.memory_limit == 64 << 20 and stats.pids == 1
    out = io.BytesIO()
    script = ("cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us; "
              "echo 1 > pids/pids.max || echo ro")
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", script)), stdout=out,
                   stderr=io.BytesIO())
    if os.path.isdir("/sys/fs/cgroup/memory"):          # v1 layout, as on the dev machine
        assert (code, out.getvalue()) == (0, f"{64 << 20}\n50000\nro\n".encode())
