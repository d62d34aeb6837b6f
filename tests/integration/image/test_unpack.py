"""Safe unpacking with crafted, malicious layer tarballs: no write lands outside the layer
dir, whatever the tarball says; metadata and whiteouts come out right."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

from pystack.runtime.errors import ImageError
from pystack.runtime.image.store import ImageStore
from pystack.runtime.image.unpack import OPAQUE_XATTR, unpack_layer
from tests.support import images
from tests.support.images import Member

pytestmark = pytest.mark.root

SYM, LNK, DIR, CHR = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """tmp_path/outside/victim (a file a malicious layer would like to change) and an empty
    layer dir tmp_path/layer."""
    (tmp_path / "outside").mkdir()
    victim = tmp_path / "outside" / "victim"
    victim.write_text("original\n")
    victim.chmod(0o600)
    (tmp_path / "layer").mkdir()
    return tmp_path


def unpack(sandbox: Path, members: list[Member], compression: str = "") -> Path:
    blob = sandbox / "layer.blob"
    blob.write_bytes(images.compress(images.crafted_tar(members), compression))
    unpack_layer(blob, sandbox / "layer")
    return sandbox / "layer"


def outside_state(sandbox: Path) -> dict[str, tuple[int, int, int]]:
    snap = images.snapshot(sandbox / "outside")
    snap["victim-content"] = (hash((sandbox / "outside" / "victim").read_bytes()), 0, 0)
    return snap


ESCAPES: dict[str, tuple[list[Member], str | None]] = {
    "dotdot": ([Member("../outside/victim", data=b"pwned")], "'..'"),
    "dotdot-deep": ([Member("a/../../outside/victim", data=b"pwned")], "'..'"),
    "abs-symlink-parent": ([Member("link", SYM, linkname="{outside}"),
                            Member("link/victim", data=b"pwned")], "symlink"),
    "rel-symlink-parent": ([Member("d", DIR, mode=0o755),
                            Member("d/link", SYM, linkname="../../outside"),
                            Member("d/link/victim", data=b"pwned")], "symlink"),
    "symlink-then-dir-chmod": ([Member("x", SYM, linkname="{outside}/victim"),
                                Member("x", DIR, mode=0o777)], None),
    "symlink-then-file": ([Member("x", SYM, linkname="{outside}/victim"),
                           Member("x", data=b"pwned", mode=0o777)], None),
    "hardlink-abs": ([Member("h", LNK, linkname="{outside}/victim")], "not an earlier member"),
    "hardlink-dotdot": ([Member("h", LNK, linkname="../outside/victim")], "'..'"),
    "hardlink-through-symlink": ([Member("s", SYM, linkname="{outside}"),
                                  Member("h", LNK, linkname="s/victim")], "symlink"),
    "hardlink-to-symlink-then-write": ([Member("s", SYM, linkname="{outside}/victim"),
                                        Member("h", LNK, linkname="s"),
                                        Member("h", data=b"pwned")], None),
    "whiteout-dotdot": ([Member(".wh..."), Member(".wh..")], "whiteout"),
    "opaque-through-symlink": ([Member("s", SYM, linkname="{outside}"),
                                Member("s/.wh..wh..opq")], "symlink"),
    "whiteout-through-symlink": ([Member("s", SYM, linkname="{outside}"),
                                  Member("s/.wh.victim")], "symlink"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_no_escape(sandbox: Path, case: str) -> None:
    members, error = ESCAPES[case]
    outside = str(sandbox / "outside")
    members = [Member(m.name, m.type, m.data, m.linkname.replace("{outside}", outside), m.mode)
               for m in members]
    before = outside_state(sandbox)
    if error is None:
        layer = unpack(sandbox, members)
        # the later member replaced the symlink inside the layer instead of following it
        last = members[-1].name
        assert not (layer / last).is_symlink() and (layer / last).exists()
    else:
        with pytest.raises(ImageError, match=error):
            unpack(sandbox, members)
    assert outside_state(sandbox) == before
    assert (sandbox / "outside" / "victim").read_text() == "original\n"


def test_absolute_names_land_inside(sandbox: Path) -> None:
    layer = unpack(sandbox, [Member(f"{sandbox}/outside/victim", data=b"inside")])
    assert (layer / str(sandbox).lstrip("/") / "outside" / "victim").read_bytes() == b"inside"
    assert (sandbox / "outside" / "victim").read_text() == "original\n"


def test_devices_are_created_inside(sandbox: Path) -> None:
    layer = unpack(sandbox, [Member("dev/null", CHR, devmajor=1, devminor=3, mode=0o666)])
    st = (layer / "dev" / "null").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
def test_metadata_kept(sandbox: Path, compression: str) -> None:
    layer = unpack(sandbox, [
        Member("bin", DIR, mode=0o755, mtime=1_500_000_000),
        Member("bin/su", data=b"#!\n", mode=0o4755, uid=1000, gid=50, mtime=1_400_000_000,
               xattrs={"user.note": "kept", "trusted.overlay.redirect": "/x"}),
        Member("bin/ln", SYM, linkname="su", uid=7, gid=8),
        Member("bin/hard", LNK, linkname="bin/su"),
    ], compression)
    st = (layer / "bin" / "su").stat()
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert (st.st_uid, st.st_gid, st.st_mtime) == (1000, 50, 1_400_000_000)
    assert os.getxattr(layer / "bin" / "su", "user.note") == b"kept"
    with pytest.raises(OSError):
        os.getxattr(layer / "bin" / "su", "trusted.overlay.redirect")
    lst = (layer / "bin" / "ln").lstat()
    assert (lst.st_uid, lst.st_gid) == (7, 8) and os.readlink(layer / "bin" / "ln") == "su"
    assert (layer / "bin" / "hard").stat().st_ino == st.st_ino
    assert (layer / "bin").stat().st_mtime == 1_500_000_000


def test_whiteouts_become_overlay_whiteouts(sandbox: Path) -> None:
    layer = unpack(sandbox, [Member("etc", DIR, mode=0o755),
                             Member("etc/.wh.passwd", uid=0),
                             Member("var/.wh..wh..opq"),
                             Member("var/new", data=b"n")])
    st = (layer / "etc" / "passwd").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (layer / "etc" / ".wh.passwd").exists()
    assert os.getxattr(layer / "var", OPAQUE_XATTR) == b"y"
    assert (layer / "var" / "new").read_bytes() == b"n"


def test_replacing_entries(sandbox: Path) -> None:
    layer = unpack(sandbox, [Member("a/b/c", data=b"1"), Member("a", data=b"file now"),
                             Member("d", data=b"x"), Member("d", DIR, mode=0o700)])
    assert (layer / "a").read_bytes() == b"file now"
    assert (layer / "d").is_dir()


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
def test_truncated_layer(sandbox: Path, compression: str) -> None:
    data = images.compress(images.crafted_tar([Member("big", data=os.urandom(200_000))]),
                           compression)
    blob = sandbox / "layer.blob"
    blob.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"truncated|corrupt|decompress|not a valid"):
        unpack_layer(blob, sandbox / "layer")


def test_diff_id_checked(sandbox: Path) -> None:
    blob = sandbox / "layer.blob"
    blob.write_bytes(images.crafted_tar([Member("f", data=b"x")]))
    with pytest.raises(ImageError, match="diff ID mismatch"):
        unpack_layer(blob, sandbox / "layer", "sha256:" + "0" * 64)


def test_store_unchanged_after_a_malicious_import(store: ImageStore, sandbox: Path,
                                                  busybox_tar: Path) -> None:
    store.import_rootfs(busybox_tar, "ok:1")
    before = images.store_listing(store.root)
    bad = sandbox / "bad.tar"
    bad.write_bytes(images.crafted_tar([Member("ok", data=b"1"),
                                        Member("../../escape", data=b"x")]))
    with pytest.raises(ImageError, match=r"'\.\.'"):
        store.import_rootfs(bad, "bad:1")
    assert images.store_listing(store.root) == before
    assert [i.names for i in store.list()] == [("docker.io/library/ok:1",)]


def test_decompression_bomb_capped(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_MAX_LAYER_BYTES", "100000")
    blob = sandbox / "bomb.blob"
    blob.write_bytes(images.compress(images.crafted_tar([Member("z", data=bytes(10**6))]),
                                     "gzip"))
    assert blob.stat().st_size < 5000
    with pytest.raises(ImageError, match="larger than the 100000-byte limit"):
        unpack_layer(blob, sandbox / "layer")
