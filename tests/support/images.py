"""Test images in every local format, built from the busybox rootfs (tests/support/busybox.py):
`docker save` tarballs (legacy and OCI form), OCI image layouts and OCI archives, with
plain, gzip or zstd layers, and crafted layer tarballs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {"": "application/vnd.oci.image.layer.v1.tar",
               "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dir_tar(root: Path) -> bytes:
    """An uncompressed layer tarball of a directory (numeric owners, sorted)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name)
    return buf.getvalue()


@dataclass
class Member:
    """One crafted tar member: name, type and what it points at or contains."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, str] | None = None


def crafted_tar(members: Sequence[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.type
            info.mode = m.mode
            info.uid, info.gid, info.mtime = m.uid, m.gid, m.mtime
            info.linkname = m.linkname
            info.devmajor, info.devminor = m.devmajor, m.devminor
            if m.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in m.xattrs.items()}
            if m.type == tarfile.REGTYPE:
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1)
    if compression == "zstd":
        from backports.zstd import compress as zc

        return zc(data)
    return data


def config_json(diff_ids: Sequence[str], os_: str = "linux", arch: str = "amd64",
                cmd: Sequence[str] = tuple(IMAGE_CMD), extra: dict[str, object] | None = None
                ) -> bytes:
    cfg: dict[str, object] = {"Env": list(IMAGE_ENV), "Cmd": list(cmd), "WorkingDir": "/",
                              "ExposedPorts": {"80/tcp": {}}, "Labels": {"test": "yes"},
                              "StopSignal": "SIGQUIT"}
    cfg.update(extra or {})
    doc = {"architecture": arch, "os": os_, "created": "2024-01-02T03:04:05Z", "config": cfg,
           "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}
    return json.dumps(doc).encode()


@dataclass
class Built:
    """An image as blobs: config, manifest and layer blobs (compressed as asked)."""

    config: bytes
    manifest: bytes
    layers: list[bytes]          # blobs as stored
    diff_ids: list[str]

    @property
    def config_digest(self) -> str:
        return sha(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha(self.manifest)


def build(layers: Sequence[bytes], compression: str = "gzip", os_: str = "linux",
          arch: str = "amd64", layer_type: str | None = None,
          extra: dict[str, object] | None = None) -> Built:
    """An OCI image from uncompressed layer tarballs (`extra`: more config keys)."""
    diff_ids = [sha(t) for t in layers]
    blobs = [compress(t, compression) for t in layers]
    config = config_json(diff_ids, os_, arch, extra=extra)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": layer_type or LAYER_TYPES[compression], "digest": sha(b),
                    "size": len(b)} for b in blobs],
    }).encode()
    return Built(config, manifest, blobs, diff_ids)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def docker_save(image: Built, dest: Path, tags: Sequence[str] = ("busybox:latest",),
                legacy: bool = True) -> Path:
    """A `docker save` tarball: legacy (<id>/layer.tar) or the OCI form (blobs/sha256/)."""
    with tarfile.open(dest, "w") as tar:
        if legacy:
            cfg_name = f"{image.config_digest[7:]}.json"
            _add(tar, cfg_name, image.config)
            names = []
            for i, blob in enumerate(image.layers):
                d = hashlib.sha256(f"{i}{image.diff_ids[i]}".encode()).hexdigest()
                _add(tar, f"{d}/layer.tar", blob)
                _add(tar, f"{d}/VERSION", b"1.0")
                names.append(f"{d}/layer.tar")
        else:
            cfg_name = f"blobs/sha256/{image.config_digest[7:]}"
            _add(tar, cfg_name, image.config)
            names = []
            for blob in image.layers:
                names.append(f"blobs/sha256/{sha(blob)[7:]}")
                _add(tar, names[-1], blob)
            _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            _add(tar, f"blobs/sha256/{image.manifest_digest[7:]}", image.manifest)
            _add(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                 "size": len(image.manifest)}]}).encode())
        manifest = [{"Config": cfg_name, "RepoTags": list(tags), "Layers": names}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return dest


def oci_layout(image: Built, dest: Path, ref_name: str | None = "latest",
               index_platforms: Sequence[tuple[str, str]] | None = None) -> Path:
    """An OCI image layout directory; with index_platforms, the manifest sits behind a
    nested image index listing those (os, arch) pairs (all pointing at the same manifest)."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for b in (image.config, image.manifest, *image.layers):
        (blobs / sha(b)[7:]).write_bytes(b)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    top = {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
           "size": len(image.manifest)}
    if index_platforms is not None:
        inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {**top, "platform": {"os": o, "architecture": a}} for o, a in index_platforms
        ]}).encode()
        (blobs / sha(inner)[7:]).write_bytes(inner)
        top = {"mediaType": OCI_INDEX, "digest": sha(inner), "size": len(inner)}
    if ref_name:
        top["annotations"] = {"org.opencontainers.image.ref.name": ref_name}  # type: ignore[assignment]
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return dest


def oci_archive(layout: Path, dest: Path, gzip_it: bool = False) -> Path:
    with tarfile.open(dest, "w:gz" if gzip_it else "w") as tar:
        for entry in sorted(layout.iterdir()):
            tar.add(entry, arcname=entry.name)
    return dest


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (mode, size, mtime_ns) of everything under root (symlinks not followed)."""
    out: dict[str, tuple[int, int, int]] = {}
    if not root.exists():
        return out
    for p in [root, *root.rglob("*")]:
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def store_listing(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (mode, size of files) under an image store: what "the store is unchanged"
    compares (directory sizes and mtimes move as temp entries come and go)."""
    out: dict[str, tuple[int, int]] = {}
    for p in [root, *root.rglob("*")]:
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode,
                                         0 if p.is_dir() and not p.is_symlink() else st.st_size)
    return out
