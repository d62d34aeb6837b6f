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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _start_registry(workdir: Path, htpasswd: Path | None = None, auth: str = "") -> Registry:
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("docker-registry is not installed (apt docker-registry)")
    port = _free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True)
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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token server for the registry's `auth: token` mode: Basic credentials in, an RS256
    JWT (signed with openssl, the signing cert in the x5c header) out."""

    def __init__(self, work: Path, users: dict[str, str]) -> None:
        self.work = work
        self.users = users
        self.key, self.cert = work / "key.pem", work / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(self.key), "-out", str(self.cert), "-days", "1", "-subj",
                        "/CN=pystack-test-token"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.server = self._serve()
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def token(self, user: str, service: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": "pystack-test-issuer", "sub": user, "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing = (_b64url(json.dumps(header).encode()) + "." +
                   _b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing.encode(), check=True, capture_output=True).stdout
        return signing + "." + _b64url(sig)

    def _serve(self) -> Any:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                q = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization") or ""
                user = None
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    user = u if outer.users.get(u) == p else None
                if user is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"token": outer.token(user, q["service"][0],
                                                        q.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        return srv

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def token_registry() -> Iterator[Registry]:
    """A registry with token auth (`auth: token`), its token server on another port; user
    `tester`, password `s3cret`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    work = _workdir("test-registry-token")
    tokens = TokenServer(work, {"tester": "s3cret"})
    auth = (f"auth:\n  token:\n    realm: {tokens.realm}\n    service: pystack-test\n"
            f"    issuer: pystack-test-issuer\n    rootcertbundle: {tokens.cert}\n")
    try:
        reg = _start_registry(work, auth=auth)
    except BaseException:
        tokens.close()
        raise
    yield reg
    _stop(reg.proc)
    tokens.close()
    shutil.rmtree(work, ignore_errors=True)
