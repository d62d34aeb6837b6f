"""The on-disk layout of the image store, and every write to it (atomic, crash-safe).

    images/
      lock                       flock: shared while content is added, exclusive to delete it
      index.lock                 flock: exclusive around read-modify-write of the tag index
      repositories.json          tag index {"tags": {"docker.io/library/busybox:latest": id}}
      imagedb/<id-hex>.json      one record per image (config digest = image id)
      blobs/sha256/<hex>         configs, manifests and layer blobs, verified by digest
      layers/<chainid-hex>/      one unpacked layer: diff/ (the lowerdir), link, size
      layers/l/<short>           -> ../<chainid-hex>/diff, short names for overlay options
      tmp/                       in-flight blobs and layers, named .tmp-<pid>-<random>

A layer is unpacked into tmp/ and published by one rename(2) of the whole directory: a
directory under layers/ is complete by construction, and a crash leaves only a tmp entry,
removed by the next writer once its pid is gone.  Blobs are written the same way.  Content is
added by several processes at once (content-addressed, idempotent renames); deletion
(rmi/prune) takes the lock exclusively so it never races with an unfinished pull.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

from pystack.runtime.errors import ImageError
from pystack.runtime.image.fsutil import (
    atomic_write,
    hex_of,
    pid_alive,
    remove_path,
    short_id,
    syncfs,
)
from pystack.runtime.image.unpack import compression_of, unpack_layer

_CHUNK = 1 << 20
# What the current operation published (("blob"|"layer", digest)), for rollback on failure.
# Worker threads join it by running in a copy of the caller's context.
_JOURNAL: ContextVar[list[tuple[str, str]] | None] = ContextVar("journal", default=None)
class Content:
    """Blobs, unpacked layers, image records and the tag index under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.layers = root / "layers"
        self.links = self.layers / "l"
        self.imagedb = root / "imagedb"
        self.tmp = root / "tmp"
        self.index_path = root / "repositories.json"
        self._ready = False

    # -- setup and locks --------------------------------------------------------------------

    def ensure(self) -> None:
        if self._ready:
            return
        try:
            for d in (self.blobs, self.links, self.imagedb, self.tmp):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ImageError(f"cannot create the image store at {self.root}: {e.strerror}",
                             hint="set PYSTACK_ROOT to a writable directory") from e
        self._ready = True

    @contextlib.contextmanager
    def _flock(self, name: str, mode: int) -> Iterator[None]:
        self.ensure()
        fd = os.open(self.root / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def adding(self) -> contextlib.AbstractContextManager[None]:
        """Held while content is added (many at once)."""
        return self._flock("lock", fcntl.LOCK_SH)

    def deleting(self) -> contextlib.AbstractContextManager[None]:
        """Held while content is deleted (alone)."""
        return self._flock("lock", fcntl.LOCK_EX)

    def indexing(self) -> contextlib.AbstractContextManager[None]:
        return self._flock("index.lock", fcntl.LOCK_EX)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """On an exception, delete what this operation published unless a complete image
        refers to it, so a failed load/pull/import leaves the store as it was."""
        journal: list[tuple[str, str]] = []
        token = _JOURNAL.set(journal)
        try:
            yield
        except BaseException:
            self._rollback(journal)
            raise
        finally:
            _JOURNAL.reset(token)

    def _rollback(self, journal: list[tuple[str, str]]) -> None:
        used: set[tuple[str, str]] = set()
        for rec in self.records():
            used.add(("blob", rec["id"]))
            if rec.get("manifest"):
                used.add(("blob", rec["manifest"]["digest"]))
            for lay in rec.get("layers", []):
                used |= {("blob", lay["digest"]), ("layer", lay["chain_id"])}
        for kind, digest in journal:
            if (kind, digest) in used:
                continue
            if kind == "layer":
                self.delete_layer(digest)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.blob_path(digest).unlink()

    @staticmethod
    def _journal(kind: str, digest: str) -> None:
        journal = _JOURNAL.get()
        if journal is not None:
            journal.append((kind, digest))

    def new_tmp(self, suffix: str = "") -> Path:
        self.ensure()
        return self.tmp / f".tmp-{os.getpid()}-{secrets.token_hex(6)}{suffix}"

    def clean_tmp(self) -> None:
        """Remove what a dead writer left in tmp/ (half-downloaded blobs, half-unpacked dirs)
        and half-written records."""
        self.ensure()
        entries = [*self.tmp.iterdir(), *self.imagedb.glob(".tmp-*"), *self.root.glob(".tmp-*")]
        for entry in entries:
            parts = entry.name.split("-")
            if len(parts) >= 3 and parts[1].isdigit() and pid_alive(int(parts[1])):
                continue
            remove_path(entry)

    # -- blobs ------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError as e:
            raise ImageError(f"blob {digest} is missing from the store") from e

    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise ImageError(f"digest mismatch: expected {expected}, got {digest}",
                             hint="the content is corrupt")
        if not self.has_blob(digest):
            tmp = self.new_tmp()
            tmp.write_bytes(data)
            self._publish_file(tmp, self.blob_path(digest))
            self._journal("blob", digest)
        return digest

    def put_stream(self, src: IO[bytes], expected: str | None = None,
                   expected_size: int | None = None) -> tuple[str, int]:
        """Copy `src` into a blob, verifying `expected` digest; return (digest, size)."""
        if expected is not None and self.has_blob(expected):
            return expected, self.blob_path(expected).stat().st_size
        with self.blob_writer() as w:
            w.copy_from(src)
            return w.commit(expected, expected_size), w.size

    def blob_writer(self) -> BlobWriter:
        return BlobWriter(self)

    @staticmethod
    def _publish_file(tmp: Path, dest: Path) -> None:
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)

    # -- layers -----------------------------------------------------------------------------

    def layer_dir(self, chain_id: str) -> Path:
        return self.layers / hex_of(chain_id)

    def has_layer(self, chain_id: str) -> bool:
        return (self.layer_dir(chain_id) / "diff").is_dir()

    def link_path(self, chain_id: str) -> Path:
        """layers/l/<short>: the short path of a layer's diff dir (a symlink to it)."""
        return self.links / short_id(chain_id)

    def _ensure_link(self, chain_id: str) -> None:
        link = self.link_path(chain_id)
        if not link.is_symlink():
            with contextlib.suppress(FileExistsError):
                os.symlink(f"../{hex_of(chain_id)}/diff", link)

    def drop_dangling_links(self) -> None:
        for link in self.links.iterdir():
            if not link.exists():
                link.unlink()

    def layer_size(self, chain_id: str) -> int:
        try:
            return int((self.layer_dir(chain_id) / "size").read_text())
        except (OSError, ValueError):
            return 0

    def ensure_layer(self, chain_id: str, diff_id: str, blob_digest: str) -> bool:
        """Unpack blob as layer `chain_id` unless it is there; True if it was unpacked now."""
        if self.has_layer(chain_id):
            self._ensure_link(chain_id)
            return False
        return self._unpack(blob_digest, diff_id, chain_id)[1]

    def unpack_base_layer(self, blob_digest: str) -> str:
        """Unpack a bottom layer whose DiffID is not known yet; return the DiffID."""
        return self._unpack(blob_digest, None, None)[0]

    def compression(self, digest: str) -> str:
        with open(self.blob_path(digest), "rb") as f:
            return compression_of(f.read(4))

    def _unpack(self, blob_digest: str, diff_id: str | None,
                chain_id: str | None) -> tuple[str, bool]:
        work = self.new_tmp()
        work.mkdir()
        try:
            (work / "diff").mkdir()
            result = unpack_layer(self.blob_path(blob_digest), work / "diff", diff_id)
            chain = chain_id or result.diff_id       # a bottom layer: ChainID = DiffID
            if self.has_layer(chain):
                return result.diff_id, False
            short = short_id(chain)
            (work / "link").write_text(short)
            (work / "size").write_text(str(result.size))
            syncfs(work)
            # The short link first (dangling until the rename): a published layer always
            # has its link; a crash in between leaves only a dangling link, dropped by GC.
            self._ensure_link(chain)
            try:
                os.rename(work, self.layer_dir(chain))
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                return result.diff_id, False     # another writer published it first
            self._journal("layer", chain)
            return result.diff_id, True
        except OSError as e:
            raise ImageError(f"cannot unpack layer {blob_digest}: {e}") from e
        finally:
            if work.exists():
                remove_path(work)

    def layer_chain_ids(self) -> list[str]:
        return ["sha256:" + p.name for p in self.layers.iterdir()
                if len(p.name) == 64 and (p / "diff").is_dir()]

    def delete_layer(self, chain_id: str) -> None:
        final = self.layer_dir(chain_id)
        if not final.exists():
            return
        grave = self.new_tmp("-deleted")
        os.rename(final, grave)
        with contextlib.suppress(FileNotFoundError):
            self.link_path(chain_id).unlink()
        remove_path(grave)

    # -- image records and the tag index ----------------------------------------------------

    def record_path(self, image_id: str) -> Path:
        return self.imagedb / f"{hex_of(image_id)}.json"

    def read_record(self, image_id: str) -> dict[str, Any] | None:
        try:
            rec = json.loads(self.record_path(image_id).read_bytes())
        except FileNotFoundError:
            return None
        return rec if isinstance(rec, dict) else None

    def write_record(self, rec: dict[str, Any]) -> None:
        atomic_write(self.record_path(rec["id"]), json.dumps(rec, indent=1).encode())

    def delete_record(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.record_path(image_id).unlink()

    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.imagedb.is_dir():
            return out
        for p in sorted(self.imagedb.glob("[0-9a-f]*.json")):
            try:
                rec = json.loads(p.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def read_tags(self) -> dict[str, str]:
        try:
            doc = json.loads(self.index_path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise ImageError(f"the tag index {self.index_path} is corrupt: {e}") from e
        tags = doc.get("tags") if isinstance(doc, dict) else None
        return dict(tags) if isinstance(tags, dict) else {}

    def write_tags(self, tags: dict[str, str]) -> None:
        atomic_write(self.index_path, json.dumps({"tags": dict(sorted(tags.items()))},
                                                 indent=1).encode())


class BlobWriter:
    """A blob being written: a temp file hashed as it grows.  A download that breaks can
    continue where it stopped (`size`), or `reset()` and start over; `commit` verifies and
    publishes; leaving the `with` block without a commit removes the temp file."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self.tmp = content.new_tmp()
        self.file = open(self.tmp, "wb")  # noqa: SIM115 (closed by commit/__exit__)
        self.hash = hashlib.sha256()
        self.size = 0

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.size += len(chunk)
        self.file.write(chunk)

    def copy_from(self, src: IO[bytes]) -> None:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                return
            self.write(chunk)

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hash = hashlib.sha256()
        self.size = 0

    def commit(self, expected: str | None = None, expected_size: int | None = None) -> str:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        digest = "sha256:" + self.hash.hexdigest()
        if expected is not None and digest != expected:
            raise ImageError(f"blob digest mismatch: expected {expected}, got {digest}",
                             hint="the blob is corrupt or truncated")
        if expected_size is not None and self.size != expected_size:
            raise ImageError(f"blob {digest} has {self.size} bytes, expected {expected_size}")
        if not self.content.has_blob(digest):
            Content._publish_file(self.tmp, self.content.blob_path(digest))
            self.content._journal("blob", digest)
        return digest
