"""Local image sources: `docker save` tarballs (legacy manifest.json and the OCI form), OCI
image layouts (a directory) and OCI archives (a tar of a layout), any of them compressed.

Each source is read without extracting anything to disk: members are streamed into the
blob store, verified by digest where the source names one.  The result is a list of
`Fetched` images for the store to ingest.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pystack.runtime.errors import ImageError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.image.content import Content
from pystack.runtime.image.reference import Reference, parse
from pystack.runtime.image.unpack import compression_of

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


@dataclass(frozen=True)
class LayerBlob:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Fetched:
    """An image whose blobs are all in the store, ready to ingest."""

    config: bytes
    layers: tuple[LayerBlob, ...]
    names: tuple[Reference, ...] = ()
    manifest: bytes | None = None
    manifest_type: str | None = None
    repo_digests: tuple[str, ...] = field(default=())


class _Source:
    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def open(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def has(self, name: str) -> bool:
        raise NotImplementedError


def _clean(name: str) -> str:
    p = PurePosixPath("/", name)
    parts = [x for x in p.parts[1:] if x not in (".",)]
    if ".." in parts:
        raise ImageError(f"archive path {name!r} contains '..'")
    return "/".join(parts)


class _DirSource(_Source):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, name: str) -> Path:
        p = (self.root / _clean(name)).resolve()
        if not p.is_relative_to(self.root):
            raise ImageError(f"{name!r} points outside {self.root}")
        return p

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def open(self, name: str) -> IO[bytes]:
        try:
            return open(self._path(name), "rb")
        except OSError as e:
            raise ImageError(f"cannot read {name} in {self.root}: {e.strerror}") from e


class _TarSource(_Source):
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members = {_clean(m.name): m for m in tar.getmembers()}

    def has(self, name: str) -> bool:
        return _clean(name) in self.members

    def open(self, name: str) -> IO[bytes]:
        m = self.members.get(_clean(name))
        if m is None:
            raise ImageError(f"the archive has no {name}")
        f = self.tar.extractfile(m)
        if f is None:
            raise ImageError(f"{name} in the archive is not a file")
        return f


def load_path(content: Content, path: Path) -> list[Fetched]:
    """Read every image of a docker-save tarball, OCI archive or OCI layout at `path`."""
    if path.is_dir():
        return _load_source(content, _DirSource(path), path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file or directory")
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ImageError(f"{path} is not a readable tar archive: {e}") from e
    with tar:
        try:
            return _load_source(content, _TarSource(tar), path)
        except (tarfile.TarError, EOFError) as e:
            raise ImageError(f"{path} is truncated or corrupt: {e}") from e


def _load_source(content: Content, src: _Source, path: Path) -> list[Fetched]:
    if src.has("manifest.json"):
        return list(_docker_save(content, src))
    if src.has("index.json"):
        return list(_oci_layout(content, src))
    raise ImageError(f"{path} is neither a `docker save` tarball nor an OCI image layout",
                     hint="a root filesystem tarball is loaded with `pystack image import`")


def _docker_save(content: Content, src: _Source) -> Iterator[Fetched]:
    try:
        manifest = json.loads(src.read("manifest.json"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"manifest.json of the docker save tarball is not valid JSON: {e}") from e
    if not isinstance(manifest, list) or not manifest:
        raise ImageError("manifest.json of the docker save tarball lists no image")
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ImageError("manifest.json entry has no Config")
        config = src.read(entry["Config"])
        expected = _digest_from_path(entry["Config"])
        content.put_bytes(config, expected)
        layers = []
        for lp in entry.get("Layers") or []:
            with src.open(lp) as f:
                digest, size = content.put_stream(f, _digest_from_path(lp))
            layers.append(LayerBlob(digest, _detect_type(content, digest), size))
        names = tuple(parse(t) for t in entry.get("RepoTags") or [])
        yield Fetched(config, tuple(layers), names)


def _digest_from_path(p: str) -> str | None:
    parts = _clean(p).split("/")
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256":
        return f"sha256:{parts[2]}"
    # legacy "<hex>.json" config names are the config digest too
    if len(parts) == 1 and parts[0].endswith(".json") and len(parts[0]) == 69:
        return f"sha256:{parts[0][:64]}"
    return None


def _detect_type(content: Content, digest: str) -> str:
    with open(content.blob_path(digest), "rb") as f:
        return ic.LAYER_TYPE_BY_COMPRESSION[compression_of(f.read(4))]


def _blob(desc: dict[str, Any]) -> str:
    digest = desc.get("digest")
    if not isinstance(digest, str) or ":" not in digest:
        raise ImageError(f"descriptor without a valid digest: {desc!r}")
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _read_verified(content: Content, src: _Source, desc: dict[str, Any]) -> bytes:
    data = src.read(_blob(desc))
    content.put_bytes(data, desc["digest"])
    return data


def _oci_layout(content: Content, src: _Source) -> Iterator[Fetched]:
    index = ic.load_json(src.read("index.json"), "index.json")
    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict):
            continue
        names = _names(desc.get("annotations") or {})
        mt = desc.get("mediaType")
        if mt in ic.INDEX_TYPES:
            inner = ic.load_json(_read_verified(content, src, desc), "image index")
            desc = pick_platform(inner, "the image index")
            mt = desc.get("mediaType")
        if mt not in ic.MANIFEST_TYPES:
            raise ImageError(f"unsupported manifest media type {mt!r}")
        raw = _read_verified(content, src, desc)
        m = ic.load_json(raw, "image manifest")
        config = _read_verified(content, src, m.get("config") or {})
        layers = []
        for ld in m.get("layers") or []:
            ic.check_layer_type(str(ld.get("mediaType")))
            with src.open(_blob(ld)) as f:
                digest, size = content.put_stream(f, ld["digest"], ld.get("size"))
            layers.append(LayerBlob(digest, ld["mediaType"], size))
        yield Fetched(config, tuple(layers), names, raw, mt)


def _names(annotations: dict[str, Any]) -> tuple[Reference, ...]:
    for key in (CONTAINERD_NAME, REF_NAME):
        val = annotations.get(key)
        # A bare tag ("latest", as skopeo writes oci:DIR:latest) names no repository.
        if isinstance(val, str) and ("/" in val or ":" in val):
            try:
                return (parse(val),)
            except ImageError:
                continue
    return ()


def pick_platform(index: dict[str, Any], what: str) -> dict[str, Any]:
    """The linux/amd64 manifest descriptor of an image index / manifest list."""
    found = []
    for d in index.get("manifests") or []:
        if not isinstance(d, dict):
            continue
        plat = d.get("platform") or {}
        os_, arch = plat.get("os"), plat.get("architecture")
        found.append(f"{os_}/{arch}")
        if os_ == ic.PLATFORM_OS and arch == ic.PLATFORM_ARCH:
            return d
    raise ImageError(f"{what} has no {ic.PLATFORM_OS}/{ic.PLATFORM_ARCH} image "
                     f"(it has: {', '.join(found) or 'none'})",
                     hint="pystack runs linux/amd64 images only")
