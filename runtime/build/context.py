"""A tree files are copied from: the build context (a directory, `.dockerignore` applied) or
a stage's root filesystem (COPY --from), read without ever leaving it.

    tree = Tree(Path("ctx"), IgnoreMatcher.from_text(...))
    tree.resolve("src/../a/link")   -> ("a", "target")  symlink-free parts inside the tree
    tree.lstat(("a", "b")); tree.listdir(("a",)); tree.read(("a", "b"))

A symlink named by a COPY source is followed inside the tree (an absolute target restarts at
the tree's root, ".." stops there), as BuildKit follows it inside its context snapshot; a
symlink met while copying a directory is copied as a link, never followed.  Files are opened
one component at a time with O_NOFOLLOW, so a link swapped in meanwhile is not followed out.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.patterns import IgnoreMatcher

Parts = tuple[str, ...]
_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40


class Tree:
    def __init__(self, root: Path, ignore: IgnoreMatcher | None = None,
                 what: str = "the build context") -> None:
        self.root = root
        self.ignore = ignore
        self.what = what

    def excluded(self, parts: Parts) -> bool:
        return bool(parts) and self.ignore is not None and self.ignore.excluded("/".join(parts))

    def path(self, parts: Parts) -> Path:
        return self.root.joinpath(*parts)

    def lstat(self, parts: Parts) -> os.stat_result | None:
        try:
            return os.lstat(self.path(parts))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def resolve(self, rel: str, follow_last: bool = True) -> Parts | None:
        """The symlink-free parts `rel` names inside the tree, or None if it does not exist."""
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        cur: list[str] = []
        links = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if cur:
                    cur.pop()
                continue
            st = self.lstat((*cur, part))
            if st is None:
                return None
            if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
                links += 1
                if links > MAX_LINKS:
                    raise BuildError(f"too many levels of symbolic links resolving {rel!r} "
                                     f"in {self.what}")
                target = os.readlink(self.path((*cur, part)))
                if target.startswith("/"):
                    cur = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            if parts and not stat.S_ISDIR(st.st_mode):
                return None
            cur.append(part)
        return tuple(cur)

    def listdir(self, parts: Parts) -> list[str]:
        fd = self._open(parts, directory=True)
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def walk(self, parts: Parts) -> Iterator[tuple[Parts, os.stat_result]]:
        """Every entry below the directory `parts` (not itself), parents first, sorted;
        excluded entries left out (a directory is still entered when an exception
        pattern may re-include something below it)."""
        for name in self.listdir(parts):
            sub = (*parts, name)
            st = self.lstat(sub)
            if st is None:
                continue
            skip = self.excluded(sub)
            if not skip:
                yield sub, st
            if stat.S_ISDIR(st.st_mode) and (not skip or (self.ignore is not None and
                                                          self.ignore.has_exclusions)):
                yield from self.walk(sub)

    def _open(self, parts: Parts, directory: bool = False) -> int:
        fd = os.open(self.root, _NOFOLLOW | os.O_DIRECTORY)
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                flags = _NOFOLLOW | (os.O_DIRECTORY if (not last or directory)
                                     else os.O_NONBLOCK | os.O_NOCTTY)
                nxt = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except OSError as e:
            os.close(fd)
            raise BuildError(f"cannot read {'/'.join(parts) or '.'} in {self.what}: "
                             f"{e.strerror}") from None
        return fd

    def open_file(self, parts: Parts) -> int:
        """An fd of the regular file `parts` (BuildError if it is anything else now)."""
        fd = self._open(parts)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BuildError(f"{'/'.join(parts)} in {self.what} changed while it was read")
        return fd

    def readlink(self, parts: Parts) -> str:
        return os.readlink(self.path(parts))


def dockerignore_for(context: Path, dockerfile: Path | None) -> IgnoreMatcher | None:
    """`<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's
    `.dockerignore`, as BuildKit reads them."""
    candidates: list[Path] = []
    if dockerfile is not None:
        candidates.append(dockerfile.parent / f"{dockerfile.name}.dockerignore")
    candidates.append(context / ".dockerignore")
    for c in candidates:
        try:
            if c.is_file() and not c.is_symlink():
                return IgnoreMatcher.from_text(c.read_text(errors="replace"))
        except OSError:
            continue
    return None
