"""Run containers: output and exit codes, stop/kill/pause/delete, start errors, restart."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.runtime import state
from pystack.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import LogConfig, Resources, RestartPolicy, Ulimit

from .conftest import Make, run

pytestmark = pytest.mark.root


def test_echo_hi_logs_and_exit_code(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "echo hi; echo oops >&2; exit 3")
    st, _ = run(rt, spec)
    assert (st.status, st.exit_code, st.oom_killed) == ("exited", 3, False)
    entries = list(rt.logs(spec.id))
    assert [(e.stream, e.line) for e in entries] == [("stdout", "hi\n"), ("stderr", "oops\n")]
    assert st.started_at and st.finished_at >= st.started_at
    raw = (Path(os.environ["PYSTACK_ROOT"]) / "containers" / spec.id /
           f"{spec.id}-json.log").read_text().splitlines()[0]
    assert raw.startswith('{"log":"hi\\n","stream":"stdout","time":"20')


def test_command_not_found_is_127(rt: LinuxRuntime, make: Make) -> None:
    spec = make("nosuchcmd")
    with pytest.raises(ContainerRuntimeError,
                       match='exec: "nosuchcmd": executable file not found in \\$PATH'):
        rt.start(spec.id)
    st = rt.state(spec.id)
    assert (st.status, st.exit_code) == ("exited", 127)


def test_bad_input_is_refused_at_create(rt: LinuxRuntime, make: Make) -> None:
    with pytest.raises(ContainerRuntimeError, match="unable to find user nobody2"):
        make("true", user="nobody2")
    with pytest.raises(ContainerRuntimeError, match="needs to be an absolute path"):
        make("true", working_dir="rel")
    with pytest.raises(ContainerRuntimeError, match="not in a separate kernel namespace"):
        make("true", sysctls={"kernel.panic": "1"})
    with pytest.raises(ContainerRuntimeError, match="Minimum memory limit allowed is 6MB"):
        make("true", resources=Resources(memory=1000))
    with pytest.raises(ContainerRuntimeError, match="unknown capability"):
        make("true", cap_add=("NOPE",))
    with pytest.raises(ContainerRuntimeError, match="invalid ulimit name: bogus"):
        make("true", ulimits=(Ulimit("bogus", 1, 1),))
    assert rt.list_containers() == []
    with pytest.raises(ContainerNotFoundError):
        rt.start("f" * 64)


def test_stop_grace_then_kill_and_trap(rt: LinuxRuntime, make: Make) -> None:
    stubborn = make("sleep", "100")             # PID 1 without a handler ignores SIGTERM
    rt.start(stubborn.id)
    t = time.monotonic()
    st = rt.stop(stubborn.id, timeout=0.5)
    took = time.monotonic() - t
    assert (st.status, st.exit_code) == ("exited", 137)
    assert 0.45 < took < 5
    polite = make("sh", "-c", "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.05; done")
    rt.start(polite.id)
    _until("the trap to be set", lambda: [e.line for e in rt.logs(polite.id)] == ["trapped\n"])
    t = time.monotonic()
    st = rt.stop(polite.id, timeout=10)
    assert (st.status, st.exit_code) == ("exited", 0)
    assert time.monotonic() - t < 3


def _until(what: str, cond: Callable[[], bool], timeout: float = 20) -> None:
    """Poll `cond` until it holds; fail with `what` after `timeout` (generous: CI is loaded)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_init_forwards_signals(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "100", init=True)
    rt.start(spec.id)
    # tini's child shows tini's own argv between fork and exec: wait for the exec.
    _until("tini's child to exec sleep",
           lambda: [p.cmd for p in rt.processes(spec.id)][1:] == ["sleep 100"])
    procs = rt.processes(spec.id)
    assert [p.cmd for p in procs] == ["/sbin/docker-init -- sleep 100", "sleep 100"]
    assert procs[1].ppid == procs[0].pid
    st = rt.stop(spec.id, timeout=10)
    assert st.exit_code == 143                  # tini passed SIGTERM to sleep


