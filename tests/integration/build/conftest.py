"""Fixtures for the build tests: the busybox fixture image (local/busybox:latest, imported
once per session), and `build_dir`: a context directory with helpers to write files and
build it through the builder's API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.stack.conftest import busybox_image  # noqa: F401 (fixture)


class Ctx:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.events: list[Any] = []

    def write(self, rel: str, text: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def build(self, dockerfile: str | None = None, **kw: Any) -> Any:
        from pystack.runtime.build.builder import build
        from pystack.runtime.build.request import BuildRequest

        if dockerfile is not None:
            self.write("Dockerfile", dockerfile)
        self.events = []
        return build(BuildRequest(context=self.root, **kw), progress=self.events.append)

    def cached(self) -> list[str]:
        return [e.name for e in self.events if e.kind == "cached"]

    def ran(self) -> list[str]:
        return [e.name for e in self.events if e.kind == "done" and e.name.startswith("[")
                and "/" in e.name and "FROM" not in e.name]

    def output(self) -> list[str]:
        return [e.text for e in self.events if e.kind == "output"]


@pytest.fixture
def ctx(tmp_path: Path, busybox_image: str) -> Ctx:  # noqa: F811
    d = tmp_path / "ctx"
    d.mkdir()
    return Ctx(d)


def image_file(ref: str, path: str) -> str | None:
    """The text of `path` in the image `ref` (None when absent), read from its layers."""
    from pystack.runtime import layerview
    from pystack.runtime.image.store import ImageStore

    layers = [d.resolve() for d in reversed(ImageStore().get(ref).layer_dirs)]
    if layerview.resolve(layers, path) is None:
        return None
    return layerview.read_text(layers, path)


Reader = Callable[[str, str], str | None]
