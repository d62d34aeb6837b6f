"""Compose service model -> the runtime's and net's specs (ContainerSpec, NetworkSpec,
AttachSpec, PortSpec, DnsConfig), and the compose labels every container carries.

Pure translation: no host changes here (volumes.py prepares the host directories and returns
the mounts that go into the spec).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Literal

from pystack.net.api import AttachSpec, DnsConfig, IpamPool, NetworkSpec, PortSpec
from pystack.orchestrator.config.model import Network, Project, Service, Tmpfs
from pystack.orchestrator.engine import plan as P
from pystack.orchestrator.errors import OrchestratorError
from pystack.runtime.image.model import Image
from pystack.runtime.spec import (
    ContainerSpec,
    Healthcheck,
    LogConfig,
    Mount,
    Resources,
    RestartPolicy,
    Ulimit,
)

VERSION = "2.40.3"      # the Compose version we behave like (com.docker.compose.version)


def new_container_id() -> str:
    return secrets.token_hex(32)


def default_network(project: Project) -> Network:
    return project.networks.get("default") or Network(key="default",
                                                      name=f"{project.name}_default")


def service_networks(project: Project, svc: Service) -> list[tuple[Network, int, tuple[str, ...],
                                                                   str | None, str | None]]:
    """(network, priority, aliases, ipv4, mac) for every network the service joins."""
    if svc.network_mode:
        return []
    out = []
    if not svc.networks:
        return [(default_network(project), 0, (), None, svc.mac_address)]
    for key, sn in svc.networks.items():
        net = project.networks.get(key) or (default_network(project) if key == "default"
                                            else None)
        if net is None:
            raise OrchestratorError(f"service {svc.name} refers to undefined network {key}")
        out.append((net, max(sn.priority, sn.gw_priority), tuple(sn.aliases), sn.ipv4_address,
                    sn.mac_address or svc.mac_address))
    return out


def network_spec(project: Project, net: Network) -> NetworkSpec:
    pools = tuple(IpamPool(subnet=p.subnet, ip_range=p.ip_range, gateway=p.gateway,
                           aux_addresses=dict(p.aux_addresses)) for p in net.ipam_config)
    labels = {**net.labels, "com.docker.compose.project": project.name,
              "com.docker.compose.network": net.key, "com.docker.compose.version": VERSION}
    return NetworkSpec(name=net.name, project=project.name, internal=net.internal,
                       external=net.external, enable_ipv6=bool(net.enable_ipv6), ipam=pools,
                       driver_opts=dict(net.driver_opts), labels=labels)


def attach_specs(project: Project, svc: Service, container_name: str,
                 container_id: str) -> list[AttachSpec]:
    out = []
    for net, prio, aliases, ipv4, mac in service_networks(project, svc):
        names = tuple(dict.fromkeys((container_name, svc.name, container_id[:12], *aliases)))
        out.append(AttachSpec(network=net.name, aliases=names, ipv4_address=ipv4,
                              mac_address=mac, priority=prio))
    return out


def port_specs(svc: Service) -> list[PortSpec]:
    out: list[PortSpec] = []
    for p in svc.ports:
        if p.protocol not in ("tcp", "udp"):
            continue        # sctp: accepted by config with a "not supported yet" warning
        proto: Literal["tcp", "udp"] = "udp" if p.protocol == "udp" else "tcp"
        rng = p.published_range
        host_ip = p.host_ip or ""
        if rng is None or rng[0] == 0:  # no host port, or 0: the engine picks one
            out.append(PortSpec(target=p.target, published=None, host_ip=host_ip,
                                protocol=proto))
        else:
            # A host range for one container port: compose picks the first free; we take the
            # first (net refuses if taken).
            out.append(PortSpec(target=p.target, published=rng[0], host_ip=host_ip,
                                protocol=proto))
    return out


def dns_config(svc: Service, container_id: str) -> DnsConfig:
    """The embedded DNS server answers peer names (Docker's user networks); `links:`
    aliases resolve for this container only."""
    links = tuple((link.split(":")[-1], link.split(":")[0]) for link in svc.links)
    return DnsConfig(servers=svc.dns, search=svc.dns_search, options=svc.dns_opt,
                     extra_hosts=tuple(svc.extra_hosts),
                     hostname=svc.hostname or container_id[:12],
                     domainname=svc.domainname or "", embedded=True,
                     links=tuple((a, t) for a, t in links if a != t))


def compose_labels(project: Project, svc: Service, number: int, config_hash: str,
                   image_ref: str, oneoff: bool = False) -> dict[str, str]:
    deps = ",".join(f"{k}:{d.condition}:{str(d.restart).lower()}"
                    for k, d in svc.depends_on.items())
    return {
        **svc.labels,
        P.LABEL_PROJECT: project.name,
        P.LABEL_SERVICE: svc.name,
        P.LABEL_NUMBER: str(number),
        P.LABEL_HASH: config_hash,
        P.LABEL_ONEOFF: "True" if oneoff else "False",
        P.LABEL_IMAGE: image_ref,
        "com.docker.compose.project.working_dir": project.working_dir,
        "com.docker.compose.project.config_files": ",".join(project.files),
        "com.docker.compose.version": VERSION,
        "com.docker.compose.depends_on": deps,
    }


def healthcheck(svc: Service, image: Image) -> Healthcheck | None:
    """The service's healthcheck as written, for the runtime: unset fields are 0 and an unset
    test is empty, so the runtime's one rule (runtime/spec.py effective_healthcheck) merges it
    with the image's; `disable` is a NONE test.  None: the image's own applies."""
    hc = svc.healthcheck
    if hc is None:
        return None
    if hc.disable or (hc.test and hc.test[0] == "NONE"):
        return Healthcheck(test=("NONE",))
    return Healthcheck(test=tuple(hc.test or ()), interval=hc.interval or 0.0,
                       timeout=hc.timeout or 0.0, retries=hc.retries or 0,
                       start_period=hc.start_period or 0.0,
                       start_interval=hc.start_interval or 0.0)


def restart_policy(svc: Service) -> RestartPolicy:
    """The parsed policy (config checked it: no | always | on-failure | unless-stopped)."""
    policy = svc.restart
    if policy is None or policy.name == "no":
        return RestartPolicy("no")
    return RestartPolicy(policy.name, policy.max_retries)  # type: ignore[arg-type]


def tmpfs_mount(t: Tmpfs) -> Mount:
    """A service's `tmpfs:` entry (parsed by config) as a runtime mount."""
    return Mount("tmpfs", t.target, read_only=t.read_only, tmpfs_size=t.size,
                 tmpfs_mode=t.mode)


def resources(svc: Service) -> Resources:
    lim = svc.deploy.limits if svc.deploy and svc.deploy.limits else None
    return Resources(
        memory=(lim.memory if lim and lim.memory else svc.mem_limit),
        memory_swap=svc.memswap_limit, memory_reservation=svc.mem_reservation,
        # cpus 0 is "no limit" (Docker's NanoCpus 0), not a limit below the 0.01 minimum
        cpus=(lim.cpus if lim and lim.cpus else svc.cpus or None), cpu_shares=svc.cpu_shares,
        cpu_quota=svc.cpu_quota, cpu_period=svc.cpu_period, cpuset_cpus=svc.cpuset,
        pids_limit=(lim.pids if lim and lim.pids else svc.pids_limit),
        blkio_weight=svc.blkio_weight, oom_score_adj=svc.oom_score_adj)


def log_config(svc: Service) -> LogConfig:
    lg = svc.logging
    if lg is None:
        return LogConfig()
    return LogConfig(max_size=lg.max_size, max_file=lg.max_file or 1)


def security(svc: Service) -> tuple[bool, str | None]:
    """(no_new_privileges, seccomp), parsed from security_opt by config."""
    return svc.no_new_privileges, svc.seccomp


@dataclass(frozen=True)
class NetPlacement:
    mode: str                           # "ns", "host", "none"
    netns: str | None = None
    etc_hosts: str | None = None
    etc_resolv: str | None = None


def container_spec(project: Project, svc: Service, *, container_id: str, name: str,
                   number: int, image: Image, image_ref: str, config_hash: str,
                   mounts: tuple[Mount, ...], net: NetPlacement, oneoff: bool = False,
                   pid_namespace: str | None = None,
                   ipc_namespace: str | None = None,
                   console_size: tuple[int, int] | None = None) -> ContainerSpec:
    env = {k: v for k, v in svc.environment.items() if v is not None}
    nnp, seccomp = security(svc)
    ulimits = tuple(Ulimit(n, u.soft, u.hard) for n, u in svc.ulimits.items())
    labels = compose_labels(project, svc, number, config_hash, image_ref, oneoff)
    return ContainerSpec(
        id=container_id, name=name, image=image.config, image_id=image.id,
        lower_dirs=tuple(str(p) for p in image.layer_dirs),
        entrypoint=svc.entrypoint, command=svc.command, env=env,
        working_dir=svc.working_dir, user=svc.user, group_add=svc.group_add,
        hostname=svc.hostname or container_id[:12], domainname=svc.domainname or "",
        tty=svc.tty, stdin_open=svc.stdin_open, read_only=svc.read_only, mounts=mounts,
        hold_output=oneoff and (svc.tty or svc.stdin_open),   # `run` attaches after start
        console_size=console_size if svc.tty else None,
        shm_size=svc.shm_size, init=bool(svc.init), privileged=svc.privileged,
        cap_add=svc.cap_add, cap_drop=svc.cap_drop, no_new_privileges=nnp, seccomp=seccomp,
        sysctls=dict(svc.sysctls), ulimits=ulimits, resources=resources(svc),
        stop_signal=svc.stop_signal,
        stop_grace_period=svc.stop_grace_period if svc.stop_grace_period is not None else 10.0,
        netns=net.netns, network_mode=net.mode,  # type: ignore[arg-type]
        etc_hosts=net.etc_hosts, etc_resolv=net.etc_resolv,
        healthcheck=healthcheck(svc, image), restart=restart_policy(svc),
        log=log_config(svc), labels=labels, pid_namespace=pid_namespace,
        ipc_namespace=ipc_namespace, uts_namespace="host" if svc.uts == "host" else None)


def describe_command(spec: ContainerSpec) -> str:
    argv = spec.entrypoint if spec.entrypoint is not None else (spec.image.entrypoint or ())
    cmd = spec.command if spec.command is not None else (
        spec.image.cmd or () if spec.entrypoint is None else ())
    return json.dumps(" ".join((*argv, *cmd)))