def test_kill_signal_exit_code_pause_and_delete(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "100", init=True)     # PID 1 must not ignore SIGUSR1
    st = rt.start(spec.id)
    assert st.status == "running" and st.pid > 0
    # A namespace's PID 1 drops a signal it has no handler for: until tini has blocked its
    # signals (it has once its child exists), a SIGUSR1 would be lost, as with Docker.
    _until("tini's child", lambda: len(rt.processes(spec.id)) == 2)
    rt.pause(spec.id)
    assert rt.state(spec.id).status == "paused"
    from pystack.runtime.spec import ExecSpec
    with pytest.raises(ContainerRuntimeError, match="is paused") as exc:
        rt.exec(spec.id, ExecSpec(argv=("true",)))
    assert exc.value.hint == "unpause the container before exec"
    stat = Path(f"/proc/{st.pid}/stat").read_text()
    assert stat[stat.rfind(")") + 2] in "DS"      # frozen tasks sleep in the freezer
    rt.unpause(spec.id)
    assert rt.state(spec.id).status == "running"
    with pytest.raises(ContainerRuntimeError, match="running"):
        rt.delete(spec.id)
    rt.kill(spec.id, "SIGUSR1")
    st = rt.wait(spec.id, timeout=10)
    assert st.exit_code == 128 + signal.SIGUSR1
    rt.delete(spec.id)
    rt.delete(spec.id, force=True)              # idempotent
    with pytest.raises(ContainerNotFoundError):
        rt.state(spec.id)


def test_delete_after_the_shim_was_killed(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sleep", "100")
    st = rt.start(spec.id)
    import json
    raw = json.loads((Path(os.environ["PYSTACK_ROOT"]) / "containers" / spec.id /
                      "state.json").read_text())
    assert Path(f"/proc/{raw['shim_pid']}/comm").read_text() == "pystack-shim\n"
    cmdline = Path(f"/proc/{raw['shim_pid']}/cmdline").read_bytes().rstrip(b"\0")
    assert cmdline == f"pystack-shim {os.environ['PYSTACK_ROOT']}/containers/{spec.id}".encode()
    os.kill(raw["shim_pid"], signal.SIGKILL)
    _until("the shim to die", lambda: not state.pid_alive(raw["shim_pid"], raw["shim_start"]))
    assert rt.state(spec.id).status == "running"    # the container outlives its shim
    rt.delete(spec.id, force=True)
    assert not os.path.exists(f"/proc/{st.pid}/stat") or \
        "Z" in Path(f"/proc/{st.pid}/stat").read_text().split(")")[1][:3]


def test_restart_on_failure_with_retries(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "echo run; exit 2",
                restart=RestartPolicy(name="on-failure", max_retries=2))
    rt.start(spec.id)
    seen: set[str] = set()

    def finished() -> bool:
        st = rt.state(spec.id)
        seen.add(st.status)
        assert st.status != "exited" or st.restart_count == 2, st   # never "exited" between runs
        return st.status == "exited"
    _until("the last retry to exit", finished)
    st = rt.wait(spec.id, timeout=20)
    assert (st.status, st.exit_code, st.restart_count) == ("exited", 2, 2)
    assert [e.line for e in rt.logs(spec.id)] == ["run\n"] * 3
    assert seen <= {"running", "restarting", "exited"}


def test_restart_always_until_stopped(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "exit 0", restart=RestartPolicy(name="always"))
    t = time.monotonic()
    rt.start(spec.id)
    _until("two restarts", lambda: rt.state(spec.id).restart_count >= 2)
    assert time.monotonic() - t >= 0.1 + 0.2    # Docker's backoff: 100 ms, then 200 ms
    assert rt.state(spec.id).status in ("running", "restarting")
    st = rt.stop(spec.id, timeout=1)
    assert st.status == "exited"
    count = st.restart_count
    st = rt.wait(spec.id, timeout=20)           # returns once the shim is gone for good
    assert (st.status, st.restart_count) == ("exited", count)


def test_log_rotation(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done",
                log=LogConfig(max_size=2000, max_file=3))
    run(rt, spec)
    d = Path(os.environ["PYSTACK_ROOT"]) / "containers" / spec.id
    files = sorted(x.name for x in d.iterdir() if "json.log" in x.name)
    assert files == [f"{spec.id}-json.log", f"{spec.id}-json.log.1", f"{spec.id}-json.log.2"]
    assert all((d / f).stat().st_size <= 2000 for f in files)
    lines = [e.line for e in rt.logs(spec.id)]
    assert lines[-1] == "line199\n"
    assert lines == [f"line{i}\n" for i in range(200 - len(lines), 200)]
    assert [e.line for e in rt.logs(spec.id, tail=2)] == ["line198\n", "line199\n"]


def test_follow_logs(rt: LinuxRuntime, make: Make) -> None:
    spec = make("sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done")
    rt.start(spec.id)
    got = [e.line for e in rt.logs(spec.id, follow=True)]
    assert got == ["1\n", "2\n", "3\n"]


def test_killing_the_cli_never_kills_the_container(rt: LinuxRuntime, make: Make) -> None:
    import subprocess
    import sys

    spec = make("sleep", "100")
    cli = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pystack.runtime.linux_runtime import LinuxRuntime;"
         "LinuxRuntime().start(sys.argv[1]); print('up', flush=True); time.sleep(60)", spec.id],
        stdout=subprocess.PIPE, start_new_session=True)
    assert cli.stdout is not None and cli.stdout.readline() == b"up\n"
    os.killpg(cli.pid, signal.SIGKILL)          # the CLI and its whole process group
    cli.wait()
    time.sleep(0.2)
    st = rt.state(spec.id)
    assert st.status == "running" and Path(f"/proc/{st.pid}").exists()
    assert rt.stop(spec.id, timeout=0).status == "exited"


