"""The registry client against a small in-test registry: bearer-token challenge (anonymous
and with credentials from a Docker config), redirects to another host (Authorization
dropped), retries, and the error messages."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pystack.runtime.errors import ImageError, ImageNotFoundError
from pystack.runtime.image.registry import RegistryClient, credentials

MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
BLOB = b"blob-content" * 100


class Fake:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, str | None]] = []   # (server, path, Authorization)
        self.fail_next_blob = 0
        self.ranges: list[str | None] = []
        self.users = {"test": "good"}
        self.port = 0
        self.cdn_port = 0


def serve(fake: Fake, name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None
                  ) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            fake.log.append((name, self.path, auth))
            u = urlsplit(self.path)
            if name == "cdn":
                return self.reply(200, BLOB)
            if u.path == "/token":
                q = parse_qs(u.query)
                if q.get("service") != ["fake"] or q.get("scope") != ["repository:repo:pull"]:
                    return self.reply(400)
                if auth is None:
                    return self.reply(200, json.dumps({"token": "ANON"}).encode())
                user, _, pw = base64.b64decode(auth.split()[1]).decode().partition(":")
                if fake.users.get(user) != pw:
                    return self.reply(401)
                return self.reply(200, json.dumps({"access_token": f"T-{user}"}).encode())
            if not (auth or "").startswith("Bearer "):
                realm = f"http://127.0.0.1:{fake.port}/token"
                return self.reply(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",'
                                             'service="fake",scope="repository:repo:pull"'})
            if u.path.startswith("/v2/flaky/blobs/"):
                rng = self.headers.get("Range")
                fake.ranges.append(rng)
                if rng is None:                 # the first try breaks half-way
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BLOB)))
                    self.end_headers()
                    self.wfile.write(BLOB[: len(BLOB) // 2])
                    return None
                start = int(rng.removeprefix("bytes=").rstrip("-"))
                return self.reply(206, BLOB[start:])
            if u.path == "/v2/repo/manifests/1":
                return self.reply(200, MANIFEST, {
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            if u.path.startswith("/v2/repo/blobs/"):
                if fake.fail_next_blob:
                    fake.fail_next_blob -= 1
                    return self.reply(503)
                return self.reply(307, b"", {
                    "Location": f"http://localhost:{fake.cdn_port}/cdn/x"})
            body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN",
                                           "message": "manifest unknown"}]}).encode()
            return self.reply(404, body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    f = Fake()
    reg, cdn = serve(f, "registry"), serve(f, "cdn")
    f.port, f.cdn_port = reg.server_address[1], cdn.server_address[1]
    yield f
    for s in (reg, cdn):
        s.shutdown()
        s.server_close()


def login(tmp_path: Path, host: str, user: str, pw: str) -> None:
    (tmp_path / "docker").mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{pw}".encode()).decode()
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps({"auths": {f"http://{host}/v2/": {"auth": auth}}}))


def client(fake: Fake) -> RegistryClient:
    return RegistryClient(f"127.0.0.1:{fake.port}", "repo")


def test_anonymous_token(fake: Fake) -> None:
    body, mtype, _ = client(fake).get_manifest("1", ("application/json",))
    assert body == MANIFEST and mtype.endswith("manifest.v1+json")
    assert [e[2] for e in fake.log] == [None, None, "Bearer ANON"]


def test_token_with_credentials(fake: Fake, tmp_path: Path) -> None:
    login(tmp_path, f"127.0.0.1:{fake.port}", "test", "good")
    assert credentials(f"127.0.0.1:{fake.port}") == ("test", "good")
    client(fake).get_manifest("1", ("application/json",))
    assert fake.log[-1][2] == "Bearer T-test"
    assert fake.log[1][2] == "Basic " + base64.b64encode(b"test:good").decode()


def test_wrong_credentials(fake: Fake, tmp_path: Path) -> None:
    login(tmp_path, f"127.0.0.1:{fake.port}", "test", "bad")
    with pytest.raises(ImageError) as e:
        client(fake).get_manifest("1", ("application/json",))
    assert e.value.message == (f"authentication to registry 127.0.0.1:{fake.port} failed: "
                               "the token server refused the credentials")


def test_redirect_drops_authorization_and_retries(fake: Fake) -> None:
    fake.fail_next_blob = 1
    resp = client(fake).open_blob("sha256:" + "0" * 64)
    assert resp.read_all() == BLOB
    cdn = [e for e in fake.log if e[0] == "cdn"]
    assert cdn == [("cdn", "/cdn/x", None)]
    assert sum(1 for e in fake.log if e[1].startswith("/v2/repo/blobs/")) == 3   # 401, 503, 307


def test_not_found(fake: Fake) -> None:
    with pytest.raises(ImageNotFoundError) as e:
        client(fake).get_manifest("nope", ("application/json",))
    assert e.value.message == (f"manifest repo:nope: not found in registry 127.0.0.1:"
                               f"{fake.port} (MANIFEST_UNKNOWN: manifest unknown)")


def test_broken_download_resumes_with_range(fake: Fake, tmp_path: Path) -> None:
    from pystack.runtime.image.content import Content
    from pystack.runtime.image.distribution import _download

    content = Content(tmp_path / "store")
    content.ensure()
    digest = "sha256:" + hashlib.sha256(BLOB).hexdigest()
    seen: list[int] = []
    got = _download(RegistryClient(f"127.0.0.1:{fake.port}", "flaky"), content, digest,
                    len(BLOB), lambda d, s, done, total: seen.append(done))
    assert got == (digest, len(BLOB))
    assert fake.ranges == [None, f"bytes={len(BLOB) // 2}-"]
    assert content.blob_path(digest).read_bytes() == BLOB
    assert seen[-1] == len(BLOB)
    assert list(content.tmp.iterdir()) == []


def test_insecure_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    from pystack.runtime.image.registry import is_insecure

    monkeypatch.setenv("PYSTACK_INSECURE_REGISTRIES", "reg.lan:5000, other.lan")
    assert [is_insecure(h) for h in ("localhost:5000", "127.0.0.1", "[::1]:80", "reg.lan:5000",
                                     "other.lan:443", "reg.lan:6000", "ghcr.io")] == [
        True, True, True, True, True, False, False]
    assert RegistryClient("ghcr.io", "a/b").scheme == "https"
    assert RegistryClient("ghcr.io", "a/b", insecure=True).scheme == "http"


def test_docker_hub_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    auth = base64.b64encode(b"me:pw:with:colons").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": auth}, "broken": {"auth": "%%%"}}}))
    assert credentials("registry-1.docker.io") == ("me", "pw:with:colons")
    assert credentials("ghcr.io") is None
