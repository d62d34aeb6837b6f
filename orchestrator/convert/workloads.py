"""One Compose service as a Kubernetes workload: a Deployment, a StatefulSet (one replica
with a named volume, or asked for), or a Job (`restart: "no"` / `on-failure`, and every
service another waits on with `service_completed_successfully`), with its pod template:
its container (container.py: command, environment, ports, probes from the healthcheck,
resources, security context), init containers that wait for `depends_on`, and what the
pod-level keys map to."""

from __future__ import annotations

import math
from typing import Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.convert import container, names, storage
from pystack.orchestrator.convert.context import Context

KINDS = ("Deployment", "StatefulSet", "Job")


def image_of(ctx: Context, svc: m.Service) -> str:
    """The image the pod runs: `image:`, else the name pystack builds (`<project>-<svc>`)."""
    return svc.image or f"{ctx.project.name}-{svc.name}"


def completion_waited(ctx: Context, service: str) -> bool:
    return any(d.condition == "service_completed_successfully"
               for s in ctx.project.services.values() for n, d in s.depends_on.items()
               if n == service)


def restart_of(svc: m.Service) -> tuple[str | None, int | None]:
    """(policy name or None when the file gives none, max retries or None)."""
    r = svc.restart
    if r is None:
        return None, None
    return r.name, r.max_retries


def kind_of(ctx: Context, svc: m.Service) -> str:
    asked = svc.labels.get("pystack.k8s.kind")
    ext = svc.extensions.get("x-k8s")
    if isinstance(ext, dict) and isinstance(ext.get("kind"), str):
        asked = ext["kind"]
    if asked:
        for k in KINDS:
            if asked.lower() == k.lower():
                return k
        ctx.warn(("services", svc.name, "labels"), f"unknown workload kind {asked!r} "
                 f"(one of {', '.join(KINDS)}); using the default")
    if completion_waited(ctx, svc.name):
        return "Job"
    restart, _ = restart_of(svc)
    if restart in ("no", "on-failure"):
        return "Job"
    named = [v for v in svc.volumes if v.type == "volume" and v.source]
    if named and svc.scale == 1:
        return "StatefulSet"
    return "Deployment"


def workload(ctx: Context, svc: m.Service) -> list[dict[str, Any]]:
    """The workload of `svc` and the objects only it needs (its env ConfigMap, RBAC for
    waiting on a Job)."""
    name = ctx.name(svc.name)
    kind = kind_of(ctx, svc)
    extra: list[dict[str, Any]] = []
    pod, pod_objects = pod_spec(ctx, svc, kind)
    extra.extend(pod_objects)
    template: dict[str, Any] = {
        "metadata": {"labels": {**names.selector(ctx.project.name, svc.name),
                                **network_labels(ctx, svc)}},
        "spec": pod,
    }
    annotations = annotations_of(svc)
    if annotations:
        template["metadata"]["annotations"] = annotations
    spec: dict[str, Any]
    restart, retries = restart_of(svc)
    if kind == "Job":
        limit = 0
        if restart == "on-failure":
            limit = retries if retries is not None else 6
            if retries is None:
                ctx.warn(("services", svc.name, "restart"), "on-failure without a limit "
                         "retries forever in Compose; the Job's backoffLimit is 6")
        pod["restartPolicy"] = "OnFailure" if restart == "on-failure" else "Never"
        if svc.scale != 1:
            ctx.warn(("services", svc.name, "scale"), "a Job runs one pod here (parallelism "
                     "and completions are left at 1)")
        spec = {"backoffLimit": limit, "template": template}
    else:
        spec = {"replicas": svc.scale,
                "selector": {"matchLabels": names.selector(ctx.project.name, svc.name)},
                "template": template}
        if kind == "StatefulSet":
            spec["serviceName"] = name
        if restart in ("no", "on-failure"):
            ctx.warn(("services", svc.name, "restart"), f"a {kind} always restarts its pods "
                     f"(restart: {restart} cannot be kept)")
    api = "batch/v1" if kind == "Job" else "apps/v1"
    meta = ctx.meta(name, svc.name)
    if svc.labels:
        meta["labels"] = {**{k: names.label_value(v) for k, v in svc.labels.items()
                             if _label_key_ok(k)}, **meta["labels"]}
        for k in svc.labels:
            if not _label_key_ok(k):
                meta.setdefault("annotations", {})[k] = svc.labels[k]
    obj = {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}
    return [obj, *extra]


