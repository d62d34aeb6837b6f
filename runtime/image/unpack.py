"""Safe unpacking of one layer tarball into an empty directory.

Our own extractor over tarfile members; tarfile's extract()/extractall() and its filters are
never used.  Every write is made relative to a directory fd reached from the layer root by
opening one path component at a time with O_NOFOLLOW, so nothing a member says can reach
outside the layer dir:
  - absolute names are taken relative to the layer root; `..` components are refused;
  - a member whose parent is a symlink (or not a directory) is refused;
  - a symlink is created as a symlink and never followed afterwards (chown/utime use
    AT_SYMLINK_NOFOLLOW; xattrs are not set on symlinks);
  - a hardlink target is resolved the same way, so it is an earlier member of this layer,
    and linkat() links the entry itself, never what a symlink points to;
  - device nodes and fifos are created inside the dir only (we are root, as Docker is when
    it applies a layer).
Ownership, modes (setuid included), mtimes and xattrs are kept (trusted.overlay.* from the
tarball are dropped).  `.wh.NAME` becomes an overlay whiteout (char device 0/0) and
`.wh..wh..opq` sets trusted.overlay.opaque=y on its directory.  The uncompressed stream is
hashed while it is read: that is the layer's DiffID, checked here when an expected one is
given.  gzip, zstd and plain tar are recognised by their magic bytes.

Why fd walks and not a forked chroot: pulls unpack in worker
threads, where fork() is unsafe; resolving every component with O_NOFOLLOW below the layer's
dir fd gives the same guarantee (no path a member names can leave the dir), and the dir is a
private temp dir no other process writes to while we unpack.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from pystack.runtime.errors import ImageError
from pystack.runtime.settings import settings

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


def max_layer_bytes() -> int:
    """Cap on one layer's uncompressed size (decompression bombs); PYSTACK_MAX_LAYER_BYTES."""
    return settings().max_layer_bytes


class UnsafeMemberError(ImageError):
    """A tar member tried to write outside its layer, or is not something we can unpack."""


class _HashingReader:
    """Reads from `raw`, hashes and counts what passes, refuses more than `limit` bytes."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.count = 0
        self.limit = limit

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n >= 0 else _CHUNK)
        self.hash.update(data)
        self.count += len(data)
        if self.count > self.limit:
            raise ImageError(f"layer is larger than the {self.limit}-byte limit "
                             "(PYSTACK_MAX_LAYER_BYTES)")
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def compression_of(head: bytes) -> str:
    """"gzip", "zstd" or "" (plain tar) from a blob's first bytes."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return ""


def decompressed(raw: BinaryIO) -> IO[bytes]:
    """`raw` (seekable or with peek) as an uncompressed stream."""
    head = raw.read(4)
    raw.seek(0)
    kind = compression_of(head)
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if kind == "zstd":
        from backports.zstd import ZstdFile

        return cast(IO[bytes], ZstdFile(raw, mode="rb"))
    return raw


@dataclass(frozen=True)
class UnpackResult:
    diff_id: str        # "sha256:..." of the uncompressed tar stream
    size: int           # bytes of file content written


def unpack_layer(blob: Path, dest: Path, expected_diff_id: str | None = None) -> UnpackResult:
    """Unpack the layer tarball `blob` (any supported compression) into the empty dir `dest`."""
    try:
        with open(blob, "rb") as raw:
            stream = decompressed(raw)
            reader = _HashingReader(stream, max_layer_bytes())
            root_fd = os.open(dest, _DIR_FLAGS)
            try:
                size = _Extractor(root_fd).run(reader)
                reader.drain()
            finally:
                os.close(root_fd)
    except ImageError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ImageError(f"layer {blob.name[:12]} is not a valid tar archive "
                         f"(truncated or corrupt): {e}") from e
    except OSError as e:
        raise ImageError(f"cannot unpack layer {blob.name[:12]}: {e}") from e
    except Exception as e:  # backports.zstd raises its own ZstdError
        if type(e).__name__ == "ZstdError":
            raise ImageError(f"layer {blob.name[:12]} cannot be decompressed: {e}") from e
        raise
    diff_id = "sha256:" + reader.hash.hexdigest()
    if expected_diff_id is not None and diff_id != expected_diff_id:
        raise ImageError(f"layer diff ID mismatch: expected {expected_diff_id}, got {diff_id}",
                         hint="the image is corrupt; remove it and load or pull it again")
    return UnpackResult(diff_id, size)


