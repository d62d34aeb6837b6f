"""Checks of a service's canonical form (after normalize.py: env_file merged in, short forms
expanded), with the rules net and the runtime apply to their own input, so that `up` cannot
fail on them later: the environment and command must fit execve, names and addresses (dns,
dns_search, dns_opt, extra_hosts, hostname, domainname, link and network aliases) follow
net's rules, capabilities, namespaced sysctls and cpuset lists the runtime's, and working_dir
is absolute.  net's and the runtime's rules are reached through their public input-rule
functions (net/api.py, runtime/api.py).  Called by project.late_checks; never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pystack.orchestrator.config.marks import TreePath
from pystack.orchestrator.config.valuechecks import short

if TYPE_CHECKING:
    from pystack.orchestrator.config.semantic import Report

# What execve takes: one argument or KEY=value at most MAX_ARG_STRLEN (32 pages), all of
# them together at most a quarter of the 8 MiB default stack; half of that is left to the
# image's own environment.
MAX_ARG = 32 * 4096
MAX_EXEC = 1 << 20


def service(rep: Report, name: str, svc: Mapping[str, Any]) -> None:
    """Every late check of one service's canonical form."""
    exec_size(rep, name, svc)
    _dns(rep, ("services", name), svc)
    _runtime_rules(rep, ("services", name), svc)


def _dns(rep: Report, base: TreePath, svc: Mapping[str, Any]) -> None:
    from pystack.net.api import DnsConfig, check_alias, check_dns_config
    from pystack.net.errors import NetError

    fields: list[tuple[TreePath, DnsConfig]] = []
    for i, server in enumerate(svc.get("dns") or []):
        fields.append((("dns", i), DnsConfig(servers=(str(server),))))
    for i, domain in enumerate(svc.get("dns_search") or []):
        fields.append((("dns_search", i), DnsConfig(search=(str(domain),))))
    for i, opt in enumerate(svc.get("dns_opt") or []):
        fields.append((("dns_opt", i), DnsConfig(options=(str(opt),))))
    for i, entry in enumerate(svc.get("extra_hosts") or []):
        host, _, ip = str(entry).partition("=")
        ip = "127.0.0.1" if ip == "host-gateway" else ip   # the engine fills it in
        fields.append((("extra_hosts", i), DnsConfig(extra_hosts=((host, ip),))))
    if svc.get("hostname"):
        fields.append((("hostname",), DnsConfig(hostname=str(svc["hostname"]))))
    if svc.get("domainname"):
        fields.append((("domainname",), DnsConfig(domainname=str(svc["domainname"]))))
    for path, dns in fields:
        try:
            check_dns_config(dns)
        except NetError as e:
            rep.add((*base, *path), str(e))
    for i, link in enumerate(svc.get("links") or []):
        try:
            check_alias(str(link).split(":")[-1])   # the name the link adds, as net adds it
        except NetError as e:
            rep.add((*base, "links", i), str(e))
    nets = svc.get("networks")
    for net, spec in (nets.items() if isinstance(nets, Mapping) else []):
        for alias in (spec.get("aliases") or []) if isinstance(spec, Mapping) else []:
            try:
                check_alias(str(alias))
            except NetError as e:
                rep.add((*base, "networks", net, "aliases"), str(e))


def _runtime_rules(rep: Report, base: TreePath, svc: Mapping[str, Any]) -> None:
    from pystack.runtime.api import check_capability, check_cpuset, check_sysctl
    from pystack.runtime.errors import ContainerRuntimeError

    for key in ("cap_add", "cap_drop"):
        for i, cap in enumerate(svc.get(key) or []):
            try:
                check_capability(str(cap))
            except ContainerRuntimeError as e:
                rep.add((*base, key, i), str(e), "use a name like NET_ADMIN or CAP_NET_ADMIN")
    sysctls = svc.get("sysctls")
    host_net = svc.get("network_mode") == "host"
    host_ipc = svc.get("ipc") == "host"
    for key in (sysctls if isinstance(sysctls, Mapping) else {}):
        try:
            check_sysctl(str(key), own_netns=not host_net, own_ipcns=not host_ipc)
        except ContainerRuntimeError as e:
            rep.add((*base, "sysctls"), str(e), "a container may set kernel.msg*, kernel.sem, "
                    "kernel.shm*, fs.mqueue.* and, without network_mode: host, net.*")
    cpuset = svc.get("cpuset")
    if isinstance(cpuset, str) and cpuset:
        try:
            check_cpuset(cpuset)
        except ContainerRuntimeError as e:
            rep.add((*base, "cpuset"), str(e))
    workdir = svc.get("working_dir")
    if isinstance(workdir, str) and workdir and not workdir.startswith("/"):
        rep.add((*base, "working_dir"), f"the working directory '{short(workdir)}' is not "
                "an absolute path", "use a path like /app")


def exec_size(rep: Report, name: str, svc: Mapping[str, Any]) -> None:
    """The final environment (env_file merged in) and command of a service (canonical form)
    must fit what the kernel passes to a process (else `up` fails with E2BIG)."""
    base: TreePath = ("services", name)
    env = svc.get("environment")
    env = env if isinstance(env, Mapping) else {}
    total = 0
    for key, value in env.items():
        size = len(str(key).encode()) + 2 + len(str(value or "").encode())
        total += size
        if size > MAX_ARG:
            rep.add((*base, "environment"), f"variable {short(str(key))} is {size} bytes, "
                    f"more than the {MAX_ARG} the kernel passes for one variable",
                    "pass big values in a file: a volume, a config or a secret")
    for key in ("command", "entrypoint"):
        for arg in svc.get(key) or []:
            size = len(str(arg).encode()) + 1
            total += size
            if size > MAX_ARG:
                rep.add((*base, key), f"an argument of {size} bytes is more than the "
                        f"{MAX_ARG} the kernel passes for one argument",
                        "pass big values in a file")
    if total > MAX_EXEC:
        rep.add((*base, "environment"), f"the environment and command take {total} bytes, "
                f"more than the {MAX_EXEC} pystack leaves for them",
                "pass big values in a file: a volume, a config or a secret")
