"""runtime/safefs.py and runtime/safecopy.py on real directories: resolution never leaves its
root, subpaths refuse every symlink, the layer copy shows what overlayfs shows and writes
nothing outside the destination.  Hostile trees are built as an image or a container would."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime import safefs
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.safecopy import copy_into, copy_tree
from tests.support.images import snapshot


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory outside every root, which nothing may change."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.txt").write_text("keep\n")
    before = snapshot(d)
    yield d
    assert snapshot(d) == before


def fd_of(path: Path) -> int:
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def real(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_open_in_root_reroots_symlinks_and_dotdot(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink(str(outside), root / "abs")               # absolute: restarts at root
    os.symlink("../../../../" + str(outside), root / "rel")
    os.symlink("/etc", root / "etc2")
    rfd = fd_of(root)
    try:
        assert real(safefs.open_in_root(rfd, "etc2")) == str(root / "etc")
        assert real(safefs.open_in_root(rfd, "../../..")) == str(root)
        made = real(safefs.open_in_root(rfd, "abs/victim.txt", make="file"))
        assert made == str(root / outside.relative_to("/") / "victim.txt")
        made = real(safefs.open_in_root(rfd, "rel/x/y", make="dir"))
        assert made.startswith(str(root) + "/") and made.endswith("/x/y")
        with pytest.raises(FileNotFoundError):
            safefs.open_in_root(rfd, "nope/x")
        os.symlink("loop", root / "loop")
        with pytest.raises(OSError) as e:
            safefs.open_in_root(rfd, "loop")
        assert e.value.errno == errno.ELOOP
    finally:
        os.close(rfd)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "a", "abs", "rel", "up", "x", "/"]),
                max_size=8))
def test_open_in_root_never_leaves_the_root(tmp_path_factory: pytest.TempPathFactory,
                                            parts: list[str]) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "root"
    (root / "a").mkdir(parents=True)
    os.symlink("/", root / "abs")
    os.symlink("../../..", root / "a" / "up")
    os.symlink(str(base), root / "rel")
    rfd = fd_of(root)
    try:
        fd = safefs.open_in_root(rfd, "/".join(parts), make="dir")
    except OSError:
        return
    finally:
        os.close(rfd)
    where = real(fd)
    assert where == str(root) or where.startswith(str(root) + "/")


def test_open_beneath_refuses_symlinks_and_dotdot(tmp_path: Path, outside: Path) -> None:
    vol = tmp_path / "vol"
    (vol / "d" / "in").mkdir(parents=True)
    os.symlink("/", vol / "sub")
    os.symlink("in", vol / "d" / "alias")
    vfd = fd_of(vol)
    try:
        assert real(safefs.open_beneath(vfd, "d/in")) == str(vol / "d" / "in")
        for bad, code in (("sub", errno.ELOOP), ("sub/etc", errno.ELOOP),
                          ("d/alias", errno.ELOOP), ("nope", errno.ENOENT)):
            with pytest.raises(OSError) as e:
                safefs.open_beneath(vfd, bad)
            assert e.value.errno == code, bad
        for bad in ("..", "d/../../x", "/etc"):
            with pytest.raises(OSError) as e:
                safefs.open_beneath(vfd, bad)
            assert e.value.errno == errno.EXDEV
        safefs._openat2_missing = True                    # the O_NOFOLLOW walk agrees
        try:
            with pytest.raises(OSError) as e:
                safefs.open_beneath(vfd, "sub/etc")
            assert e.value.errno == errno.ELOOP
            assert real(safefs.open_beneath(vfd, "d/in")) == str(vol / "d" / "in")
        finally:
            safefs._openat2_missing = False
    finally:
        os.close(vfd)


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and owners need root")
def test_copy_into_merges_layers_as_overlayfs_and_stays_inside(tmp_path: Path,
                                                               outside: Path) -> None:
    low, mid, up = (tmp_path / n for n in ("low", "mid", "up"))
    (low / "d" / "old").mkdir(parents=True)
    (low / "d" / "gone.txt").write_text("x")
    (low / "d" / "keep.txt").write_text("low")
    (low / "d" / "old" / "f").write_text("f")
    os.symlink(str(outside), low / "d" / "x")             # a lower symlink to the host...
    (mid / "d" / "x").mkdir(parents=True)                # ...covered by a dir above
    (mid / "d" / "x" / "pwned.txt").write_text("pwned")
    whiteout(mid / "d" / "x" / "victim.txt")
    os.chmod(mid / "d" / "x", 0o777)
    (up / "d").mkdir(parents=True)
    (up / "d" / "keep.txt").write_text("up")
    whiteout(up / "d" / "gone.txt")
    os.symlink("keep.txt", up / "d" / "link")
    os.mkfifo(up / "d" / "fifo")
    os.chown(up / "d", 100, 102)
    os.chmod(up / "d", 0o700)
    os.setxattr(up / "d" / "keep.txt", "user.origin", b"image")
    os.setxattr(up / "d", "trusted.overlay.opaque", b"n")      # overlayfs' own: not copied
    dest = tmp_path / "vol"
    dest.mkdir()
    assert copy_into((low, mid, up), "/d", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt", "link", "old", "x"]
    assert (dest / "keep.txt").read_text() == "up"
    assert os.getxattr(dest / "keep.txt", "user.origin") == b"image"
    assert "trusted.overlay.opaque" not in os.listxattr(dest)
    assert os.readlink(dest / "link") == "keep.txt"
    assert sorted(os.listdir(dest / "x")) == ["pwned.txt"]
    assert stat.S_IMODE(os.lstat(dest / "x").st_mode) == 0o777
    st_ = os.stat(dest)
    assert (st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)) == (100, 102, 0o700)
    assert not copy_into((low, mid, up), "/nothing", tmp_path)
    with pytest.raises(ContainerRuntimeError, match=r"must not contain '\.\.'"):
        copy_into((low,), "/../" + str(outside), dest)


def test_copy_into_a_symlinked_volume_path_resolves_inside_the_image(
        tmp_path: Path, outside: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "srv").mkdir(parents=True)
    (layer / "srv" / "seed").write_text("seed")
    os.symlink(str(outside), layer / "data")              # not in the image: nothing
    os.symlink("/srv", layer / "www")                     # in the image: its content
    dest = tmp_path / "vol"
    dest.mkdir()
    assert not copy_into((layer,), "/data", dest)
    assert os.listdir(dest) == []
    assert copy_into((layer,), "/www", dest)
    assert os.listdir(dest) == ["seed"]


def test_copy_tree_keeps_symlinks_as_symlinks(tmp_path: Path, outside: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("data")
    os.symlink(str(outside), src / "out")
    dst = tmp_path / "dst"
    dst.mkdir()
    s, d = (os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in (src, dst))
    try:
        copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)
    assert os.readlink(dst / "out") == str(outside)
    assert (dst / "sub" / "f").read_text() == "data"
