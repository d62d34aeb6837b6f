"""COPY and ADD: which files go where (Docker's rules), their cache digest, and the staging
tree that becomes the step's layer.

Rules, as BuildKit: a source is relative to its tree's root and cannot leave it; a source with
`*?[` is matched as Go's filepath.Match against the tree (no match is an error); a directory
source copies its contents; a file lands at DEST when DEST names a file, else at DEST/NAME
(DEST ends with "/", is an existing directory, or several sources are given — then DEST must
end with "/").  A relative DEST is below WORKDIR.  Owners are 0:0 unless --chown; modes are
kept unless --chmod; mtimes are kept (but are not in the digest).  ADD extracts a local tar
archive (plain, gzip, bzip2, xz, zstd) through the store's safe unpacker; whiteout entries in
such a tar are dropped (they would delete image files).  The destination is resolved inside
the image (symlinks followed in the image's tree, never the host's).
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pystack.runtime import layerview
from pystack.runtime.build.chmod import ModeSpec
from pystack.runtime.build.context import Parts, Tree
from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.patterns import IgnoreMatcher, go_match, has_wildcards
from pystack.runtime.image.unpack import OPAQUE_XATTR, unpack_layer


@dataclass(frozen=True)
class Item:
    dest: Parts                     # where, in the image (relative to /)
    kind: str                       # "dir" | "file" | "link" | "inline" | "tar"
    tree: Tree | None = None
    src: Parts = ()
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = 0.0
    data: bytes = b""               # inline content, or a link's target


@dataclass(frozen=True)
class Inline:
    name: str
    data: bytes


def _tar_kind(tree: Tree, parts: Parts) -> str | None:
    fd = tree.open_file(parts)
    try:
        head = os.pread(fd, 262, 0)
    finally:
        os.close(fd)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def _matches(tree: Tree, pattern: str) -> list[Parts]:
    pat = "/".join(p for p in pattern.split("/") if p not in ("", "."))
    want = pat.split("/")
    found: list[Parts] = []

    def walk(cur: Parts, depth: int) -> None:
        st = tree.lstat(cur)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        for name in tree.listdir(cur):
            sub = (*cur, name)
            if not go_match(want[depth], name) or tree.excluded(sub):
                continue
            if depth == len(want) - 1:
                found.append(sub)
            else:
                walk(sub, depth + 1)
    walk((), 0)
    return found


def image_path(layers_top: Sequence[Path], path: str) -> tuple[Parts, os.stat_result | None]:
    """The symlink-free parts of `path` in the image (links followed inside it), and the
    lstat of what is there (None if nothing)."""
    real: list[str] = []
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, comp in enumerate(parts):
        if comp == "..":
            if real:
                real.pop()
            continue
        hit = layerview.resolve(layers_top, "/".join([*real, comp]))
        if hit is None:
            return (*real, *[p for p in parts[i:] if p != ".."]), None
        real = list(hit[1])
    if not real:
        return (), os.lstat(layers_top[0]) if layers_top else None
    hit = layerview.resolve(layers_top, "/".join(real))
    return tuple(real), os.lstat(hit[0].joinpath(*hit[1])) if hit else None


def plan(sources: Sequence[str], inline: Sequence[Inline], tree: Tree, dest: str,
         workdir: str, layers_top: Sequence[Path], owner: tuple[int, int] | None,
         chmod: ModeSpec | None, add: bool, cmd: str, parents: bool = False,
         exclude: IgnoreMatcher | None = None, remote: Sequence[tuple[Tree, Parts]] = (),
         n_remote: int = 0) -> list[Item]:
    """The items a COPY/ADD writes, in order (`parents`: COPY --parents).  `exclude`
    (--exclude) is matched, as BuildKit's copier does, against the paths below each source
    (below the pivot with --parents), never against the source itself.  `remote`: ADD's
    downloaded files and git trees (never unpacked), `n_remote` how many there will be when
    they are not fetched yet (for the directory rule)."""
    if not dest.startswith("/"):
        dest = (workdir.rstrip("/") or "") + "/" + dest
    count = len(sources) + len(inline) + max(n_remote, len(remote))
    dir_dest = dest.endswith("/") or dest.endswith("/.") or count > 1
    if count > 1 and not (dest.endswith("/") or dest.endswith("/.")):
        raise BuildError(f"{cmd}: when using {cmd} with more than one source file, the "
                         "destination must be a directory and end with a /")
    dparts, dst = image_path(layers_top, dest)
    if dst is not None and stat.S_ISDIR(dst.st_mode):
        dir_dest = True
    uid, gid = owner or (0, 0)
    items: list[Item] = []
    for src in sources:
        if parents:
            items.extend(_with_parents(tree, src, dparts, uid, gid, chmod, cmd, exclude))
            continue
        if has_wildcards(src):
            found = _matches(tree, src)
            if not found:
                raise BuildError(f"{cmd}: no source files were specified: nothing in "
                                 f"{tree.what} matches {src!r}")
            for parts in found:
                items.extend(_one(tree, parts, dparts, True, uid, gid, chmod, add, exclude))
            continue
        got = tree.resolve(src)
        if got is None or tree.excluded(got):
            why = (" (it is excluded by .dockerignore)"
                   if got is not None or tree.excluded(tuple(src.strip("/").split("/")))
                   else "")
            raise BuildError(f"{cmd}: source {src!r} not found in {tree.what}{why}",
                             hint="check the path (relative to the context root)")
        items.extend(_one(tree, got, dparts, dir_dest, uid, gid, chmod, add, exclude))
    for rtree, parts in remote:
        items.extend(_one(rtree, parts, dparts, dir_dest, uid, gid, chmod, False, exclude))
    for doc in inline:
        target = (*dparts, doc.name) if dir_dest else dparts
        items.append(Item(target, "inline", mode=_mode(chmod, 0o644, False),
                          uid=uid, gid=gid, data=doc.data))
    return items


def _mode(chmod: ModeSpec | None, mode: int, is_dir: bool) -> int:
    return mode if chmod is None else chmod.apply(mode, is_dir)


def _with_parents(tree: Tree, src: str, dparts: Parts, uid: int, gid: int,
                  chmod: ModeSpec | None, cmd: str, exclude: IgnoreMatcher | None
                  ) -> list[Item]:
    """COPY --parents SRC: what SRC names (a path or a pattern), at DEST/<its path below the
    pivot>, with its parent directories.  The pivot is the part before a `/./` (else the
    tree's root).  A pattern is matched as .dockerignore patterns are (a match includes
    what is below it); one that matches nothing copies nothing, a plain path must exist."""
    from pystack.runtime.build.patterns import clean

    pivot_s, sep, pattern = src.partition("/./")
    if not sep:
        pivot_s, pattern = "/", src
    pivot = tree.resolve(pivot_s)
    pst = tree.lstat(pivot) if pivot is not None else None
    if pivot is None or pst is None or not stat.S_ISDIR(pst.st_mode):
        raise BuildError(f"{cmd}: source {pivot_s!r} not found in {tree.what}")
    comps = [c for c in clean("/" + pattern).split("/") if c]
    fixed = next((i for i, c in enumerate(comps) if has_wildcards(c)), len(comps))
    start = (*pivot, *comps[:fixed])
    st = tree.lstat(start)
    through_link = any(not stat.S_ISDIR(getattr(tree.lstat(start[:i]), "st_mode", 0))
                       for i in range(len(pivot) + 1, len(start)))   # never via a link
    if st is None or through_link or tree.excluded(start) or (fixed < len(comps) and
                                               not stat.S_ISDIR(st.st_mode)):
        if fixed == len(comps):
            raise BuildError(f"{cmd}: source {src!r} not found in {tree.what}",
                             hint="check the path (relative to the context root)")
        return []
    found: list[tuple[Parts, os.stat_result]] = []
    if fixed == len(comps):
        found.append((start, st))
        if stat.S_ISDIR(st.st_mode):
            found.extend(tree.walk(start))
    else:
        match = IgnoreMatcher(["/".join(comps)])
        found.extend((sub, sst) for sub, sst in tree.walk(start)
                     if match.excluded("/".join(sub[len(pivot):])))
    out: list[Item] = []
    made: set[Parts] = set()
    for sub, sst in found:
        rel = sub[len(pivot):]
        if exclude is not None and exclude.excluded("/".join(rel)):
            continue
        for i in range(1, len(rel)):             # its parents, with their own metadata
            if rel[:i] not in made:
                made.add(rel[:i])
                pst = tree.lstat((*pivot, *rel[:i]))
                assert pst is not None
                out.append(_entry(tree, (*pivot, *rel[:i]), pst, (*dparts, *rel[:i]), uid,
                                  gid, chmod))
        if rel not in made:
            made.add(rel)
            out.append(_entry(tree, sub, sst, (*dparts, *rel), uid, gid, chmod))
    return out


def _one(tree: Tree, parts: Parts, dparts: Parts, dir_dest: bool, uid: int, gid: int,
         chmod: ModeSpec | None, add: bool, exclude: IgnoreMatcher | None = None
         ) -> list[Item]:
    st = tree.lstat(parts)
    assert st is not None
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        out = [Item(dparts, "dir", tree, parts, _mode(chmod, mode, True), uid, gid,
                    st.st_mtime)]
        for sub, sst in tree.walk(parts):
            rel = sub[len(parts):]
            if exclude is not None and exclude.excluded("/".join(rel)):
                continue
            out.append(_entry(tree, sub, sst, (*dparts, *rel), uid, gid, chmod))
        return out
    if add and stat.S_ISREG(st.st_mode) and _tar_kind(tree, parts):
        return [Item(dparts, "tar", tree, parts, mode, uid, gid, st.st_mtime)]
    target = (*dparts, parts[-1]) if dir_dest or not dparts else dparts
    return [_entry(tree, parts, st, target, uid, gid, chmod)]


def _entry(tree: Tree, parts: Parts, st: os.stat_result, dest: Parts, uid: int, gid: int,
           chmod: ModeSpec | None) -> Item:
    mode = _mode(chmod, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode))
    if stat.S_ISDIR(st.st_mode):
        return Item(dest, "dir", tree, parts, mode, uid, gid, st.st_mtime)
    if stat.S_ISLNK(st.st_mode):
        return Item(dest, "link", tree, parts, 0o777, uid, gid, st.st_mtime,
                    tree.readlink(parts).encode())
    if stat.S_ISREG(st.st_mode):
        return Item(dest, "file", tree, parts, mode, uid, gid, st.st_mtime)
    raise BuildError(f"cannot copy {'/'.join(parts)} from {tree.what}: not a regular file, "
                     "directory or symlink")


def digest(items: Sequence[Item]) -> str:
    """Names, types, modes, owners and content of the items; mtimes left out."""
    h = hashlib.sha256()
    for it in items:
        h.update(f"{'/'.join(it.dest)}\0{it.kind}\0{it.mode:o}\0{it.uid}:{it.gid}\0".encode())
        if it.kind in ("file", "tar") and it.tree is not None:
            fd = it.tree.open_file(it.src)
            try:
                while chunk := os.read(fd, 1 << 20):
                    h.update(chunk)
            finally:
                os.close(fd)
        else:
            h.update(it.data)
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


def _clear(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _mkdirs(staging: Path, dest: Parts, layers_top: Sequence[Path], owner: tuple[int, int]
            ) -> Path:
    """staging/<dest parents> as real directories (never through a link written before),
    each with the image's metadata when the image has it."""
    cur = staging
    for i, comp in enumerate(dest[:-1]):
        cur = cur / comp
        st = os.lstat(cur) if os.path.lexists(cur) else None
        if st is not None and stat.S_ISDIR(st.st_mode):
            continue
        if st is not None:
            _clear(cur)
        os.mkdir(cur)
        hit = layerview.resolve(layers_top, "/".join(dest[:i + 1])) if layers_top else None
        if hit is not None:
            ist = os.lstat(hit[0].joinpath(*hit[1]))
            os.chmod(cur, stat.S_IMODE(ist.st_mode))
            os.chown(cur, ist.st_uid, ist.st_gid)
            os.utime(cur, ns=(ist.st_mtime_ns, ist.st_mtime_ns))
        else:
            os.chmod(cur, 0o755)
            os.chown(cur, *owner)
    return cur / dest[-1] if dest else staging


