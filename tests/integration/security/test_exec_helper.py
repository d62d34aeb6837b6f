"""The exec and healthcheck helpers as a hostile container sees them (issue 9 item 4).

The container holds CAP_SYS_PTRACE, so it can attach to anything it can see in its pid
namespace.  The runtime.md §7.1 probe, extended to the helpers: what runs inside for an exec
or a healthcheck must hold exactly the container's capabilities, seccomp and NNP, carry none
of the caller's environment, and never read a file the container controls (a FIFO planted as
/etc/passwd parked the helper, with every capability and no seccomp, for the container to
inject into).
"""

from __future__ import annotations

import io
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.logs import now_rfc3339
from pystack.runtime.spec import ExecSpec, Healthcheck
from pystack.runtime.state import Paths
from tests.integration.runtime.conftest import Make, make, rt  # noqa: F401

pytestmark = pytest.mark.root

SECRET = "PLANTED_SECRET_c0ffee"
PTRACE = 1 << 19
DEFAULT = 0xA80425FB

# PID 1 of the hostile container: /etc/passwd becomes a FIFO; whoever opens it for reading
# (a helper resolving a user inside) releases `exec 3>`, and is then parked on its read while
# PID 1 writes down what every process it sees holds.
HOSTILE = r"""
rm -f /etc/passwd && mkfifo /etc/passwd && touch /tmp/armed
exec 3>/etc/passwd
for d in /proc/[0-9]*; do
  echo "$(grep -E '^(CapEff|Seccomp|NoNewPrivs):' $d/status | tr -d '\t' | tr '\n' ' ')" \
       "secret=$(tr '\0' '\n' < $d/environ 2>/dev/null | grep -c PLANTED_SECRET)"
done > /tmp/report.part
mv /tmp/report.part /tmp/report
echo 'root:x:0:0:root:/root:/bin/sh' >&3
exec 3>&-
sleep 60
"""

SELF = r"""grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\t'
tr '\0' '\n' < /proc/self/environ | sed 's/^/env /'"""


def _fields(text: str) -> tuple[dict[str, str], set[str]]:
    vals, env = {}, set()
    for line in text.splitlines():
        if line.startswith("env "):
            env.add(line[4:].partition("=")[0])
        elif ":" in line:
            k, _, v = line.partition(":")
            vals[k] = v.strip()
    return vals, env


def _wait_file(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in the caller's (root's shell's) environment, set before any shim starts."""
    monkeypatch.setenv(SECRET, "hunter2")
    return SECRET


def test_exec_helper_never_reads_a_planted_fifo_and_is_confined(
        planted: str, rt: LinuxRuntime, make: Make) -> None:  # noqa: F811
    spec = make("sh", "-c", HOSTILE, cap_add=("SYS_PTRACE",))
    rt.start(spec.id)
    upper = Paths(dir=rt.containers / spec.id, id=spec.id).upper
    _wait_file(upper / "tmp" / "armed")
    out = io.BytesIO()
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(
        rt.exec(spec.id, ExecSpec(argv=("sh", "-c", SELF)), stdout=out)), daemon=True)
    t.start()
    t.join(20)
    # On the old code the helper opened the FIFO: PID 1 saw it with every capability and
    # no seccomp (and the caller's environment), or, without PID 1's help, it hung forever.
    report = upper / "tmp" / "report"
    seen = report.read_text() if report.exists() else ""
    assert not seen, f"the helper read the container's /etc/passwd; it saw:\n{seen}"
    assert result == [0], "exec did not finish"
    vals, env = _fields(out.getvalue().decode())
    assert int(vals["CapEff"], 16) == int(vals["CapBnd"], 16) == DEFAULT | PTRACE
    assert vals["Seccomp"] == "2" and vals["NoNewPrivs"] == "0"
    assert planted not in env and env <= {"PATH", "HOSTNAME", "HOME", "TERM"} | {
        e.partition("=")[0] for e in spec.image.env}
    # Nor does any process of ours carry it: the shim (and the zygote) got a scrubbed one.
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"pystack-shim" not in cmd and b"--zygote" not in cmd:
                continue
            assert planted.encode() not in Path(f"/proc/{pid}/environ").read_bytes(), cmd
        except FileNotFoundError:
            continue


def test_exec_as_user_and_nnp_are_the_containers(rt: LinuxRuntime, make: Make) -> None:  # noqa: F811
    spec = make("sleep", "60", no_new_privileges=True, cap_drop=("NET_RAW",))
    rt.start(spec.id)
    for user, eff in ((None, DEFAULT & ~(1 << 13)), ("app", 0)):
        out = io.BytesIO()
        assert rt.exec(spec.id, ExecSpec(argv=("sh", "-c", SELF + "; id -u"), user=user),
                       stdout=out) == 0
        vals, _ = _fields(out.getvalue().decode())
        assert int(vals["CapEff"], 16) == eff, user
        assert int(vals["CapBnd"], 16) == DEFAULT & ~(1 << 13)
        assert vals["Seccomp"] == "2" and vals["NoNewPrivs"] == "1"
        assert out.getvalue().decode().split()[-1] == ("1000" if user else "0")


def test_healthcheck_helper_is_confined_and_ignores_a_fifo(
        planted: str, rt: LinuxRuntime, make: Make) -> None:  # noqa: F811
    spec = make("sh", "-c", "rm /etc/passwd; mkfifo /etc/passwd; exec sleep 60",
                cap_add=("SYS_PTRACE",),
                healthcheck=Healthcheck(test=("CMD-SHELL", SELF), interval=0.2, timeout=5,
                                        retries=1, start_period=0, start_interval=0.2))
    rt.start(spec.id)
    fifo = Paths(dir=rt.containers / spec.id, id=spec.id).upper / "etc" / "passwd"
    deadline = time.monotonic() + 20
    while not (fifo.exists() and stat.S_ISFIFO(fifo.lstat().st_mode)):
        assert time.monotonic() < deadline, "the container never planted its FIFO"
        time.sleep(0.02)
    armed = now_rfc3339()
    while True:                                   # the first probe begun after the FIFO
        h = rt.state(spec.id).health
        later = [r for r in (h.log if h else []) if r.start > armed]
        if later:
            break
        assert time.monotonic() < deadline, f"no healthcheck ran: {h}"
        time.sleep(0.05)
    last = later[0]
    assert last.exit_code == 0, last.output          # not parked on the FIFO until timeout
    vals, env = _fields(last.output)
    assert int(vals["CapEff"], 16) == DEFAULT | PTRACE and vals["Seccomp"] == "2"
    assert planted not in env


def test_tty_exec_as_a_user_after_the_drop(rt: LinuxRuntime, make: Make) -> None:  # noqa: F811
    # The terminal is made after the helper dropped to the user: it is the user's own.
    spec = make("sleep", "60")
    rt.start(spec.id)
    out = io.BytesIO()
    code = rt.exec(spec.id, ExecSpec(argv=("sh", "-c", "tty; id -u; stat -c %u $(tty)"),
                                     user="app", tty=True), stdout=out)
    lines = out.getvalue().decode().split()
    assert code == 0 and lines[0].startswith("/dev/pts/") and lines[1:] == ["1000", "1000"]
