"""Normalisation: the loaded, validated mapping -> the canonical mapping, in the shape Compose
v2 prints with `config --format json` (every short syntax in long form, sizes as byte strings,
durations as Go duration strings, paths absolute, implicit dependencies and the default
network added, unused networks/volumes/secrets/configs dropped).

Input is schema-valid data (schema_check ran first); anything odd that slips through is left
as it is rather than raising. Expansion of short syntaxes lives in shortsyntax.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pystack.orchestrator.config import deps as dependencies
from pystack.orchestrator.config import rarekeys, units
from pystack.orchestrator.config import shortsyntax as short

_SIZE_KEYS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
_DURATION_KEYS = ("interval", "timeout", "start_period", "start_interval")
_PULL_POLICY = {"if_not_present": "missing"}


class Context:
    """What normalisation needs besides the data: names, directories, the environment."""

    def __init__(self, project: str, working_dir: str, environ: Mapping[str, str]) -> None:
        self.project = project
        self.working_dir = working_dir
        self.environ = environ

    def path(self, value: str) -> str:
        """Resolve a host path like compose-go: `~` is $HOME, relative is against the project."""
        if value.startswith("~"):
            home = self.environ.get("HOME") or os.path.expanduser("~")
            value = home + value[1:]
        if os.path.isabs(value) or short.WINDOWS_PATH.match(value):
            return value        # compose-go keeps absolute paths as written
        return os.path.normpath(os.path.join(self.working_dir, value))


def normalize(data: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """Return the canonical mapping of a whole (profile-filtered) project."""
    out: dict[str, Any] = {"name": ctx.project}
    services = {name: service(name, svc or {}, ctx)
                for name, svc in (data.get("services") or {}).items()}
    used_networks: set[str] = set()
    used_volumes: set[str] = set()
    used_secrets: set[str] = set()
    used_configs: set[str] = set()
    for svc in services.values():
        used_networks.update(svc.get("networks") or {})
        for vol in svc.get("volumes") or []:
            if vol.get("type") == "volume" and vol.get("source"):
                used_volumes.add(vol["source"])
        used_secrets.update(ref["source"] for ref in svc.get("secrets") or [])
        build = svc.get("build")
        if isinstance(build, dict):
            used_secrets.update(r["source"] if isinstance(r, dict) else str(r)  # build secrets
                                for r in build.get("secrets") or [])
        used_configs.update(ref["source"] for ref in svc.get("configs") or [])
    out["services"] = services

    networks = dict(data.get("networks") or {})
    if "default" in used_networks and "default" not in networks:
        networks["default"] = None
    out["networks"] = {key: network(key, networks[key] or {}, ctx)
                       for key in sorted(networks) if key in used_networks}
    out["volumes"] = {key: volume(key, spec or {}, ctx)
                      for key, spec in (data.get("volumes") or {}).items()
                      if key in used_volumes}
    for kind, used in (("secrets", used_secrets), ("configs", used_configs)):
        out[kind] = {key: file_object(key, spec or {}, ctx)
                     for key, spec in (data.get(kind) or {}).items() if key in used}
    for key, value in data.items():
        if isinstance(key, str) and key.startswith("x-"):
            out[key] = value
    if data.get("models"):
        out["models"] = data["models"]      # kept for the model; output.py does not print it
    return {k: v for k, v in out.items() if v or k in ("name", "services")}


def service(name: str, svc: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The canonical mapping of one service."""
    out: dict[str, Any] = {}
    for key, value in svc.items():
        if not isinstance(key, str) or key == "extends":
            continue
        out[key] = value
    for key in ("command", "entrypoint"):
        if isinstance(out.get(key), str):
            out[key] = short.split_command(out[key])
    env = _environment(svc, ctx)
    if env is not None:
        out["environment"] = env
    out.pop("env_file", None)
    if "labels" in out:
        out["labels"] = short.to_mapping(out["labels"], empty="")
    if "sysctls" in out:
        out["sysctls"] = short.to_mapping(out["sysctls"], empty="")
    if "annotations" in out:
        out["annotations"] = short.to_mapping(out["annotations"], empty="")
    if "ports" in out:
        out["ports"] = [p for item in out["ports"] for p in short.ports(item)]
    if "expose" in out:
        out["expose"] = [str(e) for e in out["expose"]]
    if "volumes" in out:
        out["volumes"] = [short.volume(v, ctx.path) for v in out["volumes"]]
    if isinstance(out.get("tmpfs"), str):
        out["tmpfs"] = [out["tmpfs"]]
    for key in ("dns", "dns_search", "env_file", "label_file"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    if "extra_hosts" in out:
        out["extra_hosts"] = short.extra_hosts(out["extra_hosts"])
    if "healthcheck" in out:
        out["healthcheck"] = _healthcheck(out["healthcheck"] or {})
    if "stop_grace_period" in out:
        out["stop_grace_period"] = _duration(out["stop_grace_period"])
    for key in _SIZE_KEYS:
        if key in out:
            out[key] = _size(out[key])
    if "cpus" in out:
        out["cpus"] = _cpus(out["cpus"])
    if "pull_policy" in out:
        out["pull_policy"] = _PULL_POLICY.get(out["pull_policy"], out["pull_policy"])
    if "secrets" in out:
        out["secrets"] = [short.file_ref(r, "/run/secrets/") for r in out["secrets"]]
    if "configs" in out:
        out["configs"] = [short.file_ref(r, None) for r in out["configs"]]
    if "logging" in out and isinstance(out["logging"], dict):
        log = dict(out["logging"])
        if isinstance(log.get("options"), dict):
            log["options"] = {k: _str(v) for k, v in log["options"].items()}
        out["logging"] = log
    if "build" in out:
        out["build"] = _build(out["build"], ctx)
    if "deploy" in out:
        out["deploy"] = _deploy(out["deploy"] or {})
    rarekeys.reshape(out, ctx.path)
    if "develop" in out:
        out["develop"] = _develop(out["develop"] or {}, ctx)
    out["depends_on"] = _depends_on(out, ctx)
    if not out["depends_on"]:
        del out["depends_on"]
    if not out.get("networks") and "network_mode" not in out and "provider" not in out:
        out.pop("networks", None)       # `networks: []` means the default network
    if "networks" in out:
        nets = out["networks"]
        if isinstance(nets, list):
            out["networks"] = dict.fromkeys(nets)
        else:
            out["networks"] = {k: _service_network(v) for k, v in (nets or {}).items()}
    elif "network_mode" not in out and "provider" not in out:
        out["networks"] = {"default": None}
    nets = out.get("networks")
    if isinstance(nets, dict):
        out["networks"] = {k: rarekeys.omit_zero(v) if isinstance(v, dict) else v
                           for k, v in nets.items()}
    return rarekeys.omit_zero(out)


def _environment(svc: Mapping[str, Any], ctx: Context) -> dict[str, str | None] | None:
    from pystack.orchestrator.config.envfiles import read_env_files

    if "environment" not in svc and "env_file" not in svc:
        return None
    env: dict[str, str | None] = {}
    if svc.get("env_file") is not None:
        env.update(read_env_files(svc["env_file"], ctx.path, ctx.environ))
    for key, value in short.to_mapping(svc.get("environment") or {}, empty=None).items():
        if value is None:
            value = ctx.environ.get(key)
        env[key] = value
    return dict(sorted(env.items()))


def _healthcheck(hc: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(hc)
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    for key in _DURATION_KEYS:
        if key in out:
            out[key] = _duration(out[key])
    return out


def _build(build: Any, ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"context": build} if isinstance(build, str) else dict(build)
    context = out.get("context", ".")
    if not short.is_remote(context):
        out["context"] = ctx.path(context)
    else:
        out["context"] = context
    if "dockerfile_inline" not in out:
        out.setdefault("dockerfile", "Dockerfile")
    for key in ("args", "labels"):
        if key in out:
            out[key] = short.to_mapping(out[key], empty=None)
    if isinstance(out.get("additional_contexts"), dict):
        out["additional_contexts"] = {
            k: v if not isinstance(v, str) or "://" in v or v.startswith(
                ("docker-image:", "service:", "target:", "oci-"))
            else ctx.path(v) for k, v in out["additional_contexts"].items()}
    if isinstance(out.get("secrets"), list):       # compose-go's long form: {source: tok}
        out["secrets"] = [{"source": r} if isinstance(r, str) else r for r in out["secrets"]]
    for key in ("provenance", "sbom"):
        if isinstance(out.get(key), bool):
            out[key] = "true" if out[key] else "false"      # string attestations in compose-go
    return out


def _deploy(deploy: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(deploy)
    if "labels" in out:
        out["labels"] = short.to_mapping(out["labels"], empty="")
    for part, keys in (("restart_policy", ("delay", "window")),
                       ("update_config", ("delay", "monitor")),
                       ("rollback_config", ("delay", "monitor"))):
        if isinstance(out.get(part), dict):
            out[part] = {k: _duration(v) if k in keys else v for k, v in out[part].items()}
    resources = dict(out.get("resources") or {})
    for part in ("limits", "reservations"):
        if isinstance(resources.get(part), dict):
            spec = dict(resources[part])
            if "memory" in spec:
                spec["memory"] = _size(spec["memory"])
            if "cpus" in spec:
                spec["cpus"] = _cpus(spec["cpus"])
            resources[part] = spec
    out["resources"] = resources
    out.setdefault("placement", {})
    return out


def _develop(develop: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    from pystack.orchestrator.config import develop as dev

    return dev.normalize(develop, ctx.path, ctx.environ)


def _depends_on(svc: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    deps: dict[str, Any] = {}
    raw = svc.get("depends_on") or {}
    if isinstance(raw, list):
        raw = dict.fromkeys(raw)
    for name, spec in raw.items():
        spec = dict(spec or {})
        out: dict[str, Any] = {"condition": spec.get("condition", "service_started")}
        if spec.get("restart"):
            out["restart"] = True
        out["required"] = spec.get("required", True)
        deps[name] = out
    # links, volumes_from and `service:` modes are implicit dependencies (config/deps.py;
    # compose-go adds them with restart: true): from here on depends_on holds them all.
    for ref in dependencies.implicit(svc):
        deps.setdefault(ref.service, {"condition": "service_started", "restart": True,
                                      "required": True})
    return deps


def _service_network(spec: Any) -> Any:
    if spec is None:
        return None
    return dict(spec)


def network(key: str, spec: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"name": _object_name(key, spec, ctx)}
    out.update({k: v for k, v in spec.items() if k != "name" and not str(k).startswith("x-")})
    out.setdefault("ipam", {})
    # compose-go prints these booleans only when true, and has no ipam.options.
    for flag in ("internal", "attachable", "external"):
        if out.get(flag) is False:
            del out[flag]
    if isinstance(out.get("ipam"), dict) and "options" in out["ipam"]:
        out["ipam"] = {k: v for k, v in out["ipam"].items() if k != "options"}
    if "labels" in out:
        out["labels"] = short.to_mapping(out["labels"], empty="")
    return rarekeys.omit_zero(out)


def volume(key: str, spec: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"name": _object_name(key, spec, ctx)}
    out.update({k: v for k, v in spec.items() if k != "name" and not str(k).startswith("x-")})
    if "labels" in out:
        out["labels"] = short.to_mapping(out["labels"], empty="")
    return rarekeys.omit_zero(out)


def file_object(key: str, spec: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"name": _object_name(key, spec, ctx)}
    out.update({k: v for k, v in spec.items() if k != "name" and not str(k).startswith("x-")})
    if isinstance(out.get("file"), str):
        out["file"] = ctx.path(out["file"])
    if "labels" in out:
        out["labels"] = short.to_mapping(out["labels"], empty="")
    return rarekeys.omit_zero(out)


def _object_name(key: str, spec: Mapping[str, Any], ctx: Context) -> str:
    name = spec.get("name")
    if isinstance(name, str) and name:
        return name
    if spec.get("external"):
        return key
    return f"{ctx.project}_{key}"


def _duration(value: Any) -> Any:
    try:
        return units.format_duration(units.parse_duration_ns(value))
    except ValueError:
        return value


def _size(value: Any) -> Any:
    try:
        return str(units.parse_bytes(value))
    except ValueError:
        return value


def _cpus(value: Any) -> Any:
    try:
        return units.parse_cpus(value)
    except ValueError:
        return value


def _str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def relative_to(path: str, base: str) -> str:
    """`path` relative to `base` when it is inside it (used to hide the project directory)."""
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path
