"""The canonical model of a Compose project: frozen, typed dataclasses, every short syntax
expanded, paths absolute, durations in seconds (float), sizes in bytes (int).

This is what the rest of pystack consumes (`load_project` in project.py builds it).  Keys the
engine does not act on yet are kept, raw, in `Service.unsupported` / `Project.unsupported`, and
listed once in UNSUPPORTED (the one place that decides what "not supported yet" means).
Nothing here imports yaml, jsonschema or networkx.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Service keys pystack accepts and models but does not act on yet: `load_project` warns
# `not supported yet: services.<svc>.<key>` once per run for each of them.
UNSUPPORTED_SERVICE_KEYS: frozenset[str] = frozenset({
    "annotations", "attach", "cgroup", "cgroup_parent", "cpu_count", "cpu_percent",
    "cpu_rt_period", "cpu_rt_runtime", "credential_spec", "device_cgroup_rules",
    "devices", "external_links", "gpus", "isolation", "label_file", "models", "platform",
    "post_start", "pre_stop", "provider", "runtime", "storage_opt", "use_api_socket",
    "mem_swappiness", "oom_kill_disable", "pull_refresh_after",
})
# Top-level keys accepted but not acted on yet.
UNSUPPORTED_TOP_KEYS: frozenset[str] = frozenset({"models"})
# Nested keys (dotted, below a service) accepted but not acted on yet.
UNSUPPORTED_NESTED_SERVICE_KEYS: frozenset[str] = frozenset({
    "deploy.placement", "deploy.update_config", "deploy.rollback_config",
    "deploy.endpoint_mode", "deploy.mode", "deploy.restart_policy",
    "deploy.resources.reservations.devices", "deploy.resources.reservations.generic_resources",
    "blkio_config.weight_device", "blkio_config.device_read_bps",
    "blkio_config.device_write_bps", "blkio_config.device_read_iops",
    "blkio_config.device_write_iops",
})
UNSUPPORTED: frozenset[str] = frozenset(
    {f"services.*.{k}" for k in UNSUPPORTED_SERVICE_KEYS | UNSUPPORTED_NESTED_SERVICE_KEYS}
    | UNSUPPORTED_TOP_KEYS
)


@dataclass(frozen=True, slots=True)
class PortMapping:
    """One published or exposed port (ranges are expanded to one entry per container port)."""

    target: int
    published: str | None = None        # "8080", a host range "8000-8010", or None (ephemeral)
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None

    @property
    def published_range(self) -> tuple[int, int] | None:
        """(first, last) host port, or None when the host port is chosen by the engine."""
        if not self.published:
            return None
        first, _, last = self.published.partition("-")
        return int(first), int(last or first)


@dataclass(frozen=True, slots=True)
class BindOptions:
    propagation: str | None = None
    create_host_path: bool = False
    selinux: str | None = None


@dataclass(frozen=True, slots=True)
class VolumeOptions:
    nocopy: bool = False
    subpath: str | None = None


@dataclass(frozen=True, slots=True)
class TmpfsOptions:
    size: int | None = None             # bytes
    mode: int | None = None             # permission bits


@dataclass(frozen=True, slots=True)
class Tmpfs:
    """One `tmpfs:` entry of a service, parsed ("/run:size=64k,mode=1777,noexec")."""

    target: str
    size: int | None = None             # bytes
    mode: int | None = None             # permission bits
    options: tuple[str, ...] = ()       # the other options (ro, noexec, uid=..., ...)

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


@dataclass(frozen=True, slots=True)
class Restart:
    """A restart policy: no | always | on-failure (at most `max_retries`, None = no limit) |
    unless-stopped."""

    name: str = "no"
    max_retries: int | None = None


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """A service volume in long form. `source` is an absolute host path for binds, a project
    volume key for named volumes (the top-level entry gives the real name), None for
    anonymous volumes and tmpfs."""

    type: str                           # bind | volume | tmpfs | image | npipe | cluster
    target: str
    source: str | None = None
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None
    image_subpath: str | None = None


@dataclass(frozen=True, slots=True)
class DependsOn:
    condition: str = "service_started"  # | service_healthy | service_completed_successfully
    required: bool = True
    restart: bool = False


@dataclass(frozen=True, slots=True)
class Healthcheck:
    test: tuple[str, ...] | None = None  # ("CMD", ...), ("CMD-SHELL", "..."), ("NONE",)
    interval: float | None = None       # seconds
    timeout: float | None = None
    start_period: float | None = None
    start_interval: float | None = None
    retries: int | None = None
    disable: bool = False


@dataclass(frozen=True, slots=True)
class Ulimit:
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class ServiceNetwork:
    """A service's attachment to one project network (key = the network's key in the file)."""

    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: tuple[str, ...] = ()
    mac_address: str | None = None
    priority: int = 0
    gw_priority: int = 0
    interface_name: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileReference:
    """A service's use of a project secret or config (long form)."""

    source: str
    target: str | None = None           # None = /run/secrets/<source> or /<source> for configs
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


@dataclass(frozen=True, slots=True)
class EnvFile:
    path: str                           # absolute
    required: bool = True
    format: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    cpus: float | None = None
    memory: int | None = None           # bytes
    pids: int | None = None


@dataclass(frozen=True, slots=True)
class Deploy:
    replicas: int | None = None
    limits: ResourceSpec | None = None
    reservations: ResourceSpec | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)   # the canonical deploy mapping


@dataclass(frozen=True, slots=True)
class Logging:
    driver: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    max_size: int | None = None         # options["max-size"] in bytes
    max_file: int | None = None         # options["max-file"]


