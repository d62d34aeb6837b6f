"""The build cache: step key -> the layer the step made (BuildKit's model).

A filesystem step's key is sha256 over its parent's key and what decides its result: the
expanded instruction (heredoc bodies included), the environment, user, working dir and shell a
RUN sees, the build args in scope (proxy args excluded, as BuildKit), and for COPY/ADD a digest
of the selected files' names, types, modes, owners and content (never their mtimes).  Records
live in the image store (images/buildcache/<key>.json), so every project, service and build
shares them; the store's GC keeps the layers they name (store.py `_gc`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystack.runtime.build.layers import LayerRef
from pystack.runtime.image.content import Content
from pystack.runtime.image.fsutil import chain_ids

PROXY_ARGS = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
                        "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"})


def key_of(parent: str, *parts: Any) -> str:
    h = hashlib.sha256(parent.encode())
    h.update(json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Hit:
    layer: LayerRef | None          # None: the step changed nothing
    created: str


class Cache:
    def __init__(self, content: Content) -> None:
        self.content = content
        self.dir = content.root / "buildcache"

    def _path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def record(self, key: str) -> dict[str, Any] | None:
        """The raw record of `key` (None when absent or unreadable)."""
        try:
            rec = json.loads(self._path(key).read_bytes())
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) else None

    def get(self, key: str, parent_diffs: list[str]) -> Hit | None:
        try:
            rec = json.loads(self._path(key).read_bytes())
        except (OSError, ValueError):
            return None
        lay = rec.get("layer")
        if lay is None:
            return Hit(None, str(rec.get("created", "")))
        ref = LayerRef(lay["diff_id"], lay["digest"], int(lay["size"]))
        chain = chain_ids([*parent_diffs, ref.diff_id])[-1]
        if not (self.content.has_blob(ref.digest) and self.content.has_layer(chain)):
            return None                     # pruned since: build it again
        return Hit(ref, str(rec.get("created", "")))

    def put(self, key: str, layer: LayerRef | None, parent_diffs: list[str],
            parent_blobs: list[str], created: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        rec: dict[str, Any] = {"created": created, "at": time.time(), "layer": None}
        if layer is not None:
            rec["layer"] = {"diff_id": layer.diff_id, "digest": layer.digest,
                            "size": layer.size}
            rec["diff_ids"] = [*parent_diffs, layer.diff_id]
            rec["blobs"] = [*parent_blobs, layer.digest]
        # tmp + rename, no fsync: a record lost in a crash only costs a cache miss
        tmp = self.dir / f".tmp-{os.getpid()}-{key[:16]}"
        tmp.write_bytes(json.dumps(rec).encode())
        os.replace(tmp, self._path(key))

    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.dir.is_dir():
            return out
        for p in self.dir.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(p.read_bytes()))
        return out

    def prune(self) -> int:
        """Forget every record; returns how many (the store's GC then frees the layers)."""
        n = 0
        if self.dir.is_dir():
            for p in self.dir.glob("*.json"):
                p.unlink(missing_ok=True)
                n += 1
        return n


def kept_by_cache(root: Path) -> tuple[set[str], set[str]]:
    """(chain ids, blob digests) the build cache under the store `root` refers to."""
    chains: set[str] = set()
    blobs: set[str] = set()
    d = root / "buildcache"
    if not d.is_dir():
        return chains, blobs
    for p in d.glob("*.json"):
        try:
            rec = json.loads(p.read_bytes())
        except (OSError, ValueError):
            continue
        if rec.get("diff_ids"):
            chains.update(chain_ids(list(rec["diff_ids"])))
            blobs.update(rec.get("blobs") or [])
    return chains, blobs


def usage(store: object) -> tuple[int, int]:
    """(records, bytes of layers only the build cache keeps) of the store's build cache."""
    from pystack.runtime.image.store import ImageStore

    assert isinstance(store, ImageStore)
    c = store.content
    chains, _ = kept_by_cache(c.root)
    for rec in c.records():
        chains -= {lay["chain_id"] for lay in rec["layers"]}
    return len(Cache(c).records()), sum(c.layer_size(ch) for ch in chains)


def prune(store: object, all_mounts: bool = False) -> tuple[int, int]:
    """Forget the build cache and free what only it kept: (records, bytes reclaimed).
    all_mounts also empties the RUN --mount=type=cache directories."""
    import shutil

    from pystack.runtime.image.store import ImageStore

    assert isinstance(store, ImageStore)
    with store.content.deleting():
        n = Cache(store.content).prune()
        freed = store._gc()
    if all_mounts:
        mounts = store.content.root.parent / "buildmounts"
        if mounts.is_dir():
            shutil.rmtree(mounts, ignore_errors=True)
    return n, freed
