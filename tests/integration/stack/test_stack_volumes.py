"""End to end: named volumes filled from the image, relative binds created, tmpfs, secrets and
configs mounted read-only, `down -v`; two `up`s of one project serialize on the lock."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

VOLUMES = """
services:
  app:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    volumes:
      - site:/www
      - ./shared:/shared
      - type: tmpfs
        target: /scratch
    secrets: [token]
    configs:
      - source: settings
        target: /etc/settings.conf
volumes:
  site: {}
secrets:
  token:
    environment: PS_TEST_TOKEN
configs:
  settings:
    content: "mode=fast"
"""


def test_volumes_secrets_configs(make_project: Callable[[str], Project]) -> None:
    os.environ["PS_TEST_TOKEN"] = "t0ken"
    p = make_project(VOLUMES)
    p.run("up", "-d")
    assert (p.dir / "shared").is_dir()
    (p.dir / "shared" / "from-host").write_text("hi")
    sh = "cat /www/index.html /shared/from-host /run/secrets/token /etc/settings.conf; echo"
    r = p.run("exec", "-T", "app", "sh", "-c", sh)
    assert r.stdout == "hello from pystack\nhit0kenmode=fast\n"
    r = p.run("exec", "-T", "app", "sh", "-c",
              "echo x > /run/secrets/token || echo refused; grep ' /scratch ' /proc/mounts")
    assert "refused" in r.stdout and "tmpfs" in r.stdout
    vol = Path(os.environ["PYSTACK_ROOT"]) / "volumes" / f"{p.name}_site" / "_data"
    assert (vol / "index.html").read_text() == "hello from pystack\n"
    # data in a named volume survives a recreate
    p.run("exec", "-T", "app", "sh", "-c", "echo kept > /www/state")
    p.run("up", "-d", "--force-recreate")
    assert p.run("exec", "-T", "app", "cat", "/www/state").stdout == "kept\n"
    p.run("down")
    assert vol.is_dir()                       # down keeps volumes
    p.run("down", "-v")
    assert not vol.exists()


def test_two_ups_of_one_project_serialize(make_project: Callable[[str], Project]) -> None:
    p = make_project("""
services:
  a:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
  b:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
""")
    other = make_project(p.file.read_text())          # same file, another project
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv in (p.argv("up", "-d"), p.argv("up", "-d"), other.argv("up", "-d"))]
    outs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outs
    outs = outs[:2]
    # different projects run side by side: own containers, own network and addresses
    assert sorted(other.ids()) == [f"{other.name}-a-1", f"{other.name}-b-1"]
    # each resolves its own containers (the embedded DNS server answers per network; that
    # another project's names do not resolve is tests/integration/stack/test_dns.py's)
    mine = p.run("exec", "-T", "a", "nslookup", "-type=a", f"{p.name}-b-1").stdout
    theirs = other.run("exec", "-T", "a", "nslookup", "-type=a", f"{other.name}-b-1").stdout
    assert f"Name:\t{p.name}-b-1" in mine and f"Name:\t{other.name}-b-1" in theirs
    created = sum(1 for _, err in outs for ln in err.splitlines()
                  if ln.startswith(" Container") and ln.endswith("  Created"))
    assert created == 2                       # the second one found everything up to date
    assert sorted(p.ids()) == [f"{p.name}-a-1", f"{p.name}-b-1"]
