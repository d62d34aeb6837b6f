"""Healthcheck bookkeeping for the shim: Docker's schedule and status rules, no I/O.

The spec's healthcheck overrides the image's HEALTHCHECK (test ("NONE",) disables it).
Status starts as "starting"; a success makes it "healthy"; `retries` consecutive failures make
it "unhealthy", except that failures inside start_period do not count until the first success.
Probes run every `start_interval` during start_period, every `interval` after.  The last 5
results are kept.  The shim runs the probe itself (through the exec path) and calls `record`.
"""

from __future__ import annotations

import time
from typing import Any

from pystack.runtime.image.model import HealthConfig
from pystack.runtime.spec import ContainerSpec, Healthcheck

KEEP = 5
MAX_OUTPUT = 4096


def effective(spec: ContainerSpec) -> Healthcheck | None:
    """The healthcheck that applies (spec over image), or None when there is none."""
    return effective_of(spec.healthcheck, spec.image.healthcheck)


def effective_of(hc: Healthcheck | None, img: HealthConfig | None) -> Healthcheck | None:
    if hc is None and img is not None and img.test:
        d = Healthcheck(test=("NONE",))
        hc = Healthcheck(
            test=img.test,
            interval=img.interval if img.interval else d.interval,
            timeout=img.timeout if img.timeout else d.timeout,
            retries=img.retries if img.retries else d.retries,
            start_period=img.start_period if img.start_period else d.start_period,
            start_interval=img.start_interval if img.start_interval else d.start_interval)
    if hc is None or not hc.test or hc.test[0] == "NONE":
        return None
    return hc


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
    def for_spec(cls, spec: ContainerSpec) -> Checker | None:
        hc = effective(spec)
        return cls(hc) if hc is not None else None

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
        from pystack.runtime.logs import now_rfc3339

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
