"""The one container of a service's pod: command, arguments, working dir, the environment
(a ConfigMap), ports, tty/stdin, security context, resources, and the readiness, liveness and
startup probes Docker's healthcheck semantics map to.  Volume mounts are storage.py's."""

from __future__ import annotations

import math
from typing import Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.convert import names
from pystack.orchestrator.convert.context import Context

# The Compose defaults of a healthcheck (Docker's).
INTERVAL, TIMEOUT, RETRIES, START_INTERVAL = 30.0, 30.0, 3, 5.0


def container(ctx: Context, svc: m.Service, image: str) -> tuple[dict[str, Any],
                                                                  list[dict[str, Any]]]:
    """The container (without its volume mounts) and the objects it needs (its
    environment's ConfigMap)."""
    objects: list[dict[str, Any]] = []
    c: dict[str, Any] = {"name": ctx.name(svc.name), "image": image}
    if svc.entrypoint is not None:
        c["command"] = list(svc.entrypoint)
    if svc.command is not None:
        c["args"] = list(svc.command)
    if svc.working_dir:
        c["workingDir"] = svc.working_dir
    env_cm = env_configmap(ctx, svc)
    if env_cm is not None:
        objects.append(env_cm)
        c["envFrom"] = [{"configMapRef": {"name": env_cm["metadata"]["name"]}}]
    ports = container_ports(svc)
    if ports:
        c["ports"] = ports
    c.update({k: True for k, on in (("tty", svc.tty), ("stdin", svc.stdin_open)) if on})
    sc = security_context(ctx, svc)
    if sc:
        c["securityContext"] = sc
    res = resources(svc)
    if res:
        c["resources"] = res
    c.update(probes(ctx, svc))
    return c, objects


def env_configmap(ctx: Context, svc: m.Service) -> dict[str, Any] | None:
    data: dict[str, str] = {}
    for k, v in sorted(svc.environment.items()):
        if v is None:
            ctx.warn(("services", svc.name, "environment", k), "no value (it is taken from "
                     "the environment of `docker compose up`); left out")
            continue
        data[k] = v
    if not data:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ctx.meta(names.label(f"{ctx.name(svc.name)}-env"), svc.name),
            "data": data}


def container_ports(svc: m.Service) -> list[dict[str, Any]]:
    seen: dict[tuple[int, str], None] = {}
    for p in svc.ports:
        seen.setdefault((p.target, p.protocol.upper()), None)
    for e in svc.expose:
        port, _, proto = e.partition("/")
        first, _, last = port.partition("-")
        for n in range(int(first), int(last or first) + 1):
            seen.setdefault((n, (proto or "tcp").upper()), None)
    return [{"containerPort": n, "protocol": proto} for n, proto in seen]


def security_context(ctx: Context, svc: m.Service) -> dict[str, Any]:
    sc: dict[str, Any] = {}
    caps: dict[str, list[str]] = {}
    if svc.cap_add:
        caps["add"] = sorted({c.upper().removeprefix("CAP_") for c in svc.cap_add})
    if svc.cap_drop:
        caps["drop"] = sorted({c.upper().removeprefix("CAP_") for c in svc.cap_drop})
    if caps:
        sc["capabilities"] = caps
    sc.update({k: True for k, on in (("privileged", svc.privileged),
                                     ("readOnlyRootFilesystem", svc.read_only)) if on})
    for opt in svc.security_opt:
        key, _, value = opt.replace("=", ":", 1).partition(":")
        if key == "no-new-privileges" and value in ("", "true"):
            sc["allowPrivilegeEscalation"] = False
        elif key == "seccomp" and value == "unconfined":
            sc["seccompProfile"] = {"type": "Unconfined"}
        elif key == "apparmor" and value == "unconfined":
            sc["appArmorProfile"] = {"type": "Unconfined"}
        else:
            ctx.warn(("services", svc.name, "security_opt"), f"{opt!r} cannot be expressed")
    return sc


def _quantity_bytes(n: int) -> str:
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _cpu(c: float) -> str:
    milli = round(c * 1000)
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def resources(svc: m.Service) -> dict[str, Any]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    lim = svc.deploy.limits if svc.deploy else None
    cpus = (lim.cpus if lim and lim.cpus else None) or svc.cpus
    mem = (lim.memory if lim and lim.memory else None) or svc.mem_limit
    if cpus:
        limits["cpu"] = _cpu(cpus)
    if mem:
        limits["memory"] = _quantity_bytes(mem)
    res = svc.deploy.reservations if svc.deploy else None
    if res and res.cpus:
        requests["cpu"] = _cpu(res.cpus)
    rmem = (res.memory if res and res.memory else None) or svc.mem_reservation
    if rmem:
        requests["memory"] = _quantity_bytes(rmem)
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def probe_action(test: tuple[str, ...]) -> dict[str, Any] | None:
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return {"exec": {"command": ["/bin/sh", "-c", " ".join(test[1:])]}}
    if test[0] == "CMD":
        return {"exec": {"command": list(test[1:])}}
    return {"exec": {"command": ["/bin/sh", "-c", " ".join(test)]}}


def probes(ctx: Context, svc: m.Service) -> dict[str, Any]:
    """healthcheck -> readiness and liveness probes (and a startupProbe for start_period):
    Docker runs the test every `interval`, `retries` failures in a row make the container
    unhealthy, failures during `start_period` do not count."""
    hc = svc.healthcheck
    if hc is None or hc.disable or hc.test is None:
        if hc is None or (hc.test is None and not hc.disable):
            return {}
        return {}
    action = probe_action(hc.test)
    if action is None:
        return {}
    period = max(1, math.ceil(hc.interval if hc.interval else INTERVAL))
    timeout = max(1, math.ceil(hc.timeout if hc.timeout else TIMEOUT))
    retries = hc.retries if hc.retries is not None and hc.retries > 0 else RETRIES
    base = {**action, "periodSeconds": period, "timeoutSeconds": timeout,
            "failureThreshold": retries}
    out: dict[str, Any] = {"readinessProbe": dict(base), "livenessProbe": dict(base)}
    if hc.start_period:
        sp = max(1, math.ceil(hc.start_interval if hc.start_interval else START_INTERVAL))
        out["startupProbe"] = {**action, "periodSeconds": sp, "timeoutSeconds": timeout,
                               "failureThreshold": math.ceil(hc.start_period / sp) + retries}
    return out
