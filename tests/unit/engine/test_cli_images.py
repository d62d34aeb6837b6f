"""`images`, `pull`, `push`: image references as with docker, or the project's services as
with `docker compose` (fake backends; the registry calls are recorded, not made)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pystack.orchestrator.cli import image_cmd, stack_cmd
from pystack.orchestrator.cli.main import cli
from pystack.orchestrator.engine.backends import Backends
from pystack.runtime.errors import ImageError
from tests.unit.engine.fakes import Env

STACK = """
name: imgtest
services:
  web:
    image: local/busybox:latest
  api:
    image: example.test/team/api:2
  tool:
    image: example.test/team/tool:1
    pull_policy: never
"""


@pytest.fixture
def calls(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    (tmp_path / "compose.yaml").write_text(STACK)
    env.name = "imgtest"
    env.network.project = "imgtest"
    monkeypatch.setattr(stack_cmd, "BACKENDS",
                        lambda name: Backends(env.runtime, env.network, env.images, env.state))
    monkeypatch.chdir(tmp_path)
    seen: list[str] = []

    def pull(refs: list[str], quiet: bool = False, insecure: bool = False) -> list[Any]:
        seen.extend(f"pull {r}" for r in refs)
        if any("api" in r for r in refs):
            raise ImageError(f"cannot reach registry for {refs[0]}")
        return [env.images.get("local/busybox:latest") for _ in refs]

    def push(refs: list[str], quiet: bool = False, insecure: bool = False) -> list[str]:
        seen.extend(f"push {r}" for r in refs)
        return ["sha256:" + "0" * 64 for _ in refs]

    class Store:
        def list(self) -> list[Any]:
            return list(env.images.images.values())

    monkeypatch.setattr(image_cmd, "pull_images", pull)
    monkeypatch.setattr(image_cmd, "push_images", push)
    monkeypatch.setattr(image_cmd, "_store", Store)
    yield seen


def invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["--progress", "quiet", *args], catch_exceptions=False)
    return r.exit_code, r.output


def test_pull_the_services_images(calls: list[str]) -> None:
    code, out = invoke("pull", "--ignore-pull-failures")
    assert code == 0, out
    assert calls == ["pull local/busybox:latest", "pull example.test/team/api:2"]  # not `never`
    assert "pull example.test/team/api:2 failed" in out
    calls.clear()
    code, out = invoke("pull", "web")                       # a service of the file
    assert (code, calls) == (0, ["pull local/busybox:latest"])
    code, out = invoke("pull", "api")                       # the failure is an error
    assert code == 1 and "cannot reach registry" in out and "Traceback" not in out


def test_references_stay_references(calls: list[str]) -> None:
    code, out = invoke("push", "example.test/x:1")
    assert (code, calls) == (0, ["push example.test/x:1"])
    code, out = invoke("-f", "compose.yaml", "push", "nosuch")
    assert code == 4 and "no such service: nosuch" in out


def test_pull_without_anything_is_a_usage_error(calls: list[str],
                                                tmp_path_factory: pytest.TempPathFactory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("nofile"))
    code, out = invoke("pull")
    assert code == 2 and "no image given, and no stack file here" in out
    assert calls == []


def test_images_of_the_project(calls: list[str], env: Env) -> None:
    assert invoke("up", "-d", "web")[0] == 0
    code, out = invoke("images")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    image_id = env.images.get("local/busybox:latest").id
    assert lines[1].split()[:4] == ["imgtest-web-1", "local/busybox", "latest", image_id[7:19]]
    code, out = invoke("images", "-q")
    assert out.split() == [image_id[7:19]]
