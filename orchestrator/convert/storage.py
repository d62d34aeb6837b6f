"""Storage and files: named volumes as PersistentVolumeClaims (size and access mode from
`x-k8s` keys or driver_opts), anonymous volumes, tmpfs and shm_size as emptyDirs, configs
as ConfigMaps, secrets as Secrets (values left out of anything printed to standard output
unless asked), bind-mounted files as ConfigMaps (with a warning) and bind-mounted
directories as a warning (hostPath only when asked)."""

from __future__ import annotations

import base64
import os
from typing import Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.convert import names
from pystack.orchestrator.convert.context import Context

MAX_FILE = 1 << 20          # a ConfigMap holds at most 1 MiB
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")


def _x_k8s(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        ext = raw.get("x-k8s")
        if isinstance(ext, dict):
            return ext
    return {}


def pvc_name(ctx: Context, key: str) -> str:
    return names.label(ctx.project.volumes[key].name)


def file_object_name(kind: str, obj: m.FileObject) -> str:
    return names.label(f"{kind}-{obj.name}")


def _read(path: str) -> bytes | None:
    try:
        st = os.stat(path)
        if not os.path.isfile(path) or st.st_size > MAX_FILE:
            return None
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _file_object_value(ctx: Context, obj: m.FileObject) -> bytes | None:
    if obj.content is not None:
        return obj.content.encode()
    if obj.environment is not None:
        value = ctx.project.environment.get(obj.environment, os.environ.get(obj.environment))
        return value.encode() if value is not None else None
    if obj.file is not None:
        return _read(obj.file)
    return None


def project_objects(ctx: Context) -> list[dict[str, Any]]:
    """The PVCs, ConfigMaps and Secrets the project's services share."""
    out: list[dict[str, Any]] = []
    users: dict[str, int] = {}
    for svc in ctx.project.services.values():
        for v in svc.volumes:
            if v.type == "volume" and v.source:
                users[v.source] = users.get(v.source, 0) + svc.scale
    for key in sorted(users):
        vol = ctx.project.volumes.get(key)
        if vol is None:
            continue
        if vol.external:
            ctx.warn(("volumes", key, "external"), f"external: the claim {pvc_name(ctx, key)!r} "
                     "must exist in the cluster")
            continue
        raw = (ctx.raw.get("volumes") or {}).get(key)
        ext = _x_k8s(raw)
        size = str(ext.get("size") or vol.driver_opts.get("size") or ctx.options.storage_size)
        mode = str(ext.get("accessMode") or vol.driver_opts.get("accessMode")
                   or "ReadWriteOnce")
        if mode not in ACCESS_MODES:
            ctx.warn(("volumes", key), f"access mode {mode!r} is not one of "
                     f"{', '.join(ACCESS_MODES)}; using ReadWriteOnce")
            mode = "ReadWriteOnce"
        if users[key] > 1 and mode == "ReadWriteOnce":
            ctx.warn(("volumes", key), "mounted by more than one pod: ReadWriteOnce binds it to "
                     "one node (set x-k8s.accessMode: ReadWriteMany if the storage allows)")
        spec: dict[str, Any] = {"accessModes": [mode], "resources": {"requests": {"storage": size}}}
        if ext.get("storageClass"):
            spec["storageClassName"] = str(ext["storageClass"])
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": ctx.meta(pvc_name(ctx, key)), "spec": spec})
    used_secrets = {r.source for s in ctx.project.services.values() for r in s.secrets}
    used_configs = {r.source for s in ctx.project.services.values() for r in s.configs}
    for kind, objs, used in (("config", ctx.project.configs, used_configs),
                             ("secret", ctx.project.secrets, used_secrets)):
        for key in sorted(used):
            obj = objs.get(key)
            if obj is None:
                continue
            top = "configs" if kind == "config" else "secrets"
            if obj.external:
                ctx.warn((top, key, "external"), f"external: the {kind} must exist in the "
                         "cluster")
                continue
            value = _file_object_value(ctx, obj)
            name = file_object_name(kind, obj)
            if value is None:
                ctx.warn((top, key), "its value could not be read; the object is left empty")
            if kind == "config":
                cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": ctx.meta(name)}
                if value is not None:
                    try:
                        cm["data"] = {"content": value.decode()}
                    except UnicodeDecodeError:
                        cm["binaryData"] = {"content": base64.b64encode(value).decode()}
                out.append(cm)
            else:
                sec: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                                       "metadata": ctx.meta(name), "type": "Opaque"}
                if value is not None and ctx.options.secret_values:
                    sec["data"] = {"content": base64.b64encode(value).decode()}
                elif value is not None:
                    ctx.warn((top, key), "value left out of standard output (use -o DIR or "
                             "--secret-values to write it)")
                out.append(sec)
    return out


def _tmpfs_size(entry: Any) -> tuple[str, int | None]:
    """(target, size in bytes) of a `tmpfs:` entry, a string "/path:size=...,mode=..."."""
    if not isinstance(entry, str):
        target = getattr(entry, "target", None) or getattr(entry, "path", "")
        return str(target), getattr(entry, "size", None)
    target, _, opts = entry.partition(":")
    size = None
    for opt in opts.split(","):
        k, _, v = opt.partition("=")
        if k == "size" and v:
            size = _bytes(v)
    return target, size