def _label_key_ok(key: str) -> bool:
    prefix, _, nm = key.rpartition("/")
    if not nm or len(nm) > 63 or len(prefix) > 253:
        return False
    ok = all(c.isalnum() or c in "-_." for c in nm) and nm[0].isalnum() and nm[-1].isalnum()
    return ok and all(c.isalnum() or c in "-." for c in prefix.lower())


def annotations_of(svc: m.Service) -> dict[str, str]:
    raw = svc.unsupported.get("annotations")
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return {}


def network_labels(ctx: Context, svc: m.Service) -> dict[str, str]:
    return {names.network_label(key): "true" for key in sorted(svc.networks)}


def pod_spec(ctx: Context, svc: m.Service, kind: str) -> tuple[dict[str, Any],
                                                                 list[dict[str, Any]]]:
    c, objects = container.container(ctx, svc, image_of(ctx, svc))
    vols, mounts, vol_objects = storage.pod_storage(ctx, svc)
    objects.extend(vol_objects)
    if mounts:
        c["volumeMounts"] = mounts
    pod: dict[str, Any] = {"containers": [c]}
    if vols:
        pod["volumes"] = vols
    inits, rbac = init_containers(ctx, svc)
    if inits:
        pod["initContainers"] = inits
    if rbac:
        pod["serviceAccountName"] = rbac[0]["metadata"]["name"]
        objects.extend(rbac)
    if kind != "Job":
        pod["restartPolicy"] = "Always"
    if svc.stop_grace_period is not None:
        pod["terminationGracePeriodSeconds"] = math.ceil(svc.stop_grace_period)
    if svc.stop_signal and svc.stop_signal.upper() not in ("SIGTERM", "TERM", "15"):
        ctx.warn(("services", svc.name, "stop_signal"), f"Kubernetes stops containers with "
                 f"SIGTERM; {svc.stop_signal} cannot be expressed (make the image's "
                 "STOPSIGNAL say it)")
    if svc.hostname:
        pod["hostname"] = names.label(svc.hostname.split(".")[0])
    if svc.domainname:
        ctx.warn(("services", svc.name, "domainname"), "not expressible (a pod's domain comes "
                 "from its Service's subdomain)")
    aliases = host_aliases(ctx, svc)
    if aliases:
        pod["hostAliases"] = aliases
    dns = dns_config(ctx, svc)
    if dns:
        pod["dnsConfig"] = dns
    if svc.sysctls:
        pod.setdefault("securityContext", {})["sysctls"] = [
            {"name": k, "value": str(v)} for k, v in sorted(svc.sysctls.items())]
    if svc.user:
        user, _, group = svc.user.partition(":")
        psc = pod.setdefault("securityContext", {})
        if user.isdigit():
            psc["runAsUser"] = int(user)
        else:
            ctx.warn(("services", svc.name, "user"), f"user {user!r} is a name: Kubernetes "
                     "takes only numeric ids (runAsUser); the image's default user stays")
        if group.isdigit():
            psc["runAsGroup"] = int(group)
        elif group:
            ctx.warn(("services", svc.name, "user"), f"group {group!r} is a name: "
                     "Kubernetes takes only numeric ids (runAsGroup)")
        if not psc:
            pod.pop("securityContext")
    groups = [int(g) for g in svc.group_add if g.isdigit()]
    if groups:
        pod.setdefault("securityContext", {})["supplementalGroups"] = groups
    for g in svc.group_add:
        if not g.isdigit():
            ctx.warn(("services", svc.name, "group_add"), f"group {g!r} is a name: "
                     "supplementalGroups takes numeric ids")
    unexpressible(ctx, svc)
    return pod, objects


