"""The entry point of `pystack convert`: the whole project (or some services) as an ordered
list of Kubernetes objects plus the warnings, and their rendering: YAML documents or a JSON
List on standard output, or one file per object in a directory (with a kustomization.yaml
when asked).  Output is deterministic: objects sorted by kind (in the order a cluster wants
to receive them) and name, keys sorted."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.convert import policies, services, storage, workloads
from pystack.orchestrator.convert.context import Context, Options
from pystack.orchestrator.convert.positions import Source

ORDER = ("Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret",
         "PersistentVolumeClaim", "Service", "StatefulSet", "Deployment", "Job",
         "NetworkPolicy")


@dataclass(frozen=True)
class Result:
    objects: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...]


def convert(project: m.Project, options: Options, selected: Iterable[str] = (),
            source: Source | None = None) -> Result:
    src = source or Source()
    ctx = Context(project, options, src.position, src.raw)
    chosen = list(selected) or sorted(project.services)
    objs: list[dict[str, Any]] = []
    if options.namespace:
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": options.namespace,
                                  "labels": ctx.meta(options.namespace)["labels"]}})
    for name in chosen:
        svc = project.services[name]
        if ctx.raw_service(name).get("build") is not None and not svc.image:
            ctx.warn(("services", name, "build"), f"built by pystack as "
                     f"{workloads.image_of(ctx, svc)}: push it where the cluster can pull it")
        objs.extend(workloads.workload(ctx, svc))
        objs.extend(services.services(ctx, svc))
    objs.extend(storage.project_objects(ctx))
    objs.extend(policies.policies(ctx))
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for o in objs:
        key = (o["kind"], o["metadata"]["name"])
        if key in unique:
            if unique[key] != o:
                ctx.warn(("services",), f"two objects would be the {key[0]} {key[1]!r}; the "
                         "second is left out")
            continue
        unique[key] = o
    ordered = sorted(unique.values(),
                     key=lambda o: (ORDER.index(o["kind"]), o["metadata"]["name"]))
    return Result(tuple(ordered), tuple(ctx.warnings))


def _yaml(obj: Any) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True                     # no &id001 anchors: every object stands alone

    return str(yaml.dump(obj, Dumper=Dumper, sort_keys=True, default_flow_style=False,
                         allow_unicode=True, width=100))


def render(result: Result, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(result.objects)},
                          indent=2, sort_keys=True) + "\n"
    return "".join("---\n" + _yaml(o) for o in result.objects)


def file_name(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['name']}-{obj['kind'].lower()}"


def write_dir(result: Result, directory: str, fmt: str, kustomize: bool,
              namespace: str | None) -> list[str]:
    """One file per object in `directory` (Secrets readable by the owner only); returns the
    files written."""
    os.makedirs(directory, exist_ok=True)
    ext = "json" if fmt == "json" else "yaml"
    written: list[str] = []
    for o in result.objects:
        path = os.path.join(directory, f"{file_name(o)}.{ext}")
        text = (json.dumps(o, indent=2, sort_keys=True) + "\n") if fmt == "json" else _yaml(o)
        mode = 0o600 if o["kind"] == "Secret" else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    if kustomize:
        k: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                             "kind": "Kustomization",
                             "resources": [os.path.basename(p) for p in written]}
        if namespace:
            k["namespace"] = namespace
        path = os.path.join(directory, "kustomization.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_yaml(k))
        written.append(path)
    return written
