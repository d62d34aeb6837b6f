"""A directory of changes -> an OCI layer in the image store.

A RUN's overlay upper dir (or the staging dir a COPY wrote) is packed into an uncompressed
OCI layer tarball, written straight into a store blob: an overlay whiteout (char device 0/0)
becomes `.wh.NAME`, an opaque directory (trusted.overlay.opaque=y) gets `.wh..wh..opq`.
Entries are read with lstat and opened with O_NOFOLLOW (a symlink is packed as a link, never
followed); hard links inside the dir stay hard links; names are sorted and headers are PAX, so
the same changes give the same DiffID.  The store then unpacks the blob with its safe unpacker
(runtime/image/unpack.py) as the layer dir a container's overlay uses.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from pystack.runtime.build.errors import BuildError
from pystack.runtime.image.content import Content
from pystack.runtime.image.fsutil import chain_ids
from pystack.runtime.image.unpack import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX

_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


@dataclass(frozen=True)
class LayerRef:
    diff_id: str
    digest: str                     # blob (uncompressed: digest == diff_id)
    size: int                       # blob bytes


class _Writer:
    """A file-like sink for tarfile: the store's blob writer."""

    def __init__(self, w: object) -> None:
        self.w = w
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.w.write(data)              # type: ignore[attr-defined]
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    info.uname = info.gname = ""
    return info


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(root: Path, rel: str = "") -> list[tuple[str, os.stat_result]]:
    out: list[tuple[str, os.stat_result]] = []
    base = root / rel if rel else root
    for name in sorted(os.listdir(base)):
        sub = f"{rel}/{name}" if rel else name
        st = os.lstat(root / sub)
        out.append((sub, st))
        if stat.S_ISDIR(st.st_mode):
            out.extend(_walk(root, sub))
    return out


def pack(root: Path, sink: IO[bytes]) -> int:
    """Write the layer tar of the changes under `root` to `sink`; return the entry count."""
    count = 0
    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, st in _walk(root):
            path = root / rel
            mode = st.st_mode
            count += 1
            if stat.S_ISCHR(mode) and st.st_rdev == 0:
                parent, _, name = rel.rpartition("/")
                wh = _info(f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else
                           f"{WHITEOUT_PREFIX}{name}", st)
                wh.mode = 0o644
                tar.addfile(wh)
                continue
            info = _info(rel, st)
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                if _opaque(path):
                    marker = _info(f"{rel}/{OPAQUE_MARKER}", st)
                    marker.mode = 0o644
                    tar.addfile(marker)
            elif stat.S_ISLNK(mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen[key]
                    tar.addfile(info)
                    continue
                seen[key] = rel
                fd = os.open(path, _NOFOLLOW)
                try:
                    info.size = os.fstat(fd).st_size
                    with os.fdopen(fd, "rb", closefd=False) as f:
                        tar.addfile(info, f)
                finally:
                    os.close(fd)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tar.addfile(info)
            # sockets are not carried in layers (as Docker)
    return count


def publish(content: Content, root: Path, parent_diffs: list[str]) -> LayerRef | None:
    """Pack `root` into a blob and unpack it as the layer above `parent_diffs`; None when
    `root` holds no change (BuildKit omits empty layers)."""
    try:
        if not any(os.scandir(root)):
            return None
        with content.blob_writer() as w:
            count = pack(root, cast(IO[bytes], _Writer(w)))
            if count == 0:
                return None
            digest = w.commit()
            size = w.size
    except OSError as e:
        raise BuildError(f"cannot pack the layer: {e}") from e
    chain = chain_ids([*parent_diffs, digest])[-1]
    content.ensure_layer(chain, digest, digest)
    return LayerRef(digest, digest, size)
