"""The canonical mapping (normalize.py) -> the frozen model (model.py).

Values are converted to engine units here: durations to seconds, sizes to bytes, cpus to
float.  Keys pystack does not act on yet (model.UNSUPPORTED_*) are kept raw in `unsupported`.
Input is schema-checked and normalised; this module does not report problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pystack.orchestrator.config import develop, units
from pystack.orchestrator.config import model as m


def build_project(canonical: Mapping[str, Any], *, working_dir: str, files: tuple[str, ...],
                  profiles: tuple[str, ...], disabled: tuple[str, ...],
                  environment: Mapping[str, str], warnings: tuple[str, ...]) -> m.Project:
    services = {name: build_service(name, svc)
                for name, svc in (canonical.get("services") or {}).items()}
    return m.Project(
        name=canonical["name"], working_dir=working_dir, services=services,
        networks={k: _network(k, v) for k, v in (canonical.get("networks") or {}).items()},
        volumes={k: _volume(k, v) for k, v in (canonical.get("volumes") or {}).items()},
        secrets={k: _file_object(k, v) for k, v in (canonical.get("secrets") or {}).items()},
        configs={k: _file_object(k, v) for k, v in (canonical.get("configs") or {}).items()},
        profiles=profiles, disabled=disabled, files=files, environment=dict(environment),
        warnings=warnings,
        extensions={k: v for k, v in canonical.items() if k.startswith("x-")},
        unsupported={k: canonical[k] for k in m.UNSUPPORTED_TOP_KEYS if k in canonical},
        data=canonical,
    )


def build_service(name: str, s: Mapping[str, Any]) -> m.Service:
    deploy = _deploy(s.get("deploy"))
    limits = deploy.limits if deploy else None
    scale = s.get("scale")
    if scale is None:
        scale = deploy.replicas if deploy and deploy.replicas is not None else 1
    return m.Service(
        name=name, image=s.get("image"),
        command=_tuple_or_none(s.get("command")), entrypoint=_tuple_or_none(s.get("entrypoint")),
        environment=dict(s.get("environment") or {}),
        ports=tuple(_port(p) for p in s.get("ports") or []),
        expose=tuple(str(e) for e in s.get("expose") or []),
        volumes=tuple(_mount(v) for v in s.get("volumes") or []),
        tmpfs=tuple(_tmpfs(t) for t in s.get("tmpfs") or []),
        networks={k: _service_network(v) for k, v in (s.get("networks") or {}).items()},
        network_mode=s.get("network_mode"),
        depends_on={k: m.DependsOn(condition=v.get("condition", "service_started"),
                                   required=bool(v.get("required", True)),
                                   restart=bool(v.get("restart", False)))
                    for k, v in (s.get("depends_on") or {}).items()},
        links=tuple(s.get("links") or []), volumes_from=tuple(s.get("volumes_from") or []),
        healthcheck=_healthcheck(s.get("healthcheck")),
        restart=_restart(s.get("restart")), user=_opt_str(s.get("user")),
        working_dir=s.get("working_dir"),
        hostname=s.get("hostname"), domainname=s.get("domainname"),
        tty=bool(s.get("tty", False)), stdin_open=bool(s.get("stdin_open", False)),
        read_only=bool(s.get("read_only", False)), init=s.get("init"),
        shm_size=_bytes(s.get("shm_size")),
        cap_add=tuple(s.get("cap_add") or []), cap_drop=tuple(s.get("cap_drop") or []),
        privileged=bool(s.get("privileged", False)),
        security_opt=tuple(s.get("security_opt") or []),
        **_security(s.get("security_opt") or []),
        sysctls={k: str(v) for k, v in (s.get("sysctls") or {}).items()},
        ulimits={k: _ulimit(v) for k, v in (s.get("ulimits") or {}).items()},
        mem_limit=(limits.memory if limits and limits.memory is not None
                   else _bytes(s.get("mem_limit"))),
        mem_reservation=_bytes(s.get("mem_reservation")),
        memswap_limit=_bytes(s.get("memswap_limit")),
        cpus=limits.cpus if limits and limits.cpus is not None else _float(s.get("cpus")),
        cpu_shares=_int(s.get("cpu_shares")), cpu_quota=_int(s.get("cpu_quota")),
        cpu_period=_int(s.get("cpu_period")), cpuset=s.get("cpuset"),
        pids_limit=(limits.pids if limits and limits.pids is not None
                    else _int(s.get("pids_limit"))),
        oom_score_adj=_int(s.get("oom_score_adj")),
        blkio_weight=_int((s.get("blkio_config") or {}).get("weight")),
        stop_signal=units.parse_signal(s["stop_signal"]) if s.get("stop_signal") else None,
        stop_grace_period=_seconds(s.get("stop_grace_period")),
        labels=dict(s.get("labels") or {}), container_name=s.get("container_name"),
        dns=tuple(s.get("dns") or []), dns_search=tuple(s.get("dns_search") or []),
        dns_opt=tuple(s.get("dns_opt") or []),
        extra_hosts=tuple(tuple(h.split("=", 1)) for h in s.get("extra_hosts") or []
                          if "=" in h),  # type: ignore[misc]
        secrets=tuple(_file_ref(r) for r in s.get("secrets") or []),
        configs=tuple(_file_ref(r) for r in s.get("configs") or []),
        logging=_logging(s.get("logging")),
        scale=units.parse_int(scale), deploy=deploy, profiles=tuple(s.get("profiles") or []),
        group_add=tuple(str(g) for g in s.get("group_add") or []),
        mac_address=s.get("mac_address"), ipc=s.get("ipc"), pid=s.get("pid"),
        uts=s.get("uts"),
        pull_policy=s.get("pull_policy"), build=s.get("build"),
        watch=develop.rules(s.get("develop")),
        extensions={k: v for k, v in s.items() if k.startswith("x-")},
        unsupported={k: s[k] for k in sorted(m.UNSUPPORTED_SERVICE_KEYS) if k in s},
    )


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else units.parse_int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _bytes(value: Any) -> int | None:
    return None if value is None else units.parse_bytes(value)


def _seconds(value: Any) -> float | None:
    return None if value is None else units.parse_duration(value)


def _security(opts: list[str]) -> dict[str, Any]:
    """no_new_privileges and seccomp from security_opt (the last entry of a key wins)."""
    parsed = dict(units.parse_security_opt(o) for o in opts)
    return {"no_new_privileges": parsed.get("no-new-privileges") in ("", "true"),
            "seccomp": parsed.get("seccomp")}


def _restart(value: Any) -> m.Restart | None:
    if value is None:
        return None
    name, retries = units.parse_restart(value)
    return m.Restart(name, retries)


def _tmpfs(spec: str) -> m.Tmpfs:
    target, size, mode, options = units.parse_tmpfs(spec)
    return m.Tmpfs(target, size, mode, options)


def _logging(spec: Mapping[str, Any] | None) -> m.Logging | None:
    from pystack.orchestrator.config.valuechecks import log_max_file, log_max_size

    if not spec:
        return None
    options = {str(k): str(v) for k, v in (spec.get("options") or {}).items()}
    size, files = options.get("max-size"), options.get("max-file")
    return m.Logging(driver=spec.get("driver"), options=options,
                     max_size=log_max_size(size) if size is not None else None,
                     max_file=log_max_file(files) if files is not None else None)


def _port(p: Mapping[str, Any]) -> m.PortMapping:
    return m.PortMapping(target=units.parse_int(p.get("target", 0)),
                         published=p.get("published") or None, host_ip=p.get("host_ip"),
                         protocol=p.get("protocol", "tcp"),
                         mode=p.get("mode", "ingress"), name=p.get("name"),
                         app_protocol=p.get("app_protocol"))


def _mount(v: Mapping[str, Any]) -> m.VolumeMount:
    bind = v.get("bind")
    vol = v.get("volume")
    tmpfs = v.get("tmpfs")
    mode = tmpfs.get("mode") if tmpfs else None
    return m.VolumeMount(
        type=v["type"], target=v.get("target", ""), source=v.get("source") or None,
        read_only=bool(v.get("read_only", False)), consistency=v.get("consistency"),
        bind=(m.BindOptions(propagation=bind.get("propagation"),
                            create_host_path=bool(bind.get("create_host_path", False)),
                            selinux=bind.get("selinux")) if bind is not None else None),
        volume=(m.VolumeOptions(nocopy=bool(vol.get("nocopy", False)),
                                subpath=vol.get("subpath")) if vol is not None else None),
        tmpfs=(m.TmpfsOptions(size=_bytes(tmpfs.get("size")),
                              mode=_octal(mode))
               if tmpfs is not None else None),
        image_subpath=(v.get("image") or {}).get("subpath"),
    )


def _service_network(v: Mapping[str, Any] | None) -> m.ServiceNetwork:
    if v is None:
        return m.ServiceNetwork()
    return m.ServiceNetwork(
        aliases=tuple(v.get("aliases") or []), ipv4_address=v.get("ipv4_address"),
        ipv6_address=v.get("ipv6_address"), link_local_ips=tuple(v.get("link_local_ips") or []),
        mac_address=v.get("mac_address"), priority=units.parse_int(v.get("priority") or 0),
        gw_priority=units.parse_int(v.get("gw_priority") or 0),
        interface_name=v.get("interface_name"),
        driver_opts={k: str(x) for k, x in (v.get("driver_opts") or {}).items()})


def _healthcheck(hc: Mapping[str, Any] | None) -> m.Healthcheck | None:
    if hc is None:
        return None
    test = hc.get("test")
    return m.Healthcheck(
        test=tuple(test) if test is not None else None,
        interval=_seconds(hc.get("interval")), timeout=_seconds(hc.get("timeout")),
        start_period=_seconds(hc.get("start_period")),
        start_interval=_seconds(hc.get("start_interval")),
        retries=_int(hc.get("retries")), disable=bool(hc.get("disable", False)))


def _ulimit(v: Any) -> m.Ulimit:
    if isinstance(v, Mapping):
        return m.Ulimit(soft=units.parse_int(v.get("soft", 0)),
                        hard=units.parse_int(v.get("hard", 0)))
    return m.Ulimit(soft=units.parse_int(v), hard=units.parse_int(v))


def _file_ref(r: Mapping[str, Any]) -> m.FileReference:
    mode = r.get("mode")
    return m.FileReference(
        source=r["source"], target=r.get("target"),
        uid=_opt_str(r.get("uid")), gid=_opt_str(r.get("gid")),
        mode=_octal(mode))


def _octal(mode: Any) -> int | None:
    if isinstance(mode, str):
        return int(mode, 8)
    return mode if isinstance(mode, int) else None


def _resource(spec: Mapping[str, Any] | None) -> m.ResourceSpec | None:
    if not spec:
        return None
    return m.ResourceSpec(cpus=_float(spec.get("cpus")), memory=_bytes(spec.get("memory")),
                          pids=_int(spec.get("pids")))


def _deploy(d: Mapping[str, Any] | None) -> m.Deploy | None:
    if d is None:
        return None
    res = d.get("resources") or {}
    return m.Deploy(replicas=_int(d.get("replicas")), limits=_resource(res.get("limits")),
                    reservations=_resource(res.get("reservations")),
                    labels={k: str(v) for k, v in _labels(d.get("labels")).items()},
                    raw=dict(d))


def _labels(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    return {str(i).partition("=")[0]: str(i).partition("=")[2] for i in value or []}


def _network(key: str, n: Mapping[str, Any]) -> m.Network:
    ext = n.get("external")
    ipam = n.get("ipam") or {}
    return m.Network(
        key=key, name=n.get("name", key), driver=n.get("driver"),
        driver_opts={k: str(v) for k, v in (n.get("driver_opts") or {}).items()},
        external=bool(ext), internal=bool(n.get("internal", False)),
        attachable=bool(n.get("attachable", False)), enable_ipv4=n.get("enable_ipv4"),
        enable_ipv6=n.get("enable_ipv6"), ipam_driver=ipam.get("driver"),
        ipam_config=tuple(
            m.IpamPool(subnet=c.get("subnet"), ip_range=c.get("ip_range"),
                       gateway=c.get("gateway"),
                       aux_addresses=dict(c.get("aux_addresses") or {}))
            for c in ipam.get("config") or []),
        labels=dict(_labels(n.get("labels"))))


def _volume(key: str, v: Mapping[str, Any]) -> m.Volume:
    return m.Volume(key=key, name=v.get("name", key), driver=v.get("driver"),
                    driver_opts={k: str(x) for k, x in (v.get("driver_opts") or {}).items()},
                    external=bool(v.get("external")), labels=dict(_labels(v.get("labels"))))


def _file_object(key: str, v: Mapping[str, Any]) -> m.FileObject:
    return m.FileObject(key=key, name=v.get("name", key), file=v.get("file"),
                        environment=v.get("environment"), content=v.get("content"),
                        external=bool(v.get("external")), labels=dict(_labels(v.get("labels"))))
