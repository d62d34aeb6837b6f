"""`cache_to: type=local,dest=DIR` and `cache_from: type=local,src=DIR`: the build cache
exported to, and imported from, a directory in OCI image layout, as BuildKit's local cache
exporter writes one:

    DIR/oci-layout, DIR/index.json -> an image index (ref.name "latest") whose manifests are
    the layer blobs (annotated with their uncompressed digest) and, last, the cache config
    (application/vnd.buildkit.cacheconfig.v0): {"layers": [{blob, parent}], "records":
    [{digest, results: [{layer, createdAt}]}]} where a record's digest is a step's cache key.

`mode=min` exports the steps of the stage that was built (the target), `mode=max` the steps of
every stage the build ran; both with every layer of their chains.  An import copies the blobs
into the store (digests verified), unpacks the layers through the store's safe unpacker and
writes the records the local cache lacks, so a build after `builder prune --all` hits them.
The directory is untrusted input: names are checked as digests, sizes bounded, JSON parsed
defensively; a bad one is a clear error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pystack.runtime.build.cache import Cache
from pystack.runtime.build.errors import BuildError
from pystack.runtime.errors import ImageError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.image.content import Content
from pystack.runtime.image.fsutil import chain_ids

CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
UNCOMPRESSED = "containerd.io/uncompressed"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_KEY = re.compile(r"[0-9a-f]{64}")
MAX_JSON = 64 << 20


def _blob(root: Path, digest: str) -> Path:
    if not _DIGEST.fullmatch(digest):
        raise BuildError(f"cache {root}: {digest!r} is not a sha256 digest")
    return root / "blobs" / "sha256" / digest[7:]


def _write_json(root: Path, doc: Any) -> tuple[str, int]:
    import hashlib

    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    path = _blob(root, digest)
    if not path.exists():
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    return digest, len(raw)


def export(content: Content, keys: Iterable[str], dest: Path) -> int:
    """Write the records `keys` (and their layers) to `dest`; returns how many records."""
    cache = Cache(content)
    layers: list[dict[str, Any]] = []
    index_of: dict[tuple[str, ...], int] = {}         # a chain of blobs -> its layer index
    descs: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    try:
        (dest / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        for key in dict.fromkeys(keys):
            rec = cache.record(key)
            if rec is None:
                continue
            results: list[dict[str, Any]] = []
            if rec.get("layer") is not None:
                blobs, diffs = list(rec["blobs"]), list(rec["diff_ids"])
                parent = -1
                for i, (blob, diff) in enumerate(zip(blobs, diffs, strict=True)):
                    chain = tuple(blobs[:i + 1])
                    if chain not in index_of:
                        _copy_blob(content, blob, dest)
                        size = content.blob_path(blob).stat().st_size
                        comp = content.compression(blob)
                        descs.append({"mediaType": ic.OCI_LAYER if comp == "" else
                                      ic.LAYER_TYPE_BY_COMPRESSION[comp], "digest": blob,
                                      "size": size, "annotations": {UNCOMPRESSED: diff}})
                        index_of[chain] = len(layers)
                        layers.append({"blob": blob, "parent": parent})
                    parent = index_of[chain]
                results.append({"layer": parent, "createdAt": rec.get("created", "")})
            records.append({"digest": f"sha256:{key}", "results": results,
                            **({} if results else {"createdAt": rec.get("created", "")})})
        cfg, cfg_size = _write_json(dest, {"layers": layers, "records": records})
        uniq = list({d["digest"]: d for d in descs}.values())
        idx, idx_size = _write_json(dest, {
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [*uniq, {"mediaType": CACHE_CONFIG, "digest": cfg, "size": cfg_size}]})
        (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        tmp = dest / f".tmp-{os.getpid()}-index.json"
        tmp.write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_INDEX, "digest": idx, "size": idx_size,
             "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
        os.replace(tmp, dest / "index.json")
    except OSError as e:
        raise BuildError(f"cache_to {dest}: cannot write the cache: {e.strerror or e}") from None
    return len(records)


def _copy_blob(content: Content, digest: str, dest: Path) -> None:
    path = _blob(dest, digest)
    if path.exists():
        return
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    shutil.copyfile(content.blob_path(digest), tmp)     # a copy: never the store's inode
    os.replace(tmp, path)


def _open(path: Path) -> Any:
    """A file of the cache dir, never through a symlink at its name."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


