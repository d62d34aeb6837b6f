"""The real-software test (issue 11): examples/webapp — PostgreSQL, Redis, a Flask app and an
nginx reverse proxy on images made from Debian packages by examples/webapp/images.sh (cached;
the first run builds them, ~12 min cold) — brought up as a user would; a page through nginx
that touches Redis and PostgreSQL; names resolved by getent, Python and nginx's resolver; down,
`--scale web=3` shares the load through nginx, down, up again (the visits survived in the
named volume), down -v; nothing left.

Marked `realsw` (deselect with -m "not realsw").  Every service's `dns:` points at a fake
upstream on a host loopback address (an override file), so no name ever reaches a real
resolver."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project, free_port
from tests.support.fakedns import fake_upstream

pytestmark = [pytest.mark.root, pytest.mark.realsw]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "webapp"
UPSTREAM = "127.0.0.154"
OVERRIDE = "services:\n" + "".join(f"  {s}:\n    dns: [{UPSTREAM}]\n"
                                   for s in ("db", "cache", "web", "proxy"))


@pytest.fixture(scope="module")
def images() -> None:
    if shutil.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap missing: run scripts/install.sh")
    t0 = time.monotonic()
    subprocess.run(["sh", str(EXAMPLE / "images.sh")], check=True, timeout=3000,
                   env=dict(os.environ, PYSTACK=str(Path(sys.executable).parent / "pystack")))
    print(f"\nwebapp images ready in {time.monotonic() - t0:.0f} s")


class Webapp(Project):
    extra: tuple[str, ...] = ()

    def argv(self, *args: str) -> list[str]:
        files = [x for f in ("compose.yaml", *self.extra) for x in ("-f", str(EXAMPLE / f))]
        return [str(Path(sys.executable).parent / "pystack"), "--progress", "plain", *files,
                "-f", str(self.file), "-p", self.name, *args]


@pytest.fixture
def app(tmp_path: Path, images: None) -> Iterator[Webapp]:
    port = free_port()
    os.environ["WEBAPP_PORT"] = str(port)
    p = Webapp(tmp_path, OVERRIDE)
    try:
        yield p
    finally:
        p.run("down", "-v", check=False, timeout=180)
        os.environ.pop("WEBAPP_PORT", None)


def page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
        return str(r.read().decode())


def test_webapp_end_to_end(app: Webapp) -> None:
    port = int(os.environ["WEBAPP_PORT"])
    t0 = time.monotonic()
    with fake_upstream(UPSTREAM, {}) as up:
        app.run("up", "-d", "--wait", timeout=300)
        t_up = time.monotonic() - t0
        assert first_page(app, port).startswith("hits=1 visits=1 ")
        assert page(port).startswith("hits=2 visits=2 ")
        # names as real clients resolve them: getent (NSS), Python, and nginx's resolver
        db_ip = app.run("exec", "-T", "web", "getent", "hosts", "db").stdout.split()[0]
        r = app.run("exec", "-T", "web", "python3", "-c",
                    "import socket; print(socket.gethostbyname('db'))")
        assert r.stdout.strip() == db_ip
        assert "nameserver 127.0.0.11" in app.run("exec", "-T", "proxy", "cat",
                                                  "/etc/resolv.conf").stdout
        # named users from the image's passwd, and the database's files owned by postgres
        assert app.run("exec", "-T", "db", "id", "-un").stdout.strip() == "postgres"
        assert app.run("exec", "-T", "cache", "id", "-un").stdout.strip() == "redis"
        assert app.run("exec", "-T", "web", "id", "-un").stdout.strip() == "www-data"
        r = app.run("exec", "-T", "db", "stat", "-c", "%U %a", "/var/lib/postgresql/data")
        assert r.stdout.split() == ["postgres", "700"]
        # replicas share the load: nginx resolves `web` at 127.0.0.11 (all three replicas,
        # rotated) and spreads the requests (P(all 12 on one replica) ~ 6e-6)
        app.run("up", "-d", "--wait", "--scale", "web=3", timeout=300)
        # a fresh nginx: the running one may still hold its 5 s answer naming one replica
        app.run("restart", "proxy", timeout=120)
        first_page(app, port)                                  # visit 3
        served = {page(port).split("served_by=")[1].strip() for _ in range(12)}
        assert len(served) >= 2, served
        app.run("down", timeout=180)
        app.run("up", "-d", "--wait", timeout=300)
        assert first_page(app, port).startswith("hits=1 visits=16 ")   # redis: not persisted
        app.run("down", "-v", timeout=180)
        assert up.asked == []                                  # every name was the project's
    vol = Path(os.environ["PYSTACK_ROOT"]) / "volumes" / f"{app.name}_dbdata"
    assert not vol.exists()
    assert not [p for p in os.listdir("/proc") if p.isdigit() and
                b"pystack.net.dnsserver" in _cmdline(p) and app.name.encode() in _cmdline(p)]
    print(f"\nwebapp: first up {t_up:.0f} s, whole test {time.monotonic() - t0:.0f} s")


def test_webapp_built_from_its_dockerfile(app: Webapp) -> None:
    """Example (b): `web` built by pystack's builder from examples/webapp/Dockerfile (the
    code in the image, no bind mount), the rest as in (a)."""
    port = int(os.environ["WEBAPP_PORT"])
    app.extra = ("compose.build.yaml",)
    with fake_upstream(UPSTREAM, {}) as up:
        app.run("up", "-d", "--wait", "--build", timeout=600)
        assert first_page(app, port).startswith("hits=1 visits=1 ")
        mounts = app.run("exec", "-T", "web", "cat", "/proc/mounts").stdout
        assert " /app " not in mounts
        assert "app.py" in app.run("exec", "-T", "web", "ls", "/app").stdout
        app.run("down", "-v", timeout=180)
        assert up.asked == []


def first_page(app: Webapp, port: int) -> str:
    """The first page served once nginx listens (`up --wait` has no health check of the
    proxy to wait for): exactly one visit."""
    got: list[str] = []

    def served() -> bool:
        try:
            got.append(page(port))
        except OSError:
            return False
        return True

    app.wait_for(served, timeout=30)
    return got[0]


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