def init_containers(ctx: Context, svc: m.Service) -> tuple[list[dict[str, Any]],
                                                           list[dict[str, Any]]]:
    """depends_on as init containers: `service_started`/`service_healthy` wait until the
    dependency's headless Service resolves (it lists only ready pods, so readiness is the
    health condition); `service_completed_successfully` waits for its Job to complete,
    which needs read access to Jobs (a ServiceAccount, Role and RoleBinding)."""
    inits: list[dict[str, Any]] = []
    jobs: list[str] = []
    for dep, d in sorted(svc.depends_on.items()):
        if dep not in ctx.project.services:
            continue                    # an optional dependency left out by profiles
        target = ctx.name(dep)
        if d.condition == "service_completed_successfully":
            jobs.append(target)
            continue
        inits.append({
            "name": names.label(f"wait-for-{target}"),
            "image": ctx.options.wait_image,
            "command": ["sh", "-c", f"until nslookup {target} >/dev/null 2>&1; do "
                        f"echo waiting for {target}; sleep 2; done"]})
    rbac: list[dict[str, Any]] = []
    if jobs:
        sa = names.label(f"{ctx.name(svc.name)}-waiter")
        inits.insert(0, {
            "name": "wait-for-jobs", "image": ctx.options.kubectl_image,
            "command": ["kubectl", "wait", "--for=condition=complete", "--timeout=-1s",
                        *[f"job/{j}" for j in jobs]]})
        rbac = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": ctx.meta(sa, svc.name)},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": ctx.meta(sa, svc.name),
             "rules": [{"apiGroups": ["batch"], "resources": ["jobs"],
                        "verbs": ["get", "list", "watch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": ctx.meta(sa, svc.name),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
             "subjects": [{"kind": "ServiceAccount", "name": sa,
                           **({"namespace": ctx.options.namespace}
                              if ctx.options.namespace else {})}]}]
    return inits, rbac


def host_aliases(ctx: Context, svc: m.Service) -> list[dict[str, Any]]:
    by_ip: dict[str, list[str]] = {}
    for host, ip in svc.extra_hosts:
        if ip == "host-gateway":
            ctx.warn(("services", svc.name, "extra_hosts"), f"{host}: host-gateway has no "
                     "Kubernetes equivalent; left out")
            continue
        by_ip.setdefault(ip, []).append(host)
    return [{"ip": ip, "hostnames": hosts} for ip, hosts in sorted(by_ip.items())]


def dns_config(ctx: Context, svc: m.Service) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if svc.dns:
        out["nameservers"] = list(svc.dns)
        ctx.warn(("services", svc.name, "dns"), "added to the cluster's resolvers "
                 "(dnsConfig.nameservers), not instead of them")
    if svc.dns_search:
        out["searches"] = list(svc.dns_search)
    if svc.dns_opt:
        out["options"] = [dict(zip(("name", "value"), o.split(":", 1), strict=False))
                          for o in svc.dns_opt]
    return out


# Keys with no Kubernetes equivalent: each is named once, never silently dropped.
_UNEXPRESSIBLE = {
    "network_mode": "a pod has its own network namespace",
    "ipc": "pods do not share IPC namespaces with hosts or other pods",
    "pid": "pods do not share PID namespaces with hosts or other pods",
    "volumes_from": "mount the same volumes explicitly",
    "links": "every service is reachable by its name already",
    "mac_address": "pods get their addresses from the cluster",
    "cpu_shares": "use deploy.resources.reservations.cpus",
    "cpu_quota": "use cpus", "cpu_period": "use cpus", "cpuset": "no pod-level cpuset",
    "pids_limit": "set by the kubelet, not per pod", "oom_score_adj": "set by the kubelet",
    "blkio_weight": "no block-IO weights", "memswap_limit": "no swap limit per pod",
    "ulimits": "no per-pod rlimits", "devices": "use a device plugin",
    "logging": "the cluster's logging applies", "container_name": "pods get generated names",
    "userns_mode": "use hostUsers", "uts": "pods have their own UTS namespace",
    "init": "no init process option", "cgroup_parent": "set by the kubelet",
    "runtime": "use a RuntimeClass", "platform": "use nodeSelector kubernetes.io/arch",
    "gpus": "use a device plugin", "develop": "a development-only key",
}


def unexpressible(ctx: Context, svc: m.Service) -> None:
    raw = ctx.raw_service(svc.name)
    for key, why in _UNEXPRESSIBLE.items():
        value = raw.get(key)
        if value in (None, {}, [], "", False):
            continue
        if key == "links":
            continue                         # implied by the Services; nothing lost
        if key in ("ipc", "pid") and value == "private":
            continue
        ctx.warn(("services", svc.name, key), f"cannot be expressed in Kubernetes ({why})")
