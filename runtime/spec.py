"""ContainerSpec: everything the runtime needs to create one container, frozen.

The orchestrator fills it from the compose model; the runtime merges it with the image config
the Docker way (entrypoint/cmd/env/working_dir/user overrides) when it creates the container.
Durations are seconds, sizes are bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pystack.runtime.image.model import HealthConfig, ImageConfig


@dataclass(frozen=True)
class Mount:
    type: Literal["bind", "volume", "tmpfs"]
    target: str
    source: str = ""                    # host path for bind and volume (a directory or file)
    read_only: bool = False
    propagation: str | None = None      # "rprivate", "rslave", "rshared", ...
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    nocopy: bool = False                # volume: do not fill from the image
    subpath: str | None = None          # volume: mount this dir below `source` (no symlinks)


@dataclass(frozen=True)
class Ulimit:
    name: str                           # "nofile", "nproc", "core", ...
    soft: int
    hard: int


@dataclass(frozen=True)
class Resources:
    memory: int | None = None
    memory_swap: int | None = None      # -1 = unlimited
    memory_reservation: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None
    oom_score_adj: int | None = None


@dataclass(frozen=True)
class Healthcheck:
    """The container's own healthcheck.  An empty test and zero fields are "not set": they take
    the image's, then Docker's defaults (`effective_healthcheck`, the one rule)."""

    test: tuple[str, ...]               # ("CMD", ...), ("CMD-SHELL", "cmd"), ("NONE",)
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    start_interval: float = 5.0


def effective_healthcheck(mine: Healthcheck | None,
                          image: HealthConfig | None) -> Healthcheck | None:
    """THE healthcheck rule (Docker's daemon merge): the container's healthcheck over its
    image's, field by field.  An empty test or a zero (or unset) field takes the image's value,
    then Docker's default (interval and timeout 30 s, retries 3, start_period 0, start_interval
    5 s); a "NONE" test disables it (the image's too).  None when there is no healthcheck.
    The shim runs what this returns (runtime/health.py); the engine asks it too."""
    if mine is not None and mine.test[:1] == ("NONE",):
        return None
    img = image or HealthConfig()
    test = (mine.test if mine is not None else ()) or img.test
    if not test or test[0] == "NONE":
        return None

    def pick(own: float | None, theirs: float | None, default: float) -> float:
        return own if own else theirs if theirs else default

    m = mine or Healthcheck(test=(), interval=0, timeout=0, retries=0, start_interval=0)
    return Healthcheck(test=tuple(test), interval=pick(m.interval, img.interval, 30.0),
                       timeout=pick(m.timeout, img.timeout, 30.0),
                       retries=int(pick(m.retries, img.retries, 3)),
                       start_period=pick(m.start_period, img.start_period, 0.0),
                       start_interval=pick(m.start_interval, img.start_interval, 5.0))


@dataclass(frozen=True)
class RestartPolicy:
    name: Literal["no", "always", "on-failure", "unless-stopped"] = "no"
    max_retries: int | None = None


@dataclass(frozen=True)
class LogConfig:
    max_size: int | None = None         # bytes per file; None = no rotation
    max_file: int = 1


@dataclass(frozen=True)
class ContainerSpec:
    id: str                             # 64 hex characters, unique
    name: str                           # e.g. "demo-web-1"
    image: ImageConfig                  # the image's config (merged with the overrides below)
    image_id: str                       # "sha256:..." (recorded, shown by ps/inspect)
    lower_dirs: tuple[str, ...]         # overlay lower layers, bottom first (a rootfs dir works)
    entrypoint: tuple[str, ...] | None = None   # None = image's; () = reset
    command: tuple[str, ...] | None = None      # None = image's (dropped if entrypoint given)
    env: dict[str, str] = field(default_factory=dict)   # overrides the image's Env
    working_dir: str | None = None
    user: str | None = None             # "name", "uid", "uid:gid", "name:group"
    group_add: tuple[str, ...] = ()
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    stdin_open: bool = False
    hold_output: bool = False           # kept for the first attach (`run`): attach.py
    console_size: tuple[int, int] | None = None     # tty: (rows, cols) at start (`run -t`)
    read_only: bool = False
    mounts: tuple[Mount, ...] = ()
    shm_size: int | None = None         # default 64 MiB
    init: bool = False                  # tini as PID 1
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    seccomp: str | None = None          # None = default profile; "unconfined"; or a JSON path
    sysctls: dict[str, str] = field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()
    resources: Resources = field(default_factory=Resources)
    stop_signal: str | None = None      # None = image's or SIGTERM
    stop_grace_period: float = 10.0
    netns: str | None = None            # path of a pinned netns to join; None = a new empty one
    network_mode: Literal["ns", "host", "none"] = "ns"   # "ns" = join `netns` (or new if None)
    etc_hosts: str | None = None        # host file bind-mounted at /etc/hosts (kept current by net)
    etc_resolv: str | None = None       # host file bind-mounted at /etc/resolv.conf
    etc_hostname: bool = True           # write /etc/hostname
    healthcheck: Healthcheck | None = None      # None = image's; test ("NONE",) disables
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    log: LogConfig = field(default_factory=LogConfig)
    labels: dict[str, str] = field(default_factory=dict)
    ipc_namespace: str | None = None    # path to join (ipc: service:X), "host", "none" (private,
                                        # no /dev/shm), None = private
    pid_namespace: str | None = None    # path to join (pid: service:X) or "host"; None = private
    uts_namespace: str | None = None    # "host" (the host's hostname), None = private


@dataclass(frozen=True)
class ExecSpec:
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None
    tty: bool = False
    privileged: bool = False
    detach: bool = False
    detach_keys: str | None = None      # the caller's (relay.detach_sequence); None: Docker's
