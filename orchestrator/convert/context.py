"""What every converter module shares: the options of one `pystack convert` run, the
project, the Kubernetes name chosen for each service, and the warnings (each naming the
FILE:LINE:COL of the key it is about, when the stack file has one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.convert import names

TreePath = tuple[str | int, ...]


@dataclass(frozen=True)
class Options:
    namespace: str | None = None
    publish: str = "nodeport"              # how published ports are exposed: nodeport|loadbalancer
    host_path: bool = False                # bind-mounted directories as hostPath volumes
    secret_values: bool = False            # Secret data in the output (else left empty)
    wait_image: str = "busybox:1.36"       # init containers that wait for dependencies
    kubectl_image: str = "bitnami/kubectl:1.31"
    storage_size: str = "1Gi"              # PVC size when nothing says otherwise


@dataclass
class Context:
    project: m.Project
    options: Options
    position: Callable[[TreePath], str | None] = lambda _p: None
    raw: Mapping[str, Any] = field(default_factory=dict)       # the stack file as loaded
    warnings: list[str] = field(default_factory=list)
    service_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        taken: set[str] = set()
        for svc in sorted(self.project.services):
            name = names.label(svc)
            if name in taken:                   # my_app and my-app: keep both, apart
                name = names.label(svc + "#", limit=63)
            taken.add(name)
            self.service_names[svc] = name

    def name(self, service: str) -> str:
        return self.service_names[service]

    def warn(self, path: TreePath, message: str) -> None:
        where = self.position(path)
        dotted = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path)
        dotted = dotted.replace(".[", "[")
        line = f"{where}: {dotted}: {message}" if where else f"{dotted}: {message}"
        if line not in self.warnings:
            self.warnings.append(line)

    def meta(self, name: str, service: str | None = None, **extra: Any) -> dict[str, Any]:
        md: dict[str, Any] = {"name": name, "labels": names.labels(self.project.name, service)}
        if self.options.namespace:
            md["namespace"] = self.options.namespace
        md.update(extra)
        return md

    def raw_service(self, service: str) -> dict[str, Any]:
        svc = self.project.data.get("services", {}).get(service, {})
        return svc if isinstance(svc, dict) else {}
