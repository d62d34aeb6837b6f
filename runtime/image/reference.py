"""Image references: Docker's grammar (distribution/reference) and its defaults.

`busybox` is `docker.io/library/busybox:latest`; `localhost:5000/a/b@sha256:...` keeps its
registry host and digest.  A reference with a digest and no tag gets no default tag.  The
registry for API calls of `docker.io` is `registry-1.docker.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pystack.runtime.errors import ImageError

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}\Z")
_HEX_ID = re.compile(r"[a-f0-9]{64}\Z")
NAME_TOTAL_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A normalised reference: domain + path, and a tag and/or a digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def registry(self) -> str:
        """The host:port to talk to for this reference."""
        return _API_HOSTS.get(self.domain, self.domain)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it: `busybox`, `me/app`, `localhost:5000/app`."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix("library/")
        return self.name

    def familiar(self) -> str:
        s = self.familiar_name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    @property
    def ref_in_repo(self) -> str:
        """What goes after /manifests/: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG


def parse(ref: str) -> Reference:
    """Parse and normalise `ref`; raise ImageError naming what is wrong."""
    if not ref or ref != ref.strip():
        raise ImageError(f"invalid reference format: {ref!r}",
                         hint="an image is named like busybox, me/app:1.0 or host:5000/app")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ImageError(f"invalid reference format: {ref!r}: bad digest {digest!r}")
        if digest.startswith("sha256:") and not _SHA256.match(digest):
            raise ImageError(f"invalid reference format: {ref!r}: bad sha256 digest")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise ImageError(f"invalid reference format: {ref!r}: bad tag {tag!r}")
    if not rest:
        raise ImageError(f"invalid reference format: {ref!r}: no repository name")
    domain, path = _split_domain(rest)
    if not _DOMAIN.match(domain):
        raise ImageError(f"invalid reference format: {ref!r}: bad registry host {domain!r}")
    if not _PATH.match(path):
        if path.lower() != path and _PATH.match(path.lower()):
            raise ImageError(f"invalid reference format: {ref!r}: "
                             "repository name must be lowercase")
        raise ImageError(f"invalid reference format: {ref!r}")
    if len(domain) + 1 + len(path) > NAME_TOTAL_MAX:
        raise ImageError(f"invalid reference format: {ref!r}: repository name too long")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1:
        first = ""
    else:
        first = name[:i]
    if first and ("." in first or ":" in first or first == "localhost"
                  or first.lower() != first):
        domain, path = first, name[i + 1:]
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path


def is_image_id(s: str) -> bool:
    """A full image ID (`sha256:<64 hex>` or `<64 hex>`)."""
    return bool(_SHA256.match(s) or _HEX_ID.match(s))


def looks_like_id_prefix(s: str) -> bool:
    """A possibly-abbreviated image ID a user typed (`3f57d9401f8d`, `sha256:3f57`)."""
    hex_part = s.removeprefix("sha256:")
    return 4 <= len(hex_part) <= 64 and all(c in "0123456789abcdef" for c in hex_part)
