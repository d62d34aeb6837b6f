"""`pystack -p NAME down -v` without the stack file removes the project's named volumes (from
the project state, even after a plain `down`), never an external one (issue 11)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project, pystack_argv

pytestmark = pytest.mark.root

STACK = """
services:
  app:
    image: local/busybox:latest
    command: ["sh", "-c", "echo hi > /data/x; trap 'exit 0' TERM; sleep 86400 & wait"]
    network_mode: none
    volumes: [data:/data, outside:/outside]
volumes:
  data: {}
  outside:
    external: true
    name: EXT
"""


def _by_name(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pystack_argv("--progress", "plain", "-p", name, *args), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("plain_down_first", [False, True])
def test_down_v_by_project_name(make_project: Callable[[str], Project], tmp_path: Path,
                                plain_down_first: bool) -> None:
    vols = Path(os.environ["PYSTACK_ROOT"]) / "volumes"
    ext = f"ext{os.getpid()}{int(plain_down_first)}"
    (vols / ext / "_data").mkdir(parents=True)
    try:
        p = make_project(STACK.replace("EXT", ext))
        p.run("up", "-d")
        data = vols / f"{p.name}_data"
        p.wait_for(lambda: (data / "_data" / "x").exists())
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        if plain_down_first:
            p.run("down")
            assert data.is_dir()                              # down keeps volumes
            assert p.name not in p.run("ls", "-a").stdout     # and lists no project
        r = _by_name(p.name, "down", "-v", cwd=elsewhere)
        assert r.returncode == 0, r.stderr
        assert f"Volume {p.name}_data  Removed" in r.stderr
        assert not data.exists()
        assert (vols / ext / "_data").is_dir()                # external: never removed
        assert p.ps() == []
    finally:
        subprocess.run(["rm", "-rf", str(vols / ext)], check=True)
