"""Attack: a volume `name:` that climbs out of the volume store (issue 9 item 7).  Before the
fix `up` made <hostdir>/_data and `down -v` deleted the whole host directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.security.fsattack import SLEEP, Projects, busybox, host_dir, state

pytestmark = pytest.mark.root


@pytest.fixture
def projects(tmp_path: Path, busybox_tar: Path) -> Iterator[Projects]:
    busybox(busybox_tar)
    ps = Projects(tmp_path)
    yield ps
    ps.close()


def test_a_volume_name_climbing_out_of_the_store_is_refused(
        tmp_path: Path, projects: Projects) -> None:
    target = host_dir(tmp_path)
    before = state(target)
    p = projects.make(f"""
services:
  app:
    image: local/busybox:latest
    command: {SLEEP}
    volumes: ["data:/data"]
volumes:
  data:
    name: "{'../' * 12}{str(target).lstrip('/')}"
""")
    for cmd in (("config", "-q"), ("up", "-d"), ("down", "-v")):
        r = p.run(*cmd, check=False)
        # `down` goes on with what the project's record says (nothing of this name)
        assert r.returncode != 0 or cmd[0] == "down", cmd
        assert f"{p.file}:9:11: volumes.data.name: invalid volume name" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert state(target) == before, cmd
    assert not (target / "_data").exists()
