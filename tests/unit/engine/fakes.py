"""Helpers for the engine's unit tests: a fake image source and a tiny project builder."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from pystack.net.fake import FakeNetwork
from pystack.orchestrator.config.model import DependsOn, Healthcheck, Project, Service
from pystack.orchestrator.engine.backends import Backends
from pystack.orchestrator.engine.events import Emitter
from pystack.orchestrator.engine.stack import Stack
from pystack.orchestrator.engine.state import StateStore
from pystack.runtime.errors import ImageNotFoundError
from pystack.runtime.fake import FakeRuntime
from pystack.runtime.image.model import Image, ImageConfig


class FakeImages:
    def __init__(self, root: Path, known: tuple[str, ...] = ("local/busybox:latest",),
                 pullable: tuple[str, ...] = ()) -> None:
        self.root = root
        self.images: dict[str, Image] = {}
        self.pullable = set(pullable)
        self.pulls: list[str] = []
        for ref in known:
            self.images[ref] = self._make(ref)

    def _make(self, ref: str, salt: str = "") -> Image:
        layer = self.root / hashlib.sha256(ref.encode()).hexdigest()[:8]
        (layer / "data").mkdir(parents=True, exist_ok=True)
        (layer / "data" / "seed.txt").write_text("from image\n")
        digest = hashlib.sha256((ref + salt).encode()).hexdigest()
        return Image(id=f"sha256:{digest}", names=(ref,),
                     config=ImageConfig(cmd=("/bin/sh",)), layer_dirs=(layer,))

    def retag(self, ref: str, salt: str) -> None:
        self.images[ref] = self._make(ref, salt)

    def get(self, ref: str) -> Image:
        try:
            return self.images[ref]
        except KeyError:
            raise ImageNotFoundError(f"image {ref} not found") from None

    def exists(self, ref: str) -> bool:
        return ref in self.images

    def copy_into(self, image: Image, path: str, dest: Path) -> bool:
        from pystack.runtime.safecopy import copy_into

        return copy_into(image.layer_dirs, path, dest)

    def remove(self, ref: str) -> list[str]:
        img = self.get(ref)
        del self.images[ref]
        return [f"Untagged: {ref}", f"Deleted: {img.id}"]

    def pull(self, ref: str, progress: Any = None, insecure: bool = False) -> Image:
        self.pulls.append(ref)
        if ref not in self.pullable and ref not in self.images:
            raise ImageNotFoundError(f"pull access denied for {ref}")
        self.images.setdefault(ref, self._make(ref))
        return self.images[ref]


def svc(name: str, **kw: Any) -> Service:
    kw.setdefault("image", "local/busybox:latest")
    deps = kw.pop("deps", None)
    if deps:
        kw["depends_on"] = {k: DependsOn(condition=v) if isinstance(v, str) else v
                            for k, v in deps.items()}
    if kw.pop("health", False):
        kw["healthcheck"] = Healthcheck(test=("CMD", "true"), interval=1.0)
    return Service(name=name, **kw)


def project(name: str, *services: Service, workdir: str = "/tmp") -> Project:
    data = {"services": {s.name: {"image": s.image, "command": list(s.command or ()),
                                  "environment": dict(s.environment)} for s in services}}
    return Project(name=name, working_dir=workdir, services={s.name: s for s in services},
                   files=(f"{workdir}/stack.yml",), data=data)


def edit(p: Project, service: str, **changes: Any) -> Project:
    services = dict(p.services)
    services[service] = replace(services[service], **changes)
    return project(p.name, *services.values(), workdir=p.working_dir)


class Env:
    """A stack over fakes, sharing one runtime/network/image source across loads."""

    def __init__(self, tmp: Path, name: str = "demo") -> None:
        self.runtime = FakeRuntime()
        self.network = FakeNetwork(name)
        self.images = FakeImages(tmp / "layers")
        self.state = StateStore(tmp / "root")
        self.events = Emitter()
        self.name = name

    def stack(self, proj: Project | None) -> Stack:
        b = Backends(self.runtime, self.network, self.images, self.state)
        return Stack(self.name, b, proj, self.events)

    def statuses(self) -> dict[str, str]:
        return {c.name: c.status for c in self.runtime.list_containers()}

    def seen(self, status: str) -> list[str]:
        return [e.name for e in self.events.history if e.status == status]
