"""ImageStore: the public API of the image store (what the runtime and orchestrator call).

    store = ImageStore()                         # $PYSTACK_ROOT/images
    image = store.get("busybox")                 # Image: config + layer_dirs (bottom first)
    base, lowers = overlay_lowerdirs(image.layer_dirs)

The on-disk layout and its crash-safety are in content.py; local formats in sources.py; the
registry in distribution.py.  Every method raises only pystack.runtime.errors.ImageError
(ImageNotFoundError for unknown references) and leaves the store as it was on failure:
content is published by rename only once verified, and the tag index changes last.
"""

from __future__ import annotations

import builtins
import contextvars
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystack.runtime.errors import ContainerRuntimeError, ImageError, ImageNotFoundError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.image.content import Content
from pystack.runtime.image.fsutil import chain_ids, hex_of
from pystack.runtime.image.model import Image, ImageConfig
from pystack.runtime.image.reference import is_image_id, looks_like_id_prefix, parse
from pystack.runtime.image.sources import Fetched, LayerBlob, load_path
from pystack.runtime.settings import settings

InUse = Callable[[str], bool]
Progress = Callable[[str, str, int, int], None]   # (layer digest, status, done, total bytes)


def default_root() -> Path:
    return settings().root / "images"


def overlay_lowerdirs(layer_dirs: Sequence[str | Path]) -> tuple[Path | None, tuple[str, ...]]:
    """Short lowerdir paths for an overlay mount: (base, paths), in the order given.

    Image.layer_dirs are already short: <store>/layers/l/<12 chars>, symlinks to the unpacked
    diff dirs (overlay resolves them at mount time), so absolute paths of ~80 layers fit in
    the one page mount(2) takes.  For more, mount from a process whose cwd is `base` (the
    store's layers/ dir) with these "l/<12 chars>" paths: 128 layers then fit (or use
    fsconfig "lowerdir+" with the absolute dirs).  Any other dir (a plain rootfs) is returned
    absolute.  `base` is None if no store layer is given.
    """
    base: Path | None = None
    out: list[str] = []
    for d in map(Path, layer_dirs):
        if d.parent.name == "l" and d.is_symlink():
            base = d.parent.parent
            out.append(f"l/{d.name}")
        elif d.name == "diff" and (d.parent / "link").is_file() and \
                (d.parent.parent / "l" / (d.parent / "link").read_text().strip()).is_symlink():
            base = d.parent.parent
            out.append(f"l/{(d.parent / 'link').read_text().strip()}")
        else:
            out.append(str(d))
    return base, tuple(out)


@dataclass(frozen=True)
class PruneReport:
    images: tuple[str, ...]          # image ids deleted
    reclaimed: int                   # bytes