def test_exec_detach(rt: LinuxRuntime, make: Make) -> None:
    import io

    from pystack.runtime.spec import ExecSpec

    spec = make("sleep", "100")
    rt.start(spec.id)
    # The detached command cannot end before /tmp/go exists: a reply means it did not wait.
    assert rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.02; "
                                                       "done; touch /tmp/done"),
                                     detach=True)) == 0

    def exists(path: str) -> bool:
        return rt.exec(spec.id, ExecSpec(argv=("ls", path)), stdout=io.BytesIO(),
                       stderr=io.BytesIO()) == 0
    assert not exists("/tmp/done")
    assert rt.exec(spec.id, ExecSpec(argv=("touch", "/tmp/go"))) == 0
    _until("the detached exec to finish", lambda: exists("/tmp/done"))


def test_restart_right_after_stop_is_not_killed_by_the_old_shim(rt: LinuxRuntime,
                                                                make: Make) -> None:
    spec = make("sleep", "100")
    for _ in range(5):
        rt.start(spec.id)
        rt.stop(spec.id, timeout=0)
    st = rt.start(spec.id)
    time.sleep(0.3)
    assert rt.state(spec.id).status == "running" and Path(f"/proc/{st.pid}").exists()


def test_exec_after_the_shim_was_killed(rt: LinuxRuntime, make: Make) -> None:
    import io
    import json

    from pystack.runtime.spec import ExecSpec

    spec = make("sleep", "100", hostname="orphan")
    st = rt.start(spec.id)
    path = Path(os.environ["PYSTACK_ROOT"]) / "containers" / spec.id / "state.json"
    raw = json.loads(path.read_text())
    os.kill(raw["shim_pid"], signal.SIGKILL)
    _until("the shim to die", lambda: not state.pid_alive(raw["shim_pid"], raw["shim_start"]))
    out = io.BytesIO()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "hostname; cat /proc/1/cmdline; "
                                           "grep -c . /proc/self/cgroup >/dev/null; exit 3")),
                   stdout=out)
    assert (code, out.getvalue()) == (3, b"orphan\nsleep\x00100\x00")
    assert rt.exec(spec.id, ExecSpec(argv=("touch", "/tmp/x"), detach=True)) == 0
    _until("the detached exec", lambda: rt.exec(spec.id, ExecSpec(argv=("ls", "/tmp/x")),
                                                stdout=io.BytesIO()) == 0)
    # A pid that is no longer the container's PID 1 (another start time) is never entered.
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid_start": 1}))
    with pytest.raises(ContainerRuntimeError, match="not running"):
        rt.exec(spec.id, ExecSpec(argv=("true",)))
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid_start": raw["pid_start"]}))
    os.kill(st.pid, signal.SIGKILL)
    _until("PID 1 to die", lambda: not state.pid_alive(st.pid, raw["pid_start"]))
    with pytest.raises(ContainerRuntimeError, match="not running"):
        rt.exec(spec.id, ExecSpec(argv=("true",)))
    rt.delete(spec.id, force=True)