def _bytes(text: str) -> int | None:
    units = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b") if text.lower().endswith(("kb", "mb", "gb")) \
        else text.strip().lower()
    num = t.rstrip("kmgb")
    unit = t[len(num):]
    if not num.isdigit() or unit not in units:
        return None
    return int(num) * units[unit]


def _empty_dir(size: int | None) -> dict[str, Any]:
    ed: dict[str, Any] = {"medium": "Memory"}
    if size:
        ed["sizeLimit"] = str(size)
    return {"emptyDir": ed}


def pod_storage(ctx: Context, svc: m.Service) -> tuple[list[dict[str, Any]],
                                                       list[dict[str, Any]],
                                                       list[dict[str, Any]]]:
    """(pod volumes, container volumeMounts, objects only this service needs)."""
    vols: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    base = ctx.name(svc.name)

    def add(vol: dict[str, Any], mount: dict[str, Any]) -> None:
        name = f"v{len(vols)}"
        vols.append({"name": name, **vol})
        mounts.append({"name": name, **mount})

    for i, v in enumerate(svc.volumes):
        path = ("services", svc.name, "volumes", i)
        mount: dict[str, Any] = {"mountPath": v.target}
        if v.read_only:
            mount["readOnly"] = True
        if v.type == "volume" and v.source:
            if v.volume and v.volume.subpath:
                mount["subPath"] = v.volume.subpath
            add({"persistentVolumeClaim": {"claimName": pvc_name(ctx, v.source)}}, mount)
        elif v.type == "volume":
            ctx.warn(path, "an anonymous volume becomes an emptyDir: its data lives as long "
                     "as the pod")
            add({"emptyDir": {}}, mount)
        elif v.type == "tmpfs":
            add(_empty_dir(v.tmpfs.size if v.tmpfs else None), mount)
        elif v.type == "bind" and v.source:
            if os.path.isfile(v.source):
                data = _read(v.source)
                cm_name = names.label(f"{base}-file{i}")
                cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": ctx.meta(cm_name, svc.name)}
                key = "content"
                if data is None:
                    ctx.warn(path, f"{v.source} is larger than a ConfigMap holds (1 MiB); "
                             "left out")
                    continue
                try:
                    cm["data"] = {key: data.decode()}
                except UnicodeDecodeError:
                    cm["binaryData"] = {key: base64.b64encode(data).decode()}
                objects.append(cm)
                ctx.warn(path, f"the bind-mounted file {v.source} is copied into the "
                         f"ConfigMap {cm_name} (a snapshot: edits need a new convert)")
                add({"configMap": {"name": cm_name}}, {**mount, "subPath": key})
            elif ctx.options.host_path:
                ctx.warn(path, f"the host directory {v.source} becomes a hostPath volume "
                         "(it must exist on every node)")
                add({"hostPath": {"path": v.source, "type": "Directory"}}, mount)
            else:
                ctx.warn(path, f"the bind-mounted directory {v.source} cannot be carried to "
                         "a cluster (left out; --host-path mounts it from the node)")
        else:
            ctx.warn(path, f"a {v.type} mount cannot be expressed; left out")
    for j, entry in enumerate(svc.tmpfs):
        target, size = _tmpfs_size(entry)
        if target:
            add(_empty_dir(size), {"mountPath": target})
        else:
            ctx.warn(("services", svc.name, "tmpfs", j), "no target; left out")
    if svc.shm_size:
        add(_empty_dir(svc.shm_size), {"mountPath": "/dev/shm"})
    for kind, refs in (("config", svc.configs), ("secret", svc.secrets)):
        objs = ctx.project.configs if kind == "config" else ctx.project.secrets
        for ref in refs:
            obj = objs.get(ref.source)
            if obj is None:
                continue
            default = f"/run/secrets/{ref.source}" if kind == "secret" else f"/{ref.source}"
            target = ref.target or default
            if not target.startswith("/"):
                target = (f"/run/secrets/{target}" if kind == "secret" else f"/{target}")
            ref_name = obj.name if obj.external else file_object_name(kind, obj)
            src: dict[str, Any] = ({"secret": {"secretName": ref_name}} if kind == "secret"
                                   else {"configMap": {"name": ref_name}})
            inner = next(iter(src.values()))
            if not obj.external:
                inner["items"] = [{"key": "content", "path": "content"}]
            if ref.mode is not None:
                inner["defaultMode"] = ref.mode
            if ref.uid or ref.gid:
                ctx.warn(("services", svc.name, f"{kind}s"), f"{ref.source}: uid/gid of the "
                         "file cannot be expressed (use the pod's fsGroup)")
            m_: dict[str, Any] = {"mountPath": target, "readOnly": True}
            if not obj.external:
                m_["subPath"] = "content"   # the one file at its target, as Compose puts it
            add(src, m_)
    return vols, mounts, objects
