"""Services with `build:`: their image name, whether to build, and the build itself on
pystack's own builder (pystack.runtime.build).

A service with `build:` is built, never pulled, unless its pull_policy says to pull
(always/daily/weekly); `pull_policy: build` always builds.  Its image is `image:` or
`<project>-<service>`, tagged also with `build.tags`.  `up --build` builds every selected
service that has `build:`, `up --no-build` never builds (a missing image is then an error),
and by default a service is built when its image is not in the store.  The container's
config hash includes the image id (up.py), so a rebuild that changes nothing recreates
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pystack.orchestrator.config.model import Project, Service
from pystack.orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from pystack.orchestrator.engine.stack import Stack
    from pystack.runtime.image.model import Image

HOST_PLATFORMS = ("linux/amd64", "linux/x86_64")
_IGNORED = ("shm_size", "ulimits", "extra_hosts", "isolation", "privileged",
            "provenance", "sbom", "entitlements")


def default_image_name(project: Project, svc: Service) -> str:
    return svc.image or f"{project.name}-{svc.name}".lower()


def should_build(svc: Service, mode: str, exists: bool) -> bool:
    """mode: "always" (--build), "never" (--no-build), "auto" (build if missing)."""
    if svc.build is None or mode == "never":
        return False
    if mode == "always" or svc.pull_policy == "build":
        return True
    if svc.pull_policy in ("always", "daily", "weekly"):
        return False
    return not exists


def _args(build: Mapping[str, Any], environment: Mapping[str, str],
          extra: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (build.get("args") or {}).items():
        if v is None:
            if k in environment:
                out[k] = environment[k]
        else:
            out[k] = str(v)
    out.update(extra)
    return out


def request_for(project: Project, svc: Service, *, no_cache: bool = False, pull: bool = False,
                build_args: Mapping[str, str] | None = None,
                ssh: Mapping[str, tuple[str, ...]] | None = None,
                cache_from: tuple[Path, ...] = (),
                cache_to: tuple[tuple[Path, str], ...] = ()) -> Any:
    """The BuildRequest of a service's `build:` (OrchestratorError for what pystack refuses)."""
    from pystack.runtime.build.request import BuildRequest

    b = svc.build or {}
    where = f"services.{svc.name}.build"
    for p in b.get("platforms") or []:
        if p not in HOST_PLATFORMS:
            raise OrchestratorError(f"{where}.platforms: {p} cannot be built here",
                                    hint="this host builds linux/amd64 only")
    context = str(b.get("context") or project.working_dir)
    if "://" in context or context.startswith("git@"):
        raise OrchestratorError(f"{where}.context: remote contexts ({context}) are not "
                                "supported (pystack builds offline)")
    ctx = Path(context)
    if not ctx.is_dir():
        raise OrchestratorError(f"{where}.context: {ctx} is not a directory")
    inline = b.get("dockerfile_inline")
    dockerfile = None
    name = "Dockerfile"
    if inline is None:
        name = str(b.get("dockerfile") or "Dockerfile")
        dockerfile = Path(name) if Path(name).is_absolute() else ctx / name
    network = str(b.get("network") or "default")
    if network not in ("default", "none", "host"):
        raise OrchestratorError(f"{where}.network: {network!r}: pystack builds with "
                                "default, none or host")
    ref = default_image_name(project, svc)
    tags = (ref, *[str(t) for t in b.get("tags") or []])
    contexts = {str(k): _named_context(project, str(v), f"{where}.additional_contexts.{k}")
                for k, v in (b.get("additional_contexts") or {}).items()}
    secrets = {}
    for r in b.get("secrets") or []:
        src = str(r["source"] if isinstance(r, dict) else r)
        sid = str(r.get("target") or src) if isinstance(r, dict) else src
        secrets[sid] = _secret_value(project, src, f"{where}.secrets")
    agents = ssh_sources(b.get("ssh"), {**os.environ, **project.environment},
                         Path(project.working_dir), f"{where}.ssh") if b.get("ssh") else {}
    agents.update(ssh or {})                     # pystack build --ssh wins over build.ssh
    base = Path(project.working_dir)
    froms = (*[p for p, _ in cache_specs(importable_cache_from(svc), base,
                                          f"{where}.cache_from", "src")], *cache_from)
    tos = (*cache_specs(b.get("cache_to") or [], base, f"{where}.cache_to", "dest"), *cache_to)
    return BuildRequest(
        context=ctx, ssh=agents, dockerfile=dockerfile, dockerfile_inline=inline,
        dockerfile_name=name,
        target=b.get("target"), tags=tags,
        build_args=_args(b, project.environment, build_args or {}),
        labels=image_labels(project, svc),
        no_cache=no_cache or bool(b.get("no_cache")), pull=pull or bool(b.get("pull")),
        network=network, label=svc.name, secrets=secrets, contexts=contexts,
        cache_from=froms, cache_to=tos)