class ImageStore:
    """Images under `root` (None = $PYSTACK_ROOT/images)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_root()
        self.content = Content(self.root)

    # -- lookups ----------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """The image id `ref` names: a tag, name@digest, an image id or a unique id prefix."""
        recs: dict[str, dict[str, Any]] = {str(r["id"]): r for r in self.content.records()}
        if is_image_id(ref):
            full = ref if ref.startswith("sha256:") else f"sha256:{ref}"
            if full in recs:
                return full
        try:
            r = parse(ref)
        except ImageError:
            r = None
        if r is not None:
            if r.digest:
                key = f"{r.name}@{r.digest}"
                for rec in recs.values():
                    if key in rec.get("repo_digests", []):
                        return str(rec["id"])
            else:
                image_id = self.content.read_tags().get(str(r))
                if image_id is not None and image_id in recs:
                    return image_id
        if looks_like_id_prefix(ref):
            want = "sha256:" + ref.removeprefix("sha256:")
            hits = [i for i in recs if i.startswith(want)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ImageError(f"image id prefix {ref!r} is ambiguous ({len(hits)} images)")
        if r is None:
            parse(ref)                        # raise the reference's own message
        raise ImageNotFoundError(f"no such image: {ref}",
                                 hint="pull it (`pystack pull REF`) or load it "
                                      "(`pystack image load -i FILE`)")

    def exists(self, ref: str) -> bool:
        try:
            self.resolve(ref)
        except ImageError:
            return False
        return True

    def get(self, ref: str) -> Image:
        return self._image(self._record(self.resolve(ref)), self.content.read_tags())

    def copy_into(self, image: Image, path: str, dest: Path) -> bool:
        """The image's directory `path` copied into the empty dir `dest` (a new volume), see
        runtime/safecopy.py; False when the image has no directory there."""
        from pystack.runtime.safecopy import copy_into

        try:
            return copy_into(image.layer_dirs, path, dest)
        except ImageError:
            raise
        except ContainerRuntimeError as e:
            raise ImageError(e.message) from e

    def list(self) -> builtins.list[Image]:
        tags = self.content.read_tags()
        images = [self._image(r, tags) for r in self.content.records()]
        return sorted(images, key=lambda i: (i.created, i.id), reverse=True)

    def _record(self, image_id: str) -> dict[str, Any]:
        rec = self.content.read_record(image_id)
        if rec is None:
            raise ImageNotFoundError(f"no such image: {image_id}")
        return rec

    def _image(self, rec: dict[str, Any], tags: dict[str, str]) -> Image:
        doc = ic.load_json(self.content.read_blob(rec["id"]), "image config")
        names = tuple(sorted(t for t, i in tags.items() if i == rec["id"]))
        digests = rec.get("repo_digests") or []
        return Image(
            id=rec["id"], names=names, config=ic.parse_config(doc),
            layer_dirs=tuple(self.content.link_path(lay["chain_id"]) for lay in rec["layers"]),
            created=str(doc.get("created") or ""), size=int(rec.get("size", 0)),
            digest=digests[0].split("@", 1)[1] if digests else None)

    def inspect(self, ref: str) -> dict[str, Any]:
        """A `docker image inspect`-shaped dict."""
        image_id = self.resolve(ref)
        rec = self._record(image_id)
        doc = ic.load_json(self.content.read_blob(image_id), "image config")
        image = self._image(rec, self.content.read_tags())
        base, lowers = overlay_lowerdirs(image.layer_dirs)
        return {
            "Id": image_id,
            "RepoTags": [parse(n).familiar() for n in image.names],
            "RepoDigests": [parse(d).familiar() for d in rec.get("repo_digests") or []],
            "Created": image.created,
            "Size": image.size,
            "Architecture": doc.get("architecture", ""),
            "Os": doc.get("os", ""),
            "Author": doc.get("author", ""),
            "Config": doc.get("config") or {},
            "RootFS": {"Type": "layers", "Layers": [lay["diff_id"] for lay in rec["layers"]]},
            "Manifest": rec.get("manifest"),
            "GraphDriver": {"Name": "overlay", "Data": {
                "LowerDirs": [str(d) for d in image.layer_dirs],
                "UnpackedDirs": [str(self.content.layer_dir(lay["chain_id"]) / "diff")
                                 for lay in rec["layers"]],
                "ShortLowerDirs": list(lowers), "Base": str(base) if base else None}},
        }

    # -- adding images ----------------------------------------------------------------------

    def load(self, path: Path) -> builtins.list[Image]:
        """Load every image of a docker-save tarball, OCI archive or OCI layout directory."""
        if not Path(path).exists():
            raise ImageError(f"{path}: no such file or directory")
        with self.content.adding(), self.content.transaction():
            self.content.clean_tmp()
            fetched = load_path(self.content, Path(path))
            return [self.ingest(f) for f in fetched]

    def import_rootfs(self, tar: Path, ref: str | None = None,
                      config: ImageConfig | None = None) -> Image:
        """A one-layer image from a root filesystem tarball (plain, gzip or zstd)."""
        names = (parse(ref),) if ref else ()
        if names and names[0].digest:
            raise ImageError(f"cannot import as {ref!r}: a digest cannot be given")
        if not os.access(tar, os.R_OK) or not Path(tar).is_file():
            raise ImageError(f"cannot read {tar}: no such file, or not readable")
        with self.content.adding(), self.content.transaction():
            self.content.clean_tmp()
            try:
                f = open(tar, "rb")  # noqa: SIM115 (closed below)
            except OSError as e:
                raise ImageError(f"cannot read {tar}: {e.strerror}") from e
            with f:
                digest, size = self.content.put_stream(f)
            compression = self.content.compression(digest)
            if compression == "":
                # a plain tar's digest is its DiffID: an imported-before layer is not unpacked
                diff_id = digest
                self.content.ensure_layer(diff_id, diff_id, digest)
            else:
                diff_id = self.content.unpack_base_layer(digest)
            media_type = ic.LAYER_TYPE_BY_COMPRESSION[compression]
            doc = ic.new_config_doc(config or ImageConfig(), [diff_id],
                                    f"pystack image import {Path(tar).name}")
            raw = json.dumps(doc, separators=(",", ":")).encode()
            return self.ingest(Fetched(raw, (LayerBlob(digest, media_type, size),), names))

    def ingest(self, f: Fetched) -> Image:
        """Register an image whose blobs are in the store (caller holds content.adding())."""
        image_id = self.content.put_bytes(f.config)
        doc = ic.load_json(f.config, "image config")
        ic.check_platform(doc, "the image")
        diff_ids = ic.diff_ids_of(doc)
        if len(diff_ids) != len(f.layers):
            raise ImageError(f"the image config lists {len(diff_ids)} layers but the manifest "
                             f"has {len(f.layers)}")
        chains = chain_ids(diff_ids)
        for diff in diff_ids:
            hex_of(diff)
        self._unpack_all(chains, diff_ids, [lay.digest for lay in f.layers])
        manifest = None
        if f.manifest is not None:
            mdigest = self.content.put_bytes(f.manifest)
            manifest = {"digest": mdigest, "mediaType": f.manifest_type,
                        "size": len(f.manifest)}
        with self.content.indexing():
            old = self.content.read_record(image_id) or {}
            rec = {
                "id": image_id,
                "created": doc.get("created") or "",
                "layers": [{"digest": lay.digest, "mediaType": lay.media_type,
                            "size": lay.size, "diff_id": d, "chain_id": c}
                           for lay, d, c in zip(f.layers, diff_ids, chains, strict=True)],
                "size": sum(self.content.layer_size(c) for c in chains),
                "manifest": manifest or old.get("manifest"),
                "repo_digests": sorted(set(old.get("repo_digests") or [])
                                       | set(f.repo_digests)),
            }
            self.content.write_record(rec)
            tags = self.content.read_tags()
            for n in f.names:
                if n.tag:
                    tags[str(n.with_tag(n.tag))] = image_id
            self.content.write_tags(tags)
            return self._image(rec, tags)

    def _unpack_all(self, chains: Sequence[str], diff_ids: Sequence[str],
                    blobs: Sequence[str]) -> None:
        """Unpack the missing layers, several at once (each in a copy of our context, so
        they join the rollback journal); the first error is raised once all have ended."""
        todo = [i for i, c in enumerate(chains) if not self.content.has_layer(c)]
        if len(todo) <= 1:
            for i in range(len(chains)):
                self.content.ensure_layer(chains[i], diff_ids[i], blobs[i])
            return
        from concurrent.futures import ThreadPoolExecutor

        from pystack.runtime.image.distribution import workers

        with ThreadPoolExecutor(max_workers=workers()) as pool:
            futures = [pool.submit(contextvars.copy_context().run, self.content.ensure_layer,
                                   chains[i], diff_ids[i], blobs[i]) for i in range(len(chains))]
            errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise errors[0]

    def tag(self, src: str, dst: str) -> None:
        image_id = self.resolve(src)
        r = parse(dst)
        if r.digest:
            raise ImageError(f"cannot tag {dst!r}: a tag cannot contain a digest")
        with self.content.indexing():
            tags = self.content.read_tags()
            tags[str(r)] = image_id
            self.content.write_tags(tags)

    # -- registry ---------------------------------------------------------------------------

    def pull(self, ref: str, progress: Progress | None = None, insecure: bool = False) -> Image:
        """Pull `ref` (linux/amd64) from its registry; digests verified end to end.  The
        manifest and config are checked before the store is touched."""
        from pystack.runtime.image.distribution import fetch, resolve

        resolved = resolve(parse(ref), insecure)
        with self.content.adding(), self.content.transaction():
            self.content.clean_tmp()
            return self.ingest(fetch(self.content, resolved, progress))

    def push(self, ref: str, progress: Progress | None = None, insecure: bool = False) -> str:
        """Push the image `ref` names to the registry of `ref`; return the manifest digest."""
        from pystack.runtime.image.distribution import push

        image_id = self.resolve(ref)
        r = parse(ref)
        with self.content.adding():
            digest, desc = push(self.content, self._record(image_id), r, progress, insecure)
            with self.content.indexing():
                rec = self._record(image_id)
                rec["manifest"] = rec.get("manifest") or desc
                rec["repo_digests"] = sorted({*rec.get("repo_digests", []),
                                              f"{r.name}@{digest}"})
                self.content.write_record(rec)
        return digest

    # -- removal ----------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False,
               in_use: InUse | None = None) -> builtins.list[str]:
        """`docker rmi`: untag, and delete the image once no tag is left.  Returns
        "Untagged: X" / "Deleted: ID" lines.  An image used by a container (in_use(id)) is
        refused, or with force only untagged."""
        with self.content.deleting():
            image_id = self.resolve(ref)
            tags = self.content.read_tags()
            names = sorted(t for t, i in tags.items() if i == image_id)
            try:
                by_name = str(parse(ref)) if str(parse(ref)) in names else None
            except ImageError:
                by_name = None
            if by_name and len(names) > 1:
                return self._untag(tags, [by_name])
            if len(names) > 1 and not force:
                raise ImageError(f"unable to delete {hex_of(image_id)[:12]} (must be forced): "
                                 "image is referenced in multiple repositories")
            if in_use is not None and in_use(image_id):
                if not force:
                    raise ImageError(f"unable to remove image {ref}: it is being used by a "
                                     "container", hint="remove the container first, or use -f "
                                                       "to untag the image only")
                return self._untag(tags, names)
            out = self._untag(tags, names)
            self.content.delete_record(image_id)
            out.append(f"Deleted: {image_id}")
            self._gc()
            return out

    def _untag(self, tags: dict[str, str], names: builtins.list[str]) -> builtins.list[str]:
        with self.content.indexing():
            for n in names:
                tags.pop(n, None)
            self.content.write_tags(tags)
        return [f"Untagged: {parse(n).familiar()}" for n in names]

    def prune(self, all: bool = False, in_use: InUse | None = None) -> PruneReport:
        """Delete dangling images (all unused ones with all=True), then every layer and blob
        no image references, and what dead writers left in tmp/."""
        with self.content.deleting():
            tags = self.content.read_tags()
            tagged = set(tags.values())
            deleted = []
            for rec in self.content.records():
                if rec["id"] in tagged and not all:
                    continue
                if in_use is not None and in_use(rec["id"]):
                    continue
                if rec["id"] in tagged:
                    self._untag(tags, [t for t, i in tags.items() if i == rec["id"]])
                self.content.delete_record(rec["id"])
                deleted.append(rec["id"])
            return PruneReport(tuple(deleted), self._gc())

    def _gc(self) -> int:
        """Delete unreferenced layers and blobs (caller holds content.deleting())."""
        c = self.content
        c.clean_tmp()
        from pystack.runtime.build.cache import kept_by_cache

        chains, blobs = kept_by_cache(c.root)          # layers the build cache still names
        for rec in c.records():
            blobs.add(rec["id"])
            if rec.get("manifest"):
                blobs.add(rec["manifest"]["digest"])
            for lay in rec["layers"]:
                chains.add(lay["chain_id"])
                blobs.add(lay["digest"])
        reclaimed = 0
        for chain in c.layer_chain_ids():
            if chain not in chains:
                reclaimed += c.layer_size(chain)
                c.delete_layer(chain)
        for p in list(c.blobs.iterdir()):
            if f"sha256:{p.name}" not in blobs:
                reclaimed += p.stat().st_size
                p.unlink()
        c.drop_dangling_links()
        return reclaimed
