"""FakeRuntime: an in-memory Runtime for the orchestrator's unit tests (no root, no kernel).

It keeps every container's spec and state in dicts and moves them through the same status
machine as the Linux runtime (created -> running <-> paused -> exited; delete), raising the same
errors.  Tests steer it with a few knobs:

- `behaviour[name_or_id] = FakeBehaviour(...)`: exit code on start (a one-shot job), health
  status reported after start, a failure to inject on create/start, log lines to emit;
- `exit(container_id, code)` / `set_health(container_id, status)` / `lose_shim(container_id)`
  to change a running one;
- `calls`: every protocol call in order, as (method, container_id) pairs, to assert ordering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO

from pystack.runtime.api import (
    ContainerEvent,
    ContainerState,
    Health,
    HealthStatus,
    LogEntry,
    ProcessInfo,
    Stats,
)
from pystack.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from pystack.runtime.spec import ContainerSpec, ExecSpec


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class FakeBehaviour:
    """How a fake container behaves; keyed by container name or id in FakeRuntime.behaviour."""

    exit_code: int | None = None        # exit at once on start with this code (None = keep running)
    health: HealthStatus | None = None  # health reported once started (None = no healthcheck)
    fail_create: str | None = None      # raise ContainerRuntimeError(message) on create
    fail_start: str | None = None       # raise ContainerRuntimeError(message) on start
    logs: tuple[str, ...] = ()          # stdout lines written on each start
    exec_exit_code: int = 0             # what exec returns
    exec_output: bytes = b""            # what exec writes to stdout


@dataclass
class _Box:
    spec: ContainerSpec
    state: ContainerState
    logs: list[LogEntry] = field(default_factory=list)
    stopped_by_user: bool = False


class FakeRuntime:
    """An in-memory implementation of pystack.runtime.api.Runtime.  Thread-safe."""

    def __init__(self) -> None:
        self._boxes: dict[str, _Box] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._next_pid = 1000
        self.behaviour: dict[str, FakeBehaviour] = {}
        self.calls: list[tuple[str, str]] = []
        self.journal: list[ContainerEvent] = []

    # -- helpers -------------------------------------------------------------------------------
    def _box(self, container_id: str) -> _Box:
        box = self._boxes.get(container_id)
        if box is None:
            # Docker accepts a unique id prefix or a name; so do we.
            for b in self._boxes.values():
                if b.spec.name == container_id or (
                        len(container_id) >= 4 and b.spec.id.startswith(container_id)):
                    return b
            raise ContainerNotFoundError(f"no such container: {container_id}")
        return box

    def _behaviour(self, spec: ContainerSpec) -> FakeBehaviour:
        return self.behaviour.get(spec.id) or self.behaviour.get(spec.name) or FakeBehaviour()

    def _event(self, box: _Box, action: str, **attributes: object) -> None:
        self.journal.append(ContainerEvent(
            time_ns=time.time_ns(), id=box.spec.id, action=action, name=box.spec.name,
            labels=dict(box.spec.labels), attributes={k: str(v) for k, v in attributes.items()}))

    def _set(self, box: _Box, **changes: object) -> ContainerState:
        old = box.state.status
        box.state = replace(box.state, **changes)  # type: ignore[arg-type]
        new = box.state.status
        if new != old:          # the events the shim journals for the same changes
            if new == "running":
                self._event(box, "unpause" if old == "paused" else "start")
            elif new == "paused":
                self._event(box, "pause")
            elif new == "exited" and old in ("running", "paused"):
                self._event(box, "die", exitCode=box.state.exit_code)
        self._changed.notify_all()
        return box.state

    def _record(self, method: str, container_id: str) -> None:
        self.calls.append((method, container_id))

    # -- test knobs ----------------------------------------------------------------------------
    def exit(self, container_id: str, code: int, oom_killed: bool = False) -> None:
        """Make a running container exit with `code` (as if its PID 1 ended)."""
        with self._lock:
            box = self._box(container_id)
            if box.state.status in ("running", "paused"):
                self._set(box, status="exited", pid=0, exit_code=code, oom_killed=oom_killed,
                          finished_at=_now())

    def lose_shim(self, container_id: str) -> None:
        """Make a running container unsupervised (as if its shim had been killed)."""
        with self._lock:
            self._set(self._box(container_id), supervised=False)

    def set_health(self, container_id: str, status: HealthStatus) -> None:
        with self._lock:
            box = self._box(container_id)
            streak = 0 if status != "unhealthy" else 3
            self._set(box, health=Health(status=status, failing_streak=streak))

    # -- Runtime protocol ----------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> ContainerState:
        with self._lock:
            self._record("create", spec.id)
            b = self._behaviour(spec)
            if b.fail_create:
                raise ContainerRuntimeError(b.fail_create)
            if spec.id in self._boxes:
                raise ContainerRuntimeError(f"container {spec.id[:12]} already exists")
            if any(x.spec.name == spec.name for x in self._boxes.values()):
                raise ContainerRuntimeError(f'the container name "{spec.name}" is already in use')
            state = ContainerState(id=spec.id, name=spec.name, status="created",
                                   created_at=_now(), labels=dict(spec.labels),
                                   image_id=spec.image_id, netns=spec.netns)
            self._boxes[spec.id] = _Box(spec=spec, state=state)
            self._event(self._boxes[spec.id], "create")
            return state

    def start(self, container_id: str) -> ContainerState:
        with self._lock:
            box = self._box(container_id)
            self._record("start", box.spec.id)
            b = self._behaviour(box.spec)
            if b.fail_start:
                raise ContainerRuntimeError(b.fail_start)
            if box.state.status in ("running", "paused"):
                return box.state
            self._next_pid += 1
            box.stopped_by_user = False
            restarts = box.state.restart_count + (1 if box.state.started_at else 0)
            health = Health(status=b.health) if b.health else None
            for line in b.logs:
                box.logs.append(LogEntry(stream="stdout", time=_now(), line=line + "\n"))
            self._set(box, status="running", pid=self._next_pid, exit_code=None,
                      started_at=_now(), finished_at="", oom_killed=False, health=health,
                      supervised=True,
                      restart_count=restarts if box.state.started_at else 0)
            if b.exit_code is not None:
                self._set(box, status="exited", pid=0, exit_code=b.exit_code, finished_at=_now())
            return box.state

    def stop(self, container_id: str, timeout: float | None = None) -> ContainerState:
        with self._lock:
            box = self._box(container_id)
            self._record("stop", box.spec.id)
            box.stopped_by_user = True
            if box.state.status in ("running", "paused", "restarting"):
                self._set(box, status="exited", pid=0, exit_code=143, finished_at=_now())
            return box.state

    def kill(self, container_id: str, signal: int | str = "SIGKILL") -> None:
        with self._lock:
            box = self._box(container_id)
            self._record("kill", box.spec.id)
            if box.state.status not in ("running", "paused"):
                raise ContainerRuntimeError(f"container {box.spec.name} is not running")
            self._set(box, status="exited", pid=0, exit_code=137, finished_at=_now())

    def pause(self, container_id: str) -> None:
        with self._lock:
            box = self._box(container_id)
            self._record("pause", box.spec.id)
            if box.state.status not in ("running", "paused"):   # as the shim: paused again is ok
                raise ContainerRuntimeError(f"container {box.spec.name} is not running")
            self._set(box, status="paused")

    def unpause(self, container_id: str) -> None:
        with self._lock:
            box = self._box(container_id)
            self._record("unpause", box.spec.id)
            if box.state.status not in ("running", "paused"):
                raise ContainerRuntimeError(f"container {box.spec.name} is not running")
            self._set(box, status="running")

    def delete(self, container_id: str, force: bool = False) -> None:
        with self._lock:
            try:
                box = self._box(container_id)
            except ContainerNotFoundError:
                if force:
                    return
                raise
            self._record("delete", box.spec.id)
            if box.state.status in ("running", "paused") and not force:
                raise ContainerRuntimeError(
                    f"cannot delete running container {box.spec.name}",
                    hint="stop it first or use force")
            del self._boxes[box.spec.id]
            self._event(box, "destroy")
            self._changed.notify_all()

    def state(self, container_id: str) -> ContainerState:
        with self._lock:
            return self._box(container_id).state

    def prewarm(self) -> None:
        pass

    def namespace_path(self, container_id: str, kind: str) -> str:
        return f"/proc/{self.state(container_id).pid}/ns/{kind}"

    def spec(self, container_id: str) -> ContainerSpec:
        with self._lock:
            return self._box(container_id).spec

    def list_containers(self) -> list[ContainerState]:
        with self._lock:
            return [b.state for b in self._boxes.values()]

    def wait(self, container_id: str, timeout: float | None = None) -> ContainerState:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            box = self._box(container_id)
            while box.state.status in ("running", "paused", "restarting"):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise ContainerRuntimeError(
                        f"timed out waiting for container {box.spec.name}")
                self._changed.wait(left)
            return box.state

    def exec(self, container_id: str, spec: ExecSpec, stdin: IO[bytes] | None = None,
             stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> int:
        with self._lock:
            box = self._box(container_id)
            self._record("exec", box.spec.id)
            if box.state.status == "paused":
                raise ContainerRuntimeError(f"container {box.spec.name} is paused",
                                            hint="unpause the container before exec")
            if box.state.status != "running":
                raise ContainerRuntimeError(f"container {box.spec.name} is not running")
            b = self._behaviour(box.spec)
        if stdout is not None and b.exec_output:
            stdout.write(b.exec_output)
        return b.exec_exit_code

    def attach(self, container_id: str, stdin: IO[bytes] | None = None,
               stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None,
               detach_keys: str | None = None) -> bool:
        """The output so far, then until it exits (the fake's containers run until stopped
        or their behaviour's exit)."""
        with self._lock:
            box = self._box(container_id)
            self._record("attach", box.spec.id)
            if box.state.status not in ("running", "paused"):
                raise ContainerRuntimeError(f"container {box.spec.name} is not running")
        self.wait(container_id)
        if stdout is not None:
            for entry in self.logs(container_id):
                (stderr if entry.stream == "stderr" and stderr is not None else stdout).write(
                    entry.line.encode())
        return False

    def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
             since: str | None = None, until: str | None = None) -> Iterator[LogEntry]:
        with self._lock:
            entries = list(self._box(container_id).logs)
        entries = [e for e in entries if (since is None or e.time >= since)
                   and (until is None or e.time <= until)]
        if tail is not None:
            entries = entries[-tail:] if tail > 0 else []
        return iter(entries)

    def add_log(self, container_id: str, line: str, stream: str = "stdout") -> None:
        """Append one log line (a test knob)."""
        with self._lock:
            box = self._box(container_id)
            if stream == "stderr":
                box.logs.append(LogEntry(stream="stderr", time=_now(), line=line))
            else:
                box.logs.append(LogEntry(stream="stdout", time=_now(), line=line))

    def stats(self, container_id: str) -> Stats:
        with self._lock:
            box = self._box(container_id)
            running = box.state.status in ("running", "paused")
            limit = box.spec.resources.memory or 0
            return Stats(memory_usage=1 << 20 if running else 0, memory_limit=limit,
                         pids=1 if running else 0)

    def events(self, since: float | None = None, until: float | None = None,
               follow: bool = False) -> Iterator[ContainerEvent]:
        """What was journaled (since `since`); the fake never waits for more."""
        with self._lock:
            evs = list(self.journal)
        for ev in evs:
            if (since is None or ev.time_ns >= since * 1e9) and (
                    until is None or ev.time_ns <= until * 1e9):
                yield ev

    def processes(self, container_id: str) -> list[ProcessInfo]:
        with self._lock:
            box = self._box(container_id)
            if box.state.status not in ("running", "paused"):
                return []
            argv = (box.spec.entrypoint or ()) + (box.spec.command or ())
            return [ProcessInfo(pid=box.state.pid, ppid=1, uid=0, cmd=" ".join(argv))]
