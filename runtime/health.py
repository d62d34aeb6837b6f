"""Healthchecks: Docker's schedule and status rules (Checker, no I/O) and the shim's probe
runner (Prober).

The spec's healthcheck overrides the image's HEALTHCHECK (test ("NONE",) disables it).
Status starts as "starting"; a success makes it "healthy"; `retries` consecutive failures make
it "unhealthy", except that failures inside start_period do not count until the first success.
Probes run every `start_interval` during start_period, every `interval` after.  The last 5
results are kept.  The shim runs each probe inside the container through the exec path.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pystack.runtime import launch
from pystack.runtime.cgroups.base import Cgroup
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.exec import spawn_exec
from pystack.runtime.image.model import HealthConfig
from pystack.runtime.logs import now_rfc3339
from pystack.runtime.spec import ContainerSpec, ExecSpec, Healthcheck, effective_healthcheck

KEEP = 5
MAX_OUTPUT = 4096


def effective(spec: ContainerSpec) -> Healthcheck | None:
    """The healthcheck that applies (spec over image), or None when there is none."""
    return effective_of(spec.healthcheck, spec.image.healthcheck)


def effective_of(hc: Healthcheck | None, img: HealthConfig | None) -> Healthcheck | None:
    """The container's healthcheck over the image's: spec.effective_healthcheck, the rule."""
    return effective_healthcheck(hc, img)


class Checker:
    def __init__(self, hc: Healthcheck) -> None:
        self.hc = hc
        self.timeout = hc.timeout
        self.status = "starting"
        self.streak = 0
        self.log: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.timed_out_hint = False

    @classmethod
    def for_parts(cls, hc: Healthcheck | None, img: HealthConfig | None) -> Checker | None:
        eff = effective_of(hc, img)
        return cls(eff) if eff is not None else None

    def argv(self) -> tuple[str, ...]:
        test = self.hc.test
        if test[0] == "CMD-SHELL":
            return ("/bin/sh", "-c", " ".join(test[1:]))
        if test[0] == "CMD":
            return tuple(test[1:])
        return ("/bin/sh", "-c", " ".join(test))     # a bare string, as compose allows

    def reset(self) -> None:
        self.status = "starting"
        self.streak = 0
        self.started = time.monotonic()

    def stop(self) -> None:
        """The container exited: Docker keeps the last status and log."""

    def in_start_period(self, now: float | None = None) -> bool:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return elapsed < self.hc.start_period

    def next_delay(self, elapsed: float) -> float:
        if elapsed < self.hc.start_period and self.status == "starting":
            return max(0.01, self.hc.start_interval)
        return max(0.01, self.hc.interval)

    def record(self, start: str, exit_code: int, output: str, end: str | None = None,
               now: float | None = None) -> None:
        self.log.append({"start": start, "end": end or now_rfc3339(), "exit_code": exit_code,
                         "output": output[:MAX_OUTPUT]})
        del self.log[:-KEEP]
        if exit_code == 0:
            self.status = "healthy"
            self.streak = 0
            return
        if self.status == "starting" and self.in_start_period(now):
            return
        self.streak += 1
        if self.streak >= max(1, self.hc.retries):
            self.status = "unhealthy"

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "failing_streak": self.streak, "log": list(self.log)}


class Probe:
    """One probe run's output pipe: `fd` is -1 once closed (never reused by number)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf: list[bytes] = []

    def close(self, sel: selectors.BaseSelector) -> None:
        fd, self.fd = self.fd, -1
        if fd < 0:
            return
        try:
            sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)


class Prober:
    """The shim's side of the healthcheck (a mixin of shim.Shim): run the probe through the
    exec path on the Checker's schedule, collect its output, time it out, record the result.
    Probe chains carry the run number (`gen`): a chain of an earlier run stops by itself."""

    health: Checker | None
    pid: int
    gen: int
    started_mono: float
    st: dict[str, Any]
    sel: selectors.BaseSelector
    children: dict[int, Callable[[int], None]]
    cg: Cgroup

    def save(self, **changes: Any) -> None:
        raise NotImplementedError

    def timer(self, delay: float, fn: Callable[[], None]) -> None:
        raise NotImplementedError

    def load_spec(self) -> ContainerSpec:
        raise NotImplementedError

    def layers(self) -> list[Path]:
        raise NotImplementedError

    def run_health(self, gen: int) -> None:
        chk = self.health
        if chk is None or self.pid <= 0 or gen != self.gen:
            return                          # a probe chain of an earlier run: drop it
        if self.st.get("status") != "running":
            self.after_health(gen)          # paused: try again later
            return
        out_r, out_w = os.pipe()
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            xs = ExecSpec(argv=chk.argv())
            child = spawn_exec(self.load_spec, self.pid, self.cg.procs_files(), xs,
                               launch.Stdio(null, out_w, out_w), self.layers())
        except (ContainerRuntimeError, OSError) as e:
            os.close(out_r)
            chk.record(now_rfc3339(), -1, str(e))
            self.after_health(gen)
            return
        finally:
            os.close(out_w)
            os.close(null)
        os.set_blocking(out_r, False)
        begun = now_rfc3339()
        probe = Probe(out_r)
        self.sel.register(out_r, selectors.EVENT_READ, ("health", probe))

        def timeout() -> None:
            if child in self.children:
                os.kill(child, signal.SIGTERM)

        def done(code: int) -> None:
            self.health_read(probe, final=True)
            msg = b"".join(probe.buf)[:4096].decode(errors="replace")
            if code == 137 and chk.timed_out_hint:
                msg = f"Health check exceeded timeout ({chk.timeout}s)"
            chk.record(begun, code, msg)
            self.after_health(gen)

        chk.timed_out_hint = False

        def on_timeout() -> None:
            if child in self.children:          # still running: kill it, and say why
                chk.timed_out_hint = True
                timeout()

        self.children[child] = done
        self.timer(chk.timeout, on_timeout)

    def health_read(self, probe: Probe, final: bool = False) -> None:
        """Read what the probe wrote; at EOF (or, when `final`, at the end of what is there)
        unregister and close its pipe.  A probe whose pipe is closed is never read again: its
        fd number may belong by now to a control connection accepted since (reading that
        would steal the client's request and block the single-threaded shim)."""
        while probe.fd >= 0:
            try:
                data = os.read(probe.fd, 4096)
            except BlockingIOError:
                if not final:
                    return
                data = b""
            except OSError:
                data = b""
            if not data:
                probe.close(self.sel)
                return
            if sum(map(len, probe.buf)) < MAX_OUTPUT:
                probe.buf.append(data)

    def after_health(self, gen: int) -> None:
        chk = self.health
        if chk is None or gen != self.gen:
            return
        self.save()
        if self.pid > 0:
            self.timer(chk.next_delay(time.monotonic() - self.started_mono),
                       lambda: self.run_health(gen))