def write(items: Sequence[Item], staging: Path, layers_top: Sequence[Path]) -> None:
    """Materialise the items under `staging` (a private, empty directory)."""
    dirs: list[tuple[Path, Item]] = []
    for it in items:
        path = _mkdirs(staging, it.dest, layers_top, (it.uid, it.gid))
        if it.kind == "dir":
            if not (os.path.isdir(path) and not os.path.islink(path)):
                _clear(path)
                os.mkdir(path)
            os.chown(path, it.uid, it.gid)
            os.chmod(path, it.mode)
            dirs.append((path, it))
            continue
        if it.kind == "tar":
            _extract(it, path if it.dest else staging)
            continue
        _clear(path)
        if it.kind == "link":
            os.symlink(it.data, path)
            os.chown(path, it.uid, it.gid, follow_symlinks=False)
            os.utime(path, (it.mtime, it.mtime), follow_symlinks=False)
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            if it.kind == "inline":
                os.write(fd, it.data)
            else:
                assert it.tree is not None
                src = it.tree.open_file(it.src)
                try:
                    while chunk := os.read(src, 1 << 20):
                        os.write(fd, chunk)
                finally:
                    os.close(src)
            os.fchown(fd, it.uid, it.gid)
            os.fchmod(fd, it.mode)
            if it.kind != "inline":
                os.utime(fd, (it.mtime, it.mtime))
        finally:
            os.close(fd)
    for path, it in reversed(dirs):
        os.utime(path, (it.mtime, it.mtime), follow_symlinks=False)


