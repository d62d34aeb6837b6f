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
    net_rx_bytes: int = 0               # the container's netns, every interface but lo
    net_tx_bytes: int = 0
    system_cpu_ns: int = 0              # the host's CPU time when this was read (CPU %)
    online_cpus: int = 0


@dataclass(frozen=True)
class ProcessInfo:
    pid: int                            # host pid
    ppid: int
    uid: int
    cmd: str
    user: str = ""                      # from the container's /etc/passwd ("" if unknown)
    started: float = 0.0                # Unix time
    cpu_seconds: float = 0.0
    tty: str = "?"


@dataclass(frozen=True)
class ContainerEvent:
    """Something that happened to a container, named as Docker names it: create, start, die,
    kill, stop, restart (the restart policy's), pause, unpause, destroy,
    "health_status: healthy", "exec_create: CMD", "exec_start: CMD", exec_die."""

    time_ns: int
    id: str
    action: str
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)    # exitCode, signal, execID


class Runtime(Protocol):
    """A container runtime: the only way the orchestrator touches containers.

    `pystack.runtime.linux_runtime.LinuxRuntime` implements it on the kernel,
    `pystack.runtime.fake.FakeRuntime` in memory for unit tests;
    tests/integration/runtime/test_contract.py runs one scenario against both.  Every method
    raises only `pystack.runtime.errors` exceptions (root `ContainerRuntimeError`); those that
    take a container id raise ContainerNotFoundError for an unknown one.
    """

    def prewarm(self) -> None:
        """Get ready for starts now (the Linux runtime starts its shim template process), so
        that this overlaps with other work; never required before `start`."""
        ...

    def create(self, spec: ContainerSpec) -> ContainerState:
        """Check the spec (Docker's create-time checks: user, command, limits, mounts) and
        record the container, status "created"; nothing runs yet.  Raises
        ContainerRuntimeError (and its CgroupError, SecurityConfigError) for a bad spec,
        with nothing left on the host."""
        ...

    def start(self, container_id: str) -> ContainerState:
        """Start PID 1 under a shim and return once it has exec'd (status "running").  Raises
        ContainerRuntimeError when the start fails (its message says which step)."""
        ...

    def stop(self, container_id: str, timeout: float | None = None) -> ContainerState:
        """The stop signal, then SIGKILL after `timeout` (None: the spec's grace period);
        returns the exited state.  A stopped container is not an error."""
        ...

    def kill(self, container_id: str, signal: int | str = "SIGKILL") -> None:
        """Send a signal (number or name) to PID 1.  Raises ContainerRuntimeError when it is
        not running or the signal is unknown."""
        ...

    def pause(self, container_id: str) -> None:
        """Freeze every process of the container (cgroup freezer); a paused one stays paused.
        Raises ContainerRuntimeError when it is not running."""
        ...

    def unpause(self, container_id: str) -> None:
        """Thaw a paused container; a running one is left as it is.  Raises
        ContainerRuntimeError when it is not running."""
        ...

    def delete(self, container_id: str, force: bool = False) -> None:
        """Remove the container and everything of it on the host (cgroup, mounts, dir);
        `force` kills it first, otherwise a running container is an error."""
        ...

    def state(self, container_id: str) -> ContainerState:
        """The container's state now (a dead shim shows as such)."""
        ...

    def spec(self, container_id: str) -> ContainerSpec:
        """The spec the container was created with."""
        ...

    def namespace_path(self, container_id: str, kind: str) -> str:
        """The path of the container's `kind` namespace ("ipc", "pid", "net"), for another
        container's spec to join (`ipc|pid: service:X`); valid while it runs."""
        ...

    def list_containers(self) -> list[ContainerState]:
        """Every container of this runtime (every project's)."""
        ...

    def wait(self, container_id: str, timeout: float | None = None) -> ContainerState:
        """Block until the container has exited (or `timeout`); returns its state."""
        ...

    def exec(self, container_id: str, spec: ExecSpec, stdin: IO[bytes] | None = None,
             stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> int:
        """Run a process in the running container; returns its exit code (Docker's 126/127
        when it cannot be run).  Raises ContainerRuntimeError when it is not running."""
        ...

    def attach(self, container_id: str, stdin: IO[bytes] | None = None,
               stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None,
               detach_keys: str | None = None) -> bool:
        """Relay the running container's console (its output as it comes, `stdin` to its
        terminal or stdin pipe) until it exits; True when the caller typed the detach keys
        (the container goes on).  A one-off (`hold_output`) gets its output from the start.
        Raises ContainerRuntimeError when it is not running."""
        ...

    def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
             since: str | None = None, until: str | None = None) -> Iterator[LogEntry]:
        """The container's output lines (json-file log), following it if asked until the
        container exits."""
        ...

    def stats(self, container_id: str) -> Stats:
        """CPU, memory, block and network I/O and pids now, with the host's CPU time read at
        the same moment (zeros when it is not running)."""
        ...

    def events(self, since: float | None = None, until: float | None = None,
               follow: bool = False) -> Iterator[ContainerEvent]:
        """Every container's events, in order: those since the Unix time `since` (None: only
        those to come), then, with `follow`, each new one until the Unix time `until`."""
        ...

    def processes(self, container_id: str) -> list[ProcessInfo]:
        """The processes in the container's cgroup, user names from the container's own
        /etc/passwd."""
        ...


# --- input rules, for callers that check a stack before anything exists ----------------------


def check_capability(name: str) -> None:
    """Raise SecurityConfigError for a capability name `create` refuses ("ALL" is valid)."""
    from pystack.runtime.security.caps import parse

    parse(name)


def check_sysctl(name: str, own_netns: bool = True, own_ipcns: bool = True) -> None:
    """Raise SecurityConfigError for a sysctl `create` refuses for a container that has (or
    shares the host's) network and ipc namespaces."""
    from pystack.runtime.security.paths import check_sysctl as check

    check(name, own_netns=own_netns, own_ipcns=own_ipcns)


def check_cpuset(cpus: str) -> None:
    """Raise CgroupError for a cpuset list ("0-3,5") `create` cannot parse (whether those
    CPUs exist is the host's, checked at create)."""
    from pystack.runtime.cgroups.validate import parse_cpu_list
    from pystack.runtime.errors import CgroupError

    try:
        parse_cpu_list(cpus)
    except ValueError:
        raise CgroupError(f"invalid cpuset {cpus!r} (use CPU numbers and ranges like "
                          "0-3,5)") from None