def _components(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeMemberError(f"layer member {name!r} contains '..': refused")
    return parts


class _Extractor:
    """Applies members one by one under root_fd; see the module docstring for the rules."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.cached: tuple[tuple[str, ...], int] | None = None
        self.dir_times: list[tuple[list[str], int]] = []
        self.size = 0

    def run(self, reader: _HashingReader) -> int:
        try:
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|",
                              errors="surrogateescape") as tar:
                for member in tar:
                    self._member(tar, member)
            self._apply_dir_times()
        finally:
            self._drop_cache()
        return self.size

    # -- path resolution ------------------------------------------------------------------

    def _drop_cache(self) -> None:
        if self.cached is not None:
            os.close(self.cached[1])
            self.cached = None

    def _parent(self, parts: list[str], create: bool = True) -> int:
        """An fd of the directory holding parts[-1] (owned by the cache: do not close)."""
        key = tuple(parts[:-1])
        if self.cached is not None and self.cached[0] == key:
            return self.cached[1]
        self._drop_cache()
        fd = os.dup(self.root_fd)
        try:
            for p in key:
                fd = self._step(fd, p, create)
        except BaseException:
            os.close(fd)
            raise
        self.cached = (key, fd)
        return fd

    @staticmethod
    def _step(fd: int, name: str, create: bool) -> int:
        try:
            nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=fd)
            nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeMemberError(
                    f"layer member path goes through {name!r}, which is a symlink or not a "
                    "directory: refused") from e
            raise
        os.close(fd)
        return nfd

    def _clear(self, pfd: int, name: str, keep_dir: bool) -> bool:
        """Remove what is at name (unless it is a dir and keep_dir); True if a dir is kept."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)
        return False

    # -- members --------------------------------------------------------------------------

    def _member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = _components(m.name)
        if not parts:                    # "./": the layer root itself
            if m.isdir():
                self._meta_fd(self.root_fd, m)
                self.dir_times.append(([], _ns(m.mtime)))
            return
        base = parts[-1]
        if base == OPAQUE_MARKER:
            pfd = self._parent(parts)
            os.setxattr(pfd, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            target = base[len(WHITEOUT_PREFIX):]
            if target in ("", ".", "..") or "/" in target:
                raise UnsafeMemberError(f"invalid whiteout {m.name!r}")
            pfd = self._parent(parts)
            self._clear(pfd, target, keep_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
            os.chown(target, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            return
        pfd = self._parent(parts)
        # The cache holds this member's parent, never a dir under `base`, so a removal of
        # `base` cannot invalidate it.
        kept_dir = self._clear(pfd, base, keep_dir=m.isdir())
        if m.isreg():
            self._file(tar, m, pfd, base)
        elif m.isdir():
            if not kept_dir:
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
            try:
                self._meta_fd(fd, m)
            finally:
                os.close(fd)
            self.dir_times.append((parts, _ns(m.mtime)))
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=pfd)
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(base, ns=(_ns(m.mtime), _ns(m.mtime)), dir_fd=pfd,
                     follow_symlinks=False)
        elif m.islnk():
            self._hardlink(m, pfd, base)
        elif m.ischr() or m.isblk() or m.isfifo():
            if m.isfifo():
                os.mkfifo(base, 0o600, dir_fd=pfd)
            else:
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
            # We just created it in our private temp dir: it is not a symlink.
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(base, m.mode & 0o7777, dir_fd=pfd)
            os.utime(base, ns=(_ns(m.mtime), _ns(m.mtime)), dir_fd=pfd,
                     follow_symlinks=False)
        else:
            raise UnsafeMemberError(f"layer member {m.name!r} has an unsupported type {m.type!r}")

    def _file(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=pfd)
        try:
            src = tar.extractfile(m)
            if src is not None:
                while True:
                    chunk = src.read(_CHUNK)
                    if not chunk:
                        break
                    _write_all(fd, chunk)
            self.size += m.size
            self._meta_fd(fd, m)
            os.utime(fd, ns=(_ns(m.mtime), _ns(m.mtime)))
        finally:
            os.close(fd)

    def _hardlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        tparts = _components(m.linkname)
        if not tparts:
            raise UnsafeMemberError(f"hardlink {m.name!r} has an empty target")
        # Resolve the target's parent without the cache (pfd belongs to it).
        tfd = os.dup(self.root_fd)
        try:
            for p in tparts[:-1]:
                tfd = self._step(tfd, p, create=False)
            os.link(tparts[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError as e:
            raise UnsafeMemberError(f"hardlink {m.name!r} -> {m.linkname!r}: the target is not "
                                    "an earlier member of this layer: refused") from e
        except PermissionError as e:
            raise UnsafeMemberError(f"hardlink {m.name!r} -> {m.linkname!r}: refused") from e
        finally:
            os.close(tfd)

    def _meta_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, m.mode & 0o7777)   # after chown, which clears setuid bits
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr."):]
            if name.startswith("trusted.overlay."):
                continue
            try:
                os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise

    def _apply_dir_times(self) -> None:
        self._drop_cache()
        for parts, mtime in self.dir_times:
            fd = os.dup(self.root_fd)
            try:
                for p in parts:
                    fd = self._step(fd, p, create=False)
                os.utime(fd, ns=(mtime, mtime))
            except (FileNotFoundError, UnsafeMemberError):
                pass                     # replaced later in the same layer
            finally:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _ns(mtime: float) -> int:
    return int(mtime * 10**9)