def image_labels(project: Project, svc: Service) -> dict[str, str]:
    """The labels Compose puts on a service's built image: `build.labels`, then
    com.docker.compose.version/project/service where build.labels did not set them
    (docker/compose pkg/compose/build.go getImageBuildLabels)."""
    from pystack.orchestrator.engine.specs import VERSION

    out = {str(k): str(v) for k, v in ((svc.build or {}).get("labels") or {}).items()}
    for k, v in (("com.docker.compose.version", VERSION),
                 ("com.docker.compose.project", project.name),
                 ("com.docker.compose.service", svc.name)):
        out.setdefault(k, v)
    return out


def _cache_kind(text: str) -> str:
    opts = dict(kv.partition("=")[::2] for kv in text.split(",")) if "=" in text else {}
    return opts.get("type", "local" if opts else "registry")


def importable_cache_from(svc: Service) -> list[Any]:
    """The service's `cache_from` entries pystack's builder can import (type=local); the
    others (a registry image, gha, s3 ...) are skipped with a warning (`skipped_cache_from`),
    as BuildKit goes on without a cache it cannot import: a Compose file written for Docker
    still builds."""
    return [v for v in (svc.build or {}).get("cache_from") or []
            if _cache_kind(str(v)) == "local"]


def skipped_cache_from(svc: Service) -> list[str]:
    return [f"services.{svc.name}.build.cache_from[{i}]: {v!r}: only type=local caches are "
            "imported by pystack's builder; ignored"
            for i, v in enumerate((svc.build or {}).get("cache_from") or [])
            if _cache_kind(str(v)) != "local"]


def cache_specs(values: Iterable[Any], base: Path, where: str,
                path_key: str) -> tuple[tuple[Path, str], ...]:
    """cache_from (`path_key` "src") / cache_to ("dest") entries -> (dir, mode): only
    `type=local` (BuildKit's local cache, cacheio.py); `mode=min|max` (min by default).
    A bare reference is type=registry, as buildx reads it: an error like the other types."""
    out: list[tuple[Path, str]] = []
    for i, v in enumerate(values):
        text = str(v)
        opts = dict(kv.partition("=")[::2] for kv in text.split(",")) if "=" in text else {}
        kind = _cache_kind(text)
        at = f"{where}[{i}]"
        if kind != "local":
            raise OrchestratorError(f"{at}: {text!r}: cache type {kind!r} is not supported by "
                                    "pystack's builder",
                                    hint=f"use type=local,{path_key}=DIR (a directory cache)")
        path = opts.get(path_key) or ""
        if not path:
            raise OrchestratorError(f"{at}: {text!r}: {path_key}= is required",
                                    hint=f"type=local,{path_key}=DIR")
        mode = opts.get("mode", "min")
        if mode not in ("min", "max"):
            raise OrchestratorError(f"{at}: {text!r}: mode must be min or max")
        unknown = sorted(set(opts) - {"type", path_key, "mode", "compression",
                                      "compression-level", "force-compression", "oci-mediatypes",
                                      "ignore-error", "tag", "digest"})
        if unknown:
            raise OrchestratorError(f"{at}: {text!r}: unknown option {unknown[0]!r}")
        p = Path(os.path.expanduser(path))
        out.append((p if p.is_absolute() else base / p, mode))
    return tuple(out)


def ssh_sources(entries: Any, environ: Mapping[str, str], base: Path,
                where: str) -> dict[str, tuple[str, ...]]:
    """`build.ssh` / `--ssh`: `default`, `ID`, `ID=SOCKET` or `ID=KEY[,KEY...]` (a list, or a
    mapping ID: PATH) -> id -> paths; a bare id takes $SSH_AUTH_SOCK (an error when unset)."""
    items: list[tuple[str, str]] = []
    if isinstance(entries, Mapping):
        items = [(str(k), "" if v is None else str(v)) for k, v in entries.items()]
    else:
        for e in entries or []:
            k, _, v = str(e).partition("=")
            items.append((k, v))
    out: dict[str, tuple[str, ...]] = {}
    for sid, value in items:
        if not sid:
            raise OrchestratorError(f"{where}: {value!r}: an id is required (default or "
                                    "ID=PATH)")
        if not value:
            sock = environ.get("SSH_AUTH_SOCK")
            if not sock:
                raise OrchestratorError(f"{where}: {sid}: SSH_AUTH_SOCK is not set",
                                        hint="start an agent (eval $(ssh-agent) && ssh-add) "
                                             f"or give a socket or key: {sid}=PATH")
            out[sid] = (sock,)
            continue
        paths = [Path(os.path.expanduser(p)) for p in value.split(",") if p]
        out[sid] = tuple(str(p if p.is_absolute() else base / p) for p in paths)
    return out