@dataclass(frozen=True, slots=True)
class WatchExec:
    """`develop.watch[].exec` of a sync+exec rule (config/develop.py)."""

    command: tuple[str, ...]
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WatchRule:
    """One `develop.watch` rule; `path` is absolute on the host."""

    path: str
    action: str                         # sync | sync+restart | sync+exec | restart | rebuild
    target: str | None = None           # absolute in the container (the sync actions)
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    initial_sync: bool = False
    exec: WatchExec | None = None


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    image: str | None = None
    command: tuple[str, ...] | None = None       # None = image default; () = explicitly empty
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str | None] = field(default_factory=dict)
    env_file: tuple[EnvFile, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    expose: tuple[str, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    tmpfs: tuple[Tmpfs, ...] = ()
    networks: Mapping[str, ServiceNetwork] = field(default_factory=dict)
    network_mode: str | None = None
    depends_on: Mapping[str, DependsOn] = field(default_factory=dict)
    links: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    restart: Restart | None = None
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    tty: bool = False
    stdin_open: bool = False
    read_only: bool = False
    init: bool | None = None
    shm_size: int | None = None                 # bytes
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    no_new_privileges: bool = False             # from security_opt
    seccomp: str | None = None                  # from security_opt: "unconfined" or a profile
    sysctls: Mapping[str, str] = field(default_factory=dict)
    ulimits: Mapping[str, Ulimit] = field(default_factory=dict)
    mem_limit: int | None = None                # bytes (deploy.resources.limits.memory wins)
    mem_reservation: int | None = None
    memswap_limit: int | None = None            # -1 = unlimited
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset: str | None = None
    pids_limit: int | None = None
    oom_score_adj: int | None = None
    blkio_weight: int | None = None
    stop_signal: str | None = None              # canonical: "SIGTERM", or "37" (real-time)
    stop_grace_period: float | None = None      # seconds
    labels: Mapping[str, str] = field(default_factory=dict)
    container_name: str | None = None
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (hostname, ip); ip may be "host-gateway"
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()
    logging: Logging | None = None
    scale: int = 1                              # replicas (scale or deploy.replicas)
    deploy: Deploy | None = None
    profiles: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    mac_address: str | None = None
    ipc: str | None = None
    pid: str | None = None
    uts: str | None = None                      # "host" or None (nsmodes.py checks the values)
    pull_policy: str | None = None
    build: Mapping[str, Any] | None = None       # the normalised `build:` mapping (build.md)
    watch: tuple[WatchRule, ...] = ()           # develop.watch
    extensions: Mapping[str, Any] = field(default_factory=dict)    # x-* keys
    unsupported: Mapping[str, Any] = field(default_factory=dict)   # keys not acted on yet

    def dependencies(self) -> tuple[str, ...]:
        """Every service this one needs started first, in file order: `depends_on`, which
        holds the implicit ones too (links, volumes_from, `service:` modes; config/deps.py,
        added by normalize)."""
        return tuple(self.depends_on)


@dataclass(frozen=True, slots=True)
class IpamPool:
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Network:
    key: str                                    # the name in the file ("default", "appnet")
    name: str                                   # the real name ("demo_default")
    driver: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    external: bool = False
    internal: bool = False
    attachable: bool = False
    enable_ipv4: bool | None = None
    enable_ipv6: bool | None = None
    ipam_driver: str | None = None
    ipam_config: tuple[IpamPool, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Volume:
    key: str
    name: str                                   # "<project>_<key>" unless `name:` or external
    driver: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    external: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileObject:
    """A top-level secret or config: exactly one of file/environment/content, or external."""

    key: str
    name: str
    file: str | None = None                     # absolute path
    environment: str | None = None              # variable name
    content: str | None = None
    external: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    working_dir: str
    services: Mapping[str, Service]
    networks: Mapping[str, Network] = field(default_factory=dict)
    volumes: Mapping[str, Volume] = field(default_factory=dict)
    secrets: Mapping[str, FileObject] = field(default_factory=dict)
    configs: Mapping[str, FileObject] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()              # active profiles
    disabled: tuple[str, ...] = ()              # services left out by profiles
    defined_profiles: tuple[str, ...] = ()      # every profile named in the file
    files: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)   # interpolation environment
    warnings: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)
    unsupported: Mapping[str, Any] = field(default_factory=dict)
    # The canonical mapping (Compose v2 `config --format json` shape): `pystack config`
    # prints it and config_hash reads it.
    data: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def service(self, name: str) -> Service:
        from pystack.orchestrator.errors import NotFoundError

        try:
            return self.services[name]
        except KeyError:
            raise NotFoundError(f"no such service: {name}") from None

    def service_names(self) -> list[str]:
        return sorted(self.services)

    def config_hash(self, service: str) -> str:
        """A stable sha256 of a service's canonical configuration, for change detection.
        Like compose-go's ServiceHash, what does not change the container is left out
        (scale, deploy.replicas, depends_on, profiles, build, pull_policy), and maps are
        key-sorted, so scaling or reordering the file does not change it."""
        self.service(service)
        data = dict(self.data.get("services", {}).get(service, {}))
        for key in ("scale", "depends_on", "profiles", "build", "pull_policy"):
            data.pop(key, None)
        if isinstance(data.get("deploy"), dict):
            deploy = {k: v for k, v in data["deploy"].items()
                      if k != "replicas" and v not in ({}, None)}
            data["deploy"] = deploy
            if not deploy:
                data.pop("deploy")
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