def _read_json(root: Path, path: Path, what: str) -> Any:
    try:
        with _open(path) as f:
            raw = f.read(MAX_JSON + 1)
    except OSError as e:
        raise BuildError(f"cache_from {root}: cannot read {what}: {e.strerror}",
                         hint="give a directory a cache_to of type=local wrote") from None
    if len(raw) > MAX_JSON:
        raise BuildError(f"cache_from {root}: {what} is too large")
    try:
        return json.loads(raw)
    except ValueError:
        raise BuildError(f"cache_from {root}: {what} is not JSON") from None


def _manifests(doc: Any, root: Path, what: str) -> list[dict[str, Any]]:
    ms = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(ms, list) or not all(isinstance(m, dict) for m in ms):
        raise BuildError(f"cache_from {root}: {what} has no manifests list")
    return ms


def import_dir(content: Content, src: Path) -> int:
    """Bring the records of the cache at `src` into the store's build cache (with their
    layers); returns how many were new.  A missing directory imports nothing (BuildKit
    ignores a cache source it cannot read)."""
    if not (src / "index.json").exists():
        return 0
    top = _manifests(_read_json(src, src / "index.json", "index.json"), src, "index.json")
    new = 0
    for m in top:
        if m.get("mediaType") != OCI_INDEX:
            continue
        idx = _manifests(_read_json(src, _blob(src, str(m.get("digest"))), "the index"), src,
                         "the index")
        cfgs = [d for d in idx if d.get("mediaType") == CACHE_CONFIG]
        if not cfgs:
            continue
        cfg = _read_json(src, _blob(src, str(cfgs[-1].get("digest"))), "the cache config")
        diffs = {str(d.get("digest")): str((d.get("annotations") or {}).get(UNCOMPRESSED))
                 for d in idx if d.get("mediaType") != CACHE_CONFIG}
        new += _records(content, src, cfg, diffs)
    return new


def _records(content: Content, src: Path, cfg: Any, diffs: dict[str, str]) -> int:
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) or \
            not isinstance(cfg.get("records"), list):
        raise BuildError(f"cache_from {src}: the cache config has no layers/records")
    layers: list[dict[str, Any]] = cfg["layers"]
    cache = Cache(content)
    new = 0
    for rec in cfg["records"]:
        key = str(rec.get("digest", "")).removeprefix("sha256:") if isinstance(rec, dict) \
            else ""
        if not _KEY.fullmatch(key) or cache.record(key) is not None:
            continue
        results = rec.get("results") or []
        if not results:
            cache.put(key, None, [], [], str(rec.get("createdAt", "")))
            new += 1
            continue
        chain = _chain(layers, results[0].get("layer"), src)
        blobs = [str(lay.get("blob")) for lay in chain]
        dids = [diffs.get(b, "") for b in blobs]
        if not all(_DIGEST.fullmatch(d) for d in dids):
            continue            # not one of ours (a BuildKit-written cache): nothing to use
        for b in blobs:
            _import_blob(content, src, b)
        for cid, did, b in zip(chain_ids(dids), dids, blobs, strict=True):
            try:
                content.ensure_layer(cid, did, b)
            except ImageError as e:
                raise BuildError(f"cache_from {src}: layer {b}: {e.message}") from None
        from pystack.runtime.build.layers import LayerRef

        top = LayerRef(dids[-1], blobs[-1], content.blob_path(blobs[-1]).stat().st_size)
        cache.put(key, top, dids[:-1], blobs[:-1], str(results[0].get("createdAt", "")))
        new += 1
    return new


def _chain(layers: Sequence[Any], idx: Any, src: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while isinstance(idx, int) and idx >= 0:
        if idx >= len(layers) or not isinstance(layers[idx], dict) or len(out) > len(layers):
            raise BuildError(f"cache_from {src}: the cache config's layer chain is broken")
        out.append(layers[idx])
        idx = layers[idx].get("parent", -1)
    if not out:
        raise BuildError(f"cache_from {src}: a record names no layer")
    return list(reversed(out))


def _import_blob(content: Content, src: Path, digest: str) -> None:
    if content.has_blob(digest):
        return
    path = _blob(src, digest)
    try:
        with _open(path) as f:
            content.put_stream(f, expected=digest)
    except OSError as e:
        raise BuildError(f"cache_from {src}: cannot read {digest}: {e.strerror}") from None
    except ImageError as e:
        raise BuildError(f"cache_from {src}: {e.message}", e.hint) from None

