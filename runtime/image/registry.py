"""A small HTTP client for one repository of an OCI distribution registry (stdlib only).

Auth: anonymous; bearer tokens from the `WWW-Authenticate: Bearer realm=..,service=..` challenge
(anonymous or with Basic credentials); Basic auth where the registry asks for it (htpasswd).
Credentials come from $DOCKER_CONFIG/config.json or ~/.docker/config.json (`auths.*.auth`,
base64 "user:password").  HTTP (not HTTPS) is used for localhost, 127.0.0.1, ::1, hosts in
PYSTACK_INSECURE_REGISTRIES (comma separated) and when the caller says insecure.
Redirects are followed, dropping Authorization when they leave the registry host.  GET/HEAD
are retried on connection errors and 5xx/429.  Every failure is an ImageError whose message
names the registry.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pystack.runtime.errors import ImageError, ImageNotFoundError
from pystack.runtime.settings import settings

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
_RETRIES = 3
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_MAX_JSON = 8 << 20


def timeout() -> float:
    return settings().registry_timeout


def is_insecure(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    listed = settings().insecure_registries
    return host in _LOCAL_HOSTS or registry in listed or host in listed


def credentials(registry: str) -> tuple[str, str] | None:
    """(user, password) for `registry` from the Docker client config, if any."""
    cfg_dir = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    try:
        doc = json.loads((Path(cfg_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = {registry}
    if registry in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        wanted |= {"docker.io", "index.docker.io", "registry-1.docker.io"}
    for key, entry in auths.items():
        host = re.sub(r"^https?://", "", key).split("/", 1)[0]
        if host in wanted and isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return user, password
    return None


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: http.client.HTTPResponse
    conn: http.client.HTTPConnection

    def read_all(self, limit: int = _MAX_JSON) -> bytes:
        try:
            data = self.body.read(limit + 1)
        finally:
            self.close()
        if len(data) > limit:
            raise ImageError("registry response is too large")
        return data

    def close(self) -> None:
        self.conn.close()


class RegistryClient:
    """Requests to https?://<registry>/v2/<repo>/..., with auth handled."""

    def __init__(self, registry: str, repo: str, insecure: bool = False,
                 push: bool = False) -> None:
        self.registry = registry
        self.repo = repo
        self.scheme = "http" if insecure or is_insecure(registry) else "https"
        self.scope = f"repository:{repo}:{'pull,push' if push else 'pull'}"
        self.creds = credentials(registry)
        self.auth: str | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=timeout(),
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(netloc, timeout=timeout())

    def _once(self, method: str, url: str, headers: dict[str, str],
              body: bytes | IO[bytes] | None) -> Response:
        """One request, following redirects."""
        for _ in range(6):
            u = urllib.parse.urlsplit(url)
            conn = self._connect(u.scheme, u.netloc)
            hdrs = dict(headers)
            if self.auth and u.netloc == self.registry:
                hdrs["Authorization"] = self.auth
            path = u.path + (f"?{u.query}" if u.query else "")
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urllib.parse.urljoin(url, resp.getheader("Location", ""))
                conn.close()
                if resp.status == 303:
                    method, body = "GET", None
                continue
            return Response(resp.status, resp.headers, resp, conn)
        raise ImageError(f"registry {self.registry}: too many redirects")

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | IO[bytes] | None = None, ok: tuple[int, ...] = (200,),
                what: str = "") -> Response:
        """A request to /v2/<repo>/<path> (or an absolute URL), authenticated on demand."""
        url = path if "://" in path else f"{self.scheme}://{self.registry}{path}"
        retryable = method in ("GET", "HEAD")
        authed = False
        attempt = 0
        while True:
            attempt += 1
            if body is not None and not isinstance(body, bytes):
                body.seek(0)                    # a retried upload sends the file again
            try:
                resp = self._once(method, url, headers or {}, body)
            except (OSError, http.client.HTTPException) as e:
                if retryable and attempt < _RETRIES and not isinstance(e, ssl.SSLError):
                    time.sleep(0.2 * attempt)
                    continue
                raise self._net_error(e) from e
            if resp.status == 401 and not authed:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.close()
                self._authenticate(challenge)
                authed = True
                continue
            if resp.status in (429, 500, 502, 503, 504) and retryable and attempt < _RETRIES:
                resp.close()
                time.sleep(0.3 * attempt)
                continue
            if resp.status in ok:
                return resp
            raise self._status_error(resp, what or f"{method} {path}")

    def _net_error(self, e: BaseException) -> ImageError:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        if isinstance(e, socket.timeout):
            reason = "timed out"
        if isinstance(e, ssl.SSLError):
            return ImageError(f"cannot reach registry {self.registry} over HTTPS: {reason}",
                              hint="if it is an HTTP registry, list it in "
                                   "PYSTACK_INSECURE_REGISTRIES")
        return ImageError(f"cannot reach registry {self.registry}: {reason}",
                          hint="check the registry host and port, and that it is running")

    def _status_error(self, resp: Response, what: str) -> ImageError:
        try:
            detail = resp.read_all(1 << 16).decode(errors="replace")
            doc = json.loads(detail)
            errs = doc.get("errors") if isinstance(doc, dict) else None
            if isinstance(errs, list) and errs and isinstance(errs[0], dict):
                detail = f"{errs[0].get('code', '')}: {errs[0].get('message', '')}"
        except (ValueError, ImageError, OSError, http.client.HTTPException):
            detail = ""
        detail = detail.strip()[:300]
        if resp.status == 401:
            if self.creds is None:
                return ImageError(f"registry {self.registry} requires authentication ({what})",
                                  hint="put credentials for it in ~/.docker/config.json "
                                       "(or $DOCKER_CONFIG/config.json)")
            return ImageError(f"authentication to registry {self.registry} failed: wrong user "
                              "name or password", hint="check the credentials in "
                                                       "~/.docker/config.json")
        if resp.status == 403:
            return ImageError(f"registry {self.registry} denied {what}: {detail}")
        if resp.status == 404:
            return ImageNotFoundError(f"{what}: not found in registry {self.registry}"
                                      + (f" ({detail})" if detail else ""))
        return ImageError(f"registry {self.registry}: {what} failed with HTTP {resp.status}"
                          + (f": {detail}" if detail else ""))

    def _authenticate(self, challenge: str) -> None:
        scheme, _, params_s = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_s))
        basic = None
        if self.creds is not None:
            basic = "Basic " + base64.b64encode(":".join(self.creds).encode()).decode()
        if scheme.lower() == "basic":
            if basic is None:
                raise ImageError(f"registry {self.registry} requires authentication",
                                 hint="put credentials for it in ~/.docker/config.json "
                                      "(or $DOCKER_CONFIG/config.json)")
            self.auth = basic
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise ImageError(f"registry {self.registry} asks for unsupported authentication "
                             f"{challenge!r}")
        query = {"scope": params.get("scope") or self.scope}
        if params.get("service"):
            query["service"] = params["service"]
        realm = params["realm"] + ("&" if "?" in params["realm"] else "?")
        url = realm + urllib.parse.urlencode(query)
        u = urllib.parse.urlsplit(url)
        conn = self._connect(u.scheme, u.netloc)
        try:
            conn.request("GET", u.path + "?" + u.query,
                         headers={"Authorization": basic} if basic else {})
            resp = conn.getresponse()
            data = resp.read(_MAX_JSON)
        except (OSError, http.client.HTTPException) as e:
            raise ImageError(f"cannot get a token from {params['realm']}: {e}") from e
        finally:
            conn.close()
        if resp.status in (401, 403) and basic is None:
            raise ImageError(f"registry {self.registry} requires authentication",
                             hint="put credentials for it in ~/.docker/config.json "
                                  "(or $DOCKER_CONFIG/config.json)")
        if resp.status in (401, 403):
            raise ImageError(f"authentication to registry {self.registry} failed: the token "
                             "server refused the credentials",
                             hint="check the credentials in ~/.docker/config.json")
        if resp.status != 200:
            raise ImageError(f"token server {params['realm']} answered HTTP {resp.status}")
        try:
            doc = json.loads(data)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ImageError(f"token server {params['realm']} returned no token")
        self.auth = f"Bearer {token}"

    # -- API --------------------------------------------------------------------------------

    def get_manifest(self, ref: str, accept: tuple[str, ...]) -> tuple[bytes, str, str | None]:
        """(body, media type, Docker-Content-Digest header) of a manifest or index."""
        resp = self.request("GET", f"/v2/{self.repo}/manifests/{ref}",
                            {"Accept": ", ".join(accept)}, what=f"manifest {self.repo}:{ref}")
        mtype = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        header_digest = resp.headers.get("Docker-Content-Digest")
        body = resp.read_all()
        try:
            declared = json.loads(body).get("mediaType")
        except (ValueError, AttributeError):
            declared = None
        return body, declared or mtype, header_digest

    def open_blob(self, digest: str, offset: int = 0) -> Response:
        """GET a blob; from `offset` on with a Range request (status 206 if honoured)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self.request("GET", f"/v2/{self.repo}/blobs/{digest}", headers, ok=(200, 206),
                            what=f"blob {digest}")

    def blob_exists(self, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", ok=(200, 404))
        resp.close()
        return resp.status == 200

    def upload_blob(self, path: Path, digest: str,
                    progress: Callable[[int], None] | None = None) -> None:
        """Monolithic upload: POST to open a session, then one PUT with the content."""
        resp = self.request("POST", f"/v2/{self.repo}/blobs/uploads/", ok=(202,),
                            what=f"upload of {digest}")
        location = resp.headers.get("Location")
        resp.close()
        if not location:
            raise ImageError(f"registry {self.registry} gave no upload location")
        url = urllib.parse.urljoin(f"{self.scheme}://{self.registry}/", location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        size = path.stat().st_size
        with open(path, "rb") as f:
            resp = self.request("PUT", url, {"Content-Type": "application/octet-stream",
                                             "Content-Length": str(size)}, body=f,
                                ok=(201, 204), what=f"upload of {digest}")
        resp.close()
        if progress:
            progress(size)

    def put_manifest(self, ref: str, body: bytes, media_type: str) -> str | None:
        resp = self.request("PUT", f"/v2/{self.repo}/manifests/{ref}",
                            {"Content-Type": media_type}, body=body, ok=(200, 201),
                            what=f"manifest {self.repo}:{ref}")
        digest = resp.headers.get("Docker-Content-Digest")
        resp.close()
        return digest

