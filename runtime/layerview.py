"""Reading a file of an image from its unpacked layer directories, as the container will see it.

The runtime resolves users from the image's /etc/passwd and /etc/group before any overlay is
mounted, on the HOST, as root.  A layer is untrusted input: its /etc/passwd may be a symlink to
/etc/shadow, its /etc a symlink to "../../../..", or a FIFO that would block us forever.  So the
path is resolved here the way overlayfs and a chroot would, never by the host's kernel:

- the layers (topmost first) form one tree: an entry is taken from the topmost layer that has
  it; a whiteout (a char device 0/0) hides it and everything below; a directory merges with the
  same directory of the lower layers until one is opaque (trusted.overlay.opaque=y) or a lower
  layer has a non-directory there;
- a symlink is followed INSIDE that tree (an absolute target restarts at the tree's root, ".."
  never climbs above it), at most MAX_LINKS times;
- only a regular file is read, at most MAX_SIZE bytes: it is opened one component at a time
  from its layer's root with O_NOFOLLOW (a running container may swap a directory of its
  upper dir for a symlink between the resolution and the open), O_NONBLOCK (no FIFO blocks
  us), and checked with fstat.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pystack.runtime.errors import ContainerRuntimeError

MAX_LINKS = 40                       # the kernel's limit (ELOOP)
MAX_SIZE = 16 << 20
OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True)
class UnionDir:
    """A directory of the union: its path below the root and the layers it merges."""
    rel: tuple[str, ...]
    layers: tuple[Path, ...]


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _is_opaque(path: Path, xattr: str) -> bool:
    try:
        return os.getxattr(path, xattr, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


_Hit = tuple[Path, tuple[str, ...], os.stat_result, UnionDir | None]


def _lookup(parent: UnionDir, name: str, xattr: str) -> _Hit | None:
    """The entry `name` of the union directory `parent`: (the topmost layer that has it, its
    path below that layer, its lstat, the merged UnionDir when it is a directory), or None
    (absent or whited out)."""
    for i, layer in enumerate(parent.layers):
        path = layer.joinpath(*parent.rel, name)
        st = _lstat(path)
        if st is None:
            continue
        if _is_whiteout(st):
            return None
        if not stat.S_ISDIR(st.st_mode):
            return layer, (*parent.rel, name), st, None
        merged = [layer]
        if not _is_opaque(path, xattr):
            for lower in parent.layers[i + 1:]:
                lpath = lower.joinpath(*parent.rel, name)
                lst = _lstat(lpath)
                if lst is None:
                    continue
                if not stat.S_ISDIR(lst.st_mode):
                    break                   # a whiteout or a file hides this and lower layers
                merged.append(lower)
                if _is_opaque(lpath, xattr):
                    break
        return layer, (*parent.rel, name), st, UnionDir((*parent.rel, name), tuple(merged))
    return None


def _walk(layers: Sequence[Path], rel: str,
          xattr: str) -> tuple[Path, tuple[str, ...]] | UnionDir | None:
    """`rel` resolved in the union: the merged UnionDir when it is a directory, (layer, path below
    it) for anything else, None when it does not exist."""
    root = UnionDir((), tuple(layers))
    stack = [root]                          # the directories walked, for ".."
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if len(stack) > 1:
                stack.pop()
            continue
        hit = _lookup(stack[-1], part, xattr)
        if hit is None:
            return None
        layer, below, st, merged = hit
        path = layer.joinpath(*below)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise ContainerRuntimeError(f"too many levels of symbolic links resolving "
                                            f"/{rel.lstrip('/')} in the image")
            target = os.readlink(path)
            if target.startswith("/"):
                del stack[1:]
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        if merged is not None:
            stack.append(merged)
            continue
        if parts:
            return None                      # a file used as a directory: ENOTDIR
        return layer, below
    return stack[-1] if stack[-1].layers else None


def resolve(layers: Sequence[Path], rel: str,
            xattr: str = OPAQUE_XATTR) -> tuple[Path, tuple[str, ...]] | None:
    """The layer entry that `rel` names in the union of `layers` (topmost first), every
    symlink resolved inside the union: (its layer, its path below it, free of symlinks), or
    None when it does not exist there."""
    hit = _walk(layers, rel, xattr)
    if isinstance(hit, UnionDir):
        return hit.layers[0], hit.rel
    return hit


def union_dir(layers: Sequence[Path], rel: str, xattr: str = OPAQUE_XATTR) -> UnionDir | None:
    """The directory `rel` of the union of `layers` (topmost first), symlinks resolved inside
    the union: the layers it merges, topmost first; None when it is absent or not a dir."""
    hit = _walk(layers, rel, xattr)
    return hit if isinstance(hit, UnionDir) else None


def entries(d: UnionDir, xattr: str = OPAQUE_XATTR) -> list[tuple[str, _Hit]]:
    """What the union directory `d` holds, sorted by name, as overlayfs shows it: for every
    name, the hit of `_lookup` (whiteouts and what they hide left out)."""
    names: set[str] = set()
    for layer in d.layers:
        try:
            fd = open_in_layer(layer, d.rel, directory=True)
        except OSError:
            continue
        try:
            names.update(os.listdir(fd))
        finally:
            os.close(fd)
    out = []
    for name in sorted(names):
        hit = _lookup(d, name, xattr)
        if hit is not None:
            out.append((name, hit))
    return out


def open_in_layer(layer: Path, below: tuple[str, ...], directory: bool = False) -> int:
    """Open layer/below for reading, one component at a time relative to the previous one,
    never following a symlink: a layer that changes under us (a running container's upper
    dir) cannot send the open outside it.  OSError when it is not what it was."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    # The layer's own path is the store's (<store>/layers/l/<id> is a symlink to the diff
    # dir, made by the store, never by the image): it is followed; nothing below it is.
    fd = os.open(layer, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        for i, part in enumerate(below):
            last = i == len(below) - 1
            nxt = os.open(part, flags | (os.O_NONBLOCK | os.O_NOCTTY if last and not directory
                                         else os.O_DIRECTORY), dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_text(layers: Sequence[Path], rel: str, xattr: str = OPAQUE_XATTR) -> str:
    """The text of the regular file `rel` of the image; "" when it is absent, not a regular
    file, or unreadable (a user lookup then fails with its own clear message)."""
    hit = resolve(layers, rel, xattr)
    if hit is None or not hit[1]:
        return ""
    try:
        fd = open_in_layer(*hit)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        chunks: list[bytes] = []
        size = 0
        while size < MAX_SIZE and (chunk := os.read(fd, min(1 << 16, MAX_SIZE - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)