def _named_context(project: Project, value: str, where: str) -> str:
    """An additional context as the builder takes it: a directory, or docker-image://REF
    (`service:NAME` is the image built for that service)."""
    if value.startswith("docker-image://"):
        return value
    if value.startswith("service:"):
        other = project.services.get(value[len("service:"):])
        if other is None:
            raise OrchestratorError(f"{where}: no such service {value[8:]!r}")
        return "docker-image://" + default_image_name(project, other)
    if "://" in value or value.startswith("target:"):
        raise OrchestratorError(f"{where}: {value!r}: only directories, docker-image:// and "
                                "service: contexts are supported")
    if not Path(value).is_dir():
        raise OrchestratorError(f"{where}: {value} is not a directory")
    return value


def context_services(svc: Service) -> list[str]:
    """The services whose images `svc`'s build needs first (additional_contexts service:)."""
    return [str(v)[8:] for v in ((svc.build or {}).get("additional_contexts") or {}).values()
            if str(v).startswith("service:")]


def _secret_value(project: Project, name: str, where: str) -> bytes:
    obj = project.secrets.get(name)
    if obj is None:
        raise OrchestratorError(f"{where}: secret {name!r} is not defined",
                                hint="declare it under the top-level secrets:")
    if obj.file is not None:
        try:
            return Path(obj.file).read_bytes()
        except OSError as e:
            raise OrchestratorError(f"{where}: secret {name!r}: cannot read {obj.file}: "
                                    f"{e.strerror}") from None
    if obj.environment is not None:
        value = project.environment.get(obj.environment)
        if value is None:
            raise OrchestratorError(f"{where}: secret {name!r}: ${obj.environment} is not set")
        return value.encode()
    if obj.content is not None:
        return obj.content.encode()
    raise OrchestratorError(f"{where}: secret {name!r}: external secrets cannot be read here")


def ignored_keys(svc: Service) -> list[str]:
    b = svc.build or {}
    return [f"services.{svc.name}.build.{k}" for k in _IGNORED if b.get(k)]


def build_warnings(svc: Service) -> list[str]:
    """What the builder leaves out of the service's `build:` (keys it ignores, caches it
    cannot import), one sentence each."""
    return [*(f"{key} is ignored by pystack's builder" for key in ignored_keys(svc)),
            *skipped_cache_from(svc)]


def build_service(stack: Stack, svc: Service, progress: Callable[[Any], None] | None = None,
                  **kw: Any) -> Image:
    """Build the service's image; its errors come out as the builder's (BuildError)."""
    from pystack.runtime.build.builder import build

    project = stack.need_project()
    req = request_for(project, svc, **kw)
    for why in build_warnings(svc):
        stack.emit.warn(why)
    stack.emit("image", req.tags[0], "Building")
    from pystack.orchestrator.engine.buildnet import build_network

    with build_network(stack.b.runtime) as net:
        build(replace(req, net=net), cast(Any, stack.b.images), progress,   # the wiring's
              runtime=stack.b.runtime)                                       # store, runtime
    stack.emit("image", req.tags[0], "Built")
    return stack.b.images.get(req.tags[0])


class Renumber:
    """A progress sink that numbers the steps of several builds in one sequence (#1.., as
    BuildKit prints a multi-target bake) instead of restarting at #1 for each build."""

    def __init__(self, sink: Callable[[Any], None] | None) -> None:
        self.sink = sink
        self.offset = 0
        self.top = 0

    def __call__(self, e: Any) -> None:
        self.top = max(self.top, e.number)
        if self.sink is not None:
            self.sink(replace(e, number=e.number + self.offset))

    def next_build(self) -> None:
        self.offset += self.top
        self.top = 0


def build_services(stack: Stack, names: Iterable[str], mode: str,
                   progress: Callable[[Any], None] | None = None, **kw: Any) -> list[str]:
    """Build, one after the other, the services among `names` that need it; returns them.
    Their steps are numbered in one sequence across the services."""
    project = stack.need_project()
    numbered = Renumber(progress)
    built = []
    ordered: list[str] = []

    seen: set[str] = set()

    def visit(name: str) -> None:            # a service: context is built before its user
        if name in seen:
            return
        seen.add(name)
        for dep in context_services(project.service(name)):
            visit(dep)
        ordered.append(name)
    for name in names:
        visit(name)
    for name in ordered:
        svc = project.service(name)
        ref = default_image_name(project, svc)
        if should_build(svc, mode, stack.b.images.exists(ref)):
            build_service(stack, svc, numbered, **kw)
            numbered.next_build()
            built.append(name)
    return built
