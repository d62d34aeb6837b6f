"""Fixtures of the image tests: a store per test, the busybox image in every local format,
and a real registry (Debian's docker-registry) on 127.0.0.1 (see registry.py)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pystack.runtime.image.store import ImageStore
from tests.support import images


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture(scope="session")
def bb_layer(busybox_rootfs: Path) -> bytes:
    """The busybox rootfs as one uncompressed layer tarball."""
    return images.dir_tar(busybox_rootfs)


@pytest.fixture(scope="session")
def bb_image(bb_layer: bytes) -> images.Built:
    return images.build([bb_layer], "gzip")


@dataclass
class Registry:
    """A running docker-registry on 127.0.0.1:port (storage under `storage`)."""

    host: str
    storage: Path
    proc: subprocess.Popen[bytes]

    def ref(self, repo: str) -> str:
        return f"{self.host}/{repo}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_registry(workdir: Path, htpasswd: Path | None = None) -> Registry:
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("docker-registry is not installed (apt docker-registry)")
    port = _free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    auth = ""
    if htpasswd is not None:
        auth = f"auth:\n  htpasswd:\n    realm: pystack-test\n    path: {htpasswd}\n"
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: pystack-test-secret\n{auth}")
    # The config path lies under PYSTACK_ROOT, so the leak check sees a leaked server.
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"docker-registry exited: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    else:
        _stop(proc)
        raise RuntimeError("docker-registry did not start")
    return Registry(f"127.0.0.1:{port}", storage, proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


def _workdir(name: str) -> Path:
    d = Path(os.environ["PYSTACK_ROOT"]) / f"{name}-{secrets.token_hex(3)}"
    d.mkdir(parents=True)
    return d


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """An anonymous registry."""
    work = _workdir("test-registry")
    reg = _start_registry(work)
    yield reg
    _stop(reg.proc)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A registry with htpasswd (Basic) auth: user `tester`, password `s3cret`."""
    exe = shutil.which("htpasswd")
    if exe is None:
        pytest.skip("htpasswd is not installed (apt apache2-utils)")
    work = _workdir("test-registry-auth")
    line = subprocess.run([exe, "-Bbn", "tester", "s3cret"], check=True,
                          capture_output=True, text=True).stdout.strip()
    (work / "htpasswd").write_text(line + "\n")
    reg = _start_registry(work, work / "htpasswd")
    yield reg
    _stop(reg.proc)
    shutil.rmtree(work, ignore_errors=True)


def docker_config(dest: Path, host: str, user: str, password: str) -> Path:
    """A DOCKER_CONFIG directory holding credentials for `host`."""
    dest.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (dest / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return dest
