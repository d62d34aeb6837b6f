"""Pull and push over the OCI distribution API.

Pull: manifest by tag or digest (index / manifest list -> the linux/amd64 entry, fetched by
digest), every manifest checked against the digest that named it, config and layers
downloaded by digest into the blob store (sha256 verified while streaming, in parallel
threads, each retried from zero on a broken connection), and each layer unpacked as soon as
it is in (its DiffID checked against the config).  Push: blobs the registry lacks (HEAD, then
a monolithic POST+PUT), config, then the manifest.
"""

from __future__ import annotations

import contextvars
import hashlib
import http.client
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, cast

from pystack.runtime.errors import ImageError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.image.content import Content
from pystack.runtime.image.fsutil import chain_ids
from pystack.runtime.image.reference import Reference
from pystack.runtime.image.registry import RegistryClient
from pystack.runtime.image.sources import Fetched, LayerBlob, pick_platform
from pystack.runtime.settings import settings

Progress = Callable[[str, str, int, int], None]
ACCEPT = (ic.OCI_INDEX, ic.OCI_MANIFEST, ic.DOCKER_LIST, ic.DOCKER_MANIFEST)
_RETRIES = 3


def workers() -> int:
    return settings().pull_workers


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Counting:
    """A reader that reports how many bytes went through."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], None], done: int = 0) -> None:
        self.raw = raw
        self.report = report
        self.done = done

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.done += len(data)
        self.report(self.done)
        return data


def _manifest(client: RegistryClient, ref: str) -> tuple[bytes, str, str]:
    """(body, media type, digest) of the manifest `ref` names, verified."""
    body, mtype, header = client.get_manifest(ref, ACCEPT)
    digest = _sha(body)
    if ref.startswith("sha256:") and digest != ref:
        raise ImageError(f"manifest digest mismatch: asked for {ref}, got {digest}",
                         hint="the registry served corrupt content")
    if header and header.startswith("sha256:") and header != digest:
        raise ImageError(f"manifest digest mismatch: the registry says {header}, the content "
                         f"hashes to {digest}")
    if mtype not in ACCEPT:
        raise ImageError(f"unsupported manifest media type {mtype or '(none)'!r} for "
                         f"{client.repo}:{ref}",
                         hint="pystack handles OCI and Docker v2 schema 2 manifests and indexes")
    return body, mtype, digest


@dataclass(frozen=True)
class Resolved:
    """What a pull found out before touching the store: the platform manifest and config."""

    client: RegistryClient
    ref: Reference
    manifest: bytes
    media_type: str
    top_digest: str                 # what the tag named (an index, or the manifest)
    config: bytes
    config_digest: str
    layers: tuple[dict[str, Any], ...]
    diff_ids: tuple[str, ...]


def resolve(ref: Reference, insecure: bool) -> Resolved:
    """Manifest (linux/amd64) and config of `ref`, verified; every check that needs only the
    network happens here, so a bad reference or registry changes nothing on the host."""
    client = RegistryClient(ref.registry, ref.path, insecure)
    body, mtype, top_digest = _manifest(client, ref.ref_in_repo)
    if mtype in ic.INDEX_TYPES:
        desc = pick_platform(ic.load_json(body, "image index"), f"image {ref.familiar()}")
        body, mtype, _ = _manifest(client, str(desc.get("digest")))
        if mtype not in ic.MANIFEST_TYPES:
            raise ImageError(f"unsupported manifest media type {mtype!r} inside the index")
    m = ic.load_json(body, "image manifest")
    cdesc = m.get("config")
    if not isinstance(cdesc, dict) or not isinstance(cdesc.get("digest"), str):
        raise ImageError("image manifest has no config descriptor")
    if cdesc.get("mediaType") not in ic.CONFIG_TYPES:
        raise ImageError(f"unsupported config media type {cdesc.get('mediaType')!r}: "
                         f"{ref.familiar()} is not a container image")
    layer_descs = m.get("layers")
    if not isinstance(layer_descs, list):
        raise ImageError("image manifest has no layers list")
    for ld in layer_descs:
        ic.check_layer_type(str(ld.get("mediaType")))
    config = client.open_blob(cdesc["digest"]).read_all()
    if _sha(config) != cdesc["digest"]:
        raise ImageError(f"blob digest mismatch: expected {cdesc['digest']}, got "
                         f"{_sha(config)}", hint="the registry served a corrupt config")
    doc = ic.load_json(config, "image config")
    ic.check_platform(doc, f"image {ref.familiar()}")
    diff_ids = ic.diff_ids_of(doc)
    if len(diff_ids) != len(layer_descs):
        raise ImageError(f"the image config lists {len(diff_ids)} layers but the manifest has "
                         f"{len(layer_descs)}")
    return Resolved(client, ref, body, mtype, top_digest, config, cdesc["digest"],
                    tuple(layer_descs), tuple(diff_ids))


def fetch(content: Content, r: Resolved, progress: Progress | None) -> Fetched:
    """Download (in parallel) and unpack what `resolve` found; blobs verified by digest."""
    content.put_bytes(r.config, r.config_digest)
    chains = chain_ids(list(r.diff_ids))

    def one(i: int) -> LayerBlob:
        ld = r.layers[i]
        digest, size = _download(r.client, content, ld["digest"], ld.get("size"), progress)
        if content.has_layer(chains[i]):
            if progress:
                progress(digest, "exists", size, size)
        else:
            if progress:
                progress(digest, "extracting", size, size)
            content.ensure_layer(chains[i], r.diff_ids[i], digest)
            if progress:
                progress(digest, "done", size, size)
        return LayerBlob(digest, ld["mediaType"], size)

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        # each task runs in a copy of our context: it joins the store's rollback journal
        futures = [pool.submit(contextvars.copy_context().run, one, i)
                   for i in range(len(r.layers))]
        errors = [f.exception() for f in futures]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
        layers = tuple(f.result() for f in futures)
    names = (r.ref,) if r.ref.tag else ()
    return Fetched(r.config, layers, names, r.manifest, r.media_type,
                   (f"{r.ref.name}@{r.top_digest}",))


def _download(client: RegistryClient, content: Content, digest: str, size: Any,
              progress: Progress | None) -> tuple[str, int]:
    total = int(size) if isinstance(size, int) else 0
    if content.has_blob(digest):
        if progress:
            progress(digest, "exists", total, total)
        return digest, content.blob_path(digest).stat().st_size
    last: BaseException | None = None
    with content.blob_writer() as w:
        for _ in range(_RETRIES):
            # After a broken transfer, continue where it stopped if the registry honours
            # Range (206); otherwise start again from zero.
            resp = client.open_blob(digest, w.size)
            try:
                if resp.status != 206 and w.size:
                    w.reset()
                src: IO[bytes] = resp.body
                if progress is not None:
                    src = cast(IO[bytes], _Counting(resp.body,
                                                    _reporter(progress, digest, total), w.size))
                w.copy_from(src)
                # http.client ends a body cut short by the peer as a plain EOF: check it
                if (resp.body.length or 0) > 0 or (total and w.size < total):
                    raise http.client.IncompleteRead(b"", total - w.size if total else None)
                return w.commit(digest, total or None), w.size
            except (OSError, http.client.HTTPException) as e:
                last = e
            finally:
                resp.close()
    raise ImageError(f"download of {digest} from {client.registry} failed: {last}") from last


def _reporter(progress: Progress, digest: str, total: int) -> Callable[[int], None]:
    def report(done: int) -> None:
        progress(digest, "downloading", done, total)
    return report


def push(content: Content, rec: dict[str, Any], ref: Reference, progress: Progress | None,
         insecure: bool) -> tuple[str, dict[str, Any]]:
    """Push the image of `rec` as `ref`; return (manifest digest, manifest descriptor)."""
    client = RegistryClient(ref.registry, ref.path, insecure, push=True)
    manifest_desc = rec.get("manifest")
    if manifest_desc and content.has_blob(manifest_desc["digest"]):
        body = content.read_blob(manifest_desc["digest"])
        mtype = str(manifest_desc.get("mediaType") or ic.OCI_MANIFEST)
    else:
        config = content.read_blob(rec["id"])
        body = json.dumps({
            "schemaVersion": 2, "mediaType": ic.OCI_MANIFEST,
            "config": {"mediaType": ic.OCI_CONFIG, "digest": rec["id"], "size": len(config)},
            "layers": [{"mediaType": lay["mediaType"], "digest": lay["digest"],
                        "size": lay["size"]} for lay in rec["layers"]],
        }, separators=(",", ":")).encode()
        mtype = ic.OCI_MANIFEST
        content.put_bytes(body)
    m = ic.load_json(body, "image manifest")
    blobs = [m["config"], *m.get("layers", [])]
    for b in blobs:
        digest = b["digest"]
        total = int(b.get("size") or 0)
        if client.blob_exists(digest):
            if progress:
                progress(digest, "exists", total, total)
            continue
        if progress:
            progress(digest, "pushing", 0, total)
        client.upload_blob(content.blob_path(digest), digest)
        if progress:
            progress(digest, "pushed", total, total)
    digest = _sha(body)
    answered = client.put_manifest(ref.tag or digest, body, mtype)
    if answered and answered != digest:
        raise ImageError(f"registry {ref.registry} stored the manifest as {answered}, "
                         f"expected {digest}")
    return digest, {"digest": digest, "mediaType": mtype, "size": len(body)}