def _extract(it: Item, dest: Path) -> None:
    """ADD of a local archive: unpack into `dest` through the safe unpacker."""
    assert it.tree is not None
    kind = _tar_kind(it.tree, it.src)
    work = dest.parent / f".add-{os.getpid()}-{id(it)}"
    os.mkdir(work, 0o700)
    try:
        blob = work / "blob"
        fd = it.tree.open_file(it.src)
        with os.fdopen(fd, "rb") as raw:
            opener = {"bzip2": bz2.open, "xz": lzma.open}.get(kind or "")
            with open(blob, "wb") as out:
                shutil.copyfileobj(opener(raw) if opener else raw, out)   # type: ignore[operator]
        tree = work / "tree"
        os.mkdir(tree)
        unpack_layer(blob, tree)
        _strip_overlay_marks(tree)
        os.makedirs(dest, exist_ok=True)
        _merge(tree, dest)
    except OSError as e:
        raise BuildError(f"ADD: cannot extract {'/'.join(it.src)}: {e}") from e
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _strip_overlay_marks(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            st = os.lstat(p)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                p.unlink()
            elif stat.S_ISDIR(st.st_mode):
                try:
                    os.removexattr(p, OPAQUE_XATTR, follow_symlinks=False)
                except OSError:
                    pass


def _merge(src: Path, dest: Path) -> None:
    for name in os.listdir(src):
        s, d = src / name, dest / name
        sst = os.lstat(s)
        if stat.S_ISDIR(sst.st_mode) and os.path.isdir(d) and not os.path.islink(d):
            _merge(s, d)
            continue
        _clear(d)
        os.rename(s, d)
