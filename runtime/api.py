"""The Runtime protocol: what the orchestrator may ask of a container runtime.

The Linux implementation and the in-memory fake (for the orchestrator's unit tests) both
satisfy it.  Every method raises only pystack.runtime.errors exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Literal, Protocol

from pystack.runtime.spec import ContainerSpec, ExecSpec

Status = Literal["created", "running", "paused", "restarting", "exited", "dead"]
HealthStatus = Literal["starting", "healthy", "unhealthy"]


@dataclass(frozen=True)
class HealthResult:
    start: str                          # RFC 3339
    end: str
    exit_code: int
    output: str


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()  # the last 5


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    status: Status
    pid: int = 0                        # host pid of the container's PID 1 (0 if not running)
    exit_code: int | None = None        # status, or 128+signal
    oom_killed: bool = False
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    restart_count: int = 0
    health: Health | None = None
    labels: dict[str, str] = field(default_factory=dict)
    image_id: str = ""
    netns: str | None = None
    warnings: tuple[str, ...] = ()      # e.g. a ulimit clamped to the host's hard limit
    # False: PID 1 runs but its shim (the supervisor) is dead: no healthcheck, restart, log or
    # exit code any more.  It cannot be adopted (PID 1 is not a child of any new process and
    # its output pipes went with the shim): `up` recreates it.
    supervised: bool = True


@dataclass(frozen=True)
class LogEntry:
    stream: Literal["stdout", "stderr"]
    time: str                           # RFC 3339 with nanoseconds, as Docker writes
    line: str                           # including the trailing newline if it had one


@dataclass(frozen=True)
class Stats:
    memory_usage: int = 0
    memory_limit: int = 0
    cpu_usage_ns: int = 0
    pids: int = 0
    io_read_bytes: int = 0
    io_write_bytes: int = 0


@dataclass(frozen=True)
class ProcessInfo:
    pid: int                            # host pid
    ppid: int
    uid: int
    cmd: str


class Runtime(Protocol):
    def create(self, spec: ContainerSpec) -> ContainerState: ...
    def start(self, container_id: str) -> ContainerState: ...
    def stop(self, container_id: str, timeout: float | None = None) -> ContainerState: ...
    def kill(self, container_id: str, signal: int | str = "SIGKILL") -> None: ...
    def pause(self, container_id: str) -> None: ...
    def unpause(self, container_id: str) -> None: ...
    def delete(self, container_id: str, force: bool = False) -> None: ...
    def state(self, container_id: str) -> ContainerState: ...
    def spec(self, container_id: str) -> ContainerSpec: ...
    def list_containers(self) -> list[ContainerState]: ...
    def wait(self, container_id: str, timeout: float | None = None) -> ContainerState: ...
    def exec(self, container_id: str, spec: ExecSpec, stdin: IO[bytes] | None = None,
             stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> int: ...
    def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
             since: str | None = None, until: str | None = None) -> Iterator[LogEntry]: ...
    def stats(self, container_id: str) -> Stats: ...
    def processes(self, container_id: str) -> list[ProcessInfo]: ...
