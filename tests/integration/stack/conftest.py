"""Fixtures for the end-to-end stack tests: the busybox image imported once per session as
local/busybox:latest, a `pystack` runner (a real subprocess, like a user), free host ports and
unique project names."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def busybox_image(busybox_tar: Path) -> str:
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.image.store import ImageStore

    ref = "local/busybox:latest"
    ImageStore().import_rootfs(busybox_tar, ref,
                               ImageConfig(env=tuple(IMAGE_ENV), cmd=tuple(IMAGE_CMD)))
    return ref


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pystack_argv(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "pystack"), *args]


class Project:
    """A stack file in a temp dir with a unique project name; `down` on teardown."""

    def __init__(self, tmp: Path, text: str, name: str | None = None) -> None:
        self.name = name or f"it{secrets.token_hex(3)}"
        self.dir = tmp
        self.file = tmp / "stack.yml"
        self.write(text)

    def write(self, text: str) -> None:
        self.file.write_text(text)

    def argv(self, *args: str) -> list[str]:
        return pystack_argv("--progress", "plain", "-f", str(self.file), "-p", self.name, *args)

    def run(self, *args: str, check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                           input=input, env=dict(os.environ, NO_COLOR="1"))
        if check and r.returncode != 0:
            raise AssertionError(f"pystack {' '.join(args)} -> {r.returncode}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def ps(self, *args: str) -> list[dict[str, object]]:
        import json

        out = self.run("ps", "-a", "--format", "json", *args).stdout
        return [json.loads(line) for line in out.splitlines()]      # one object per line

    def ids(self) -> dict[str, str]:
        return {str(r["Name"]): str(r["ID"]) for r in self.ps()}

    def wait_for(self, pred: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.1)
        raise AssertionError("condition not met in time")


@pytest.fixture
def make_project(tmp_path: Path, busybox_image: str) -> Iterator[Callable[[str], Project]]:
    made: list[Project] = []

    def make(text: str) -> Project:
        d = tmp_path / f"p{len(made)}"
        d.mkdir()
        p = Project(d, text)
        made.append(p)
        return p

    yield make
    for p in made:
        p.run("down", "-v", check=False, timeout=120)
