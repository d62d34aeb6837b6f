"""Reading /etc/passwd from crafted layer dirs never reads a host file (symlinks, "..",
whiteouts, opaque dirs, loops, FIFOs), and the union is the one overlayfs would show."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pystack.runtime import layerview
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.process import read_rootfs_file, resolve_user

SECRET = "root:x:0:0:SECRET-HOST:/root:/bin/sh\nhostonly:x:4242:4242::/h:/bin/sh\n"


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A fake 'host' file a malicious layer tries to point at."""
    secret = tmp_path / "host" / "secret"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


def _layers(tmp_path: Path, n: int) -> list[Path]:
    """n empty layer dirs, returned topmost first."""
    out = []
    for i in range(n):
        d = tmp_path / f"layer{i}"
        d.mkdir()
        out.append(d)
    return list(reversed(out))


def _write(layer: Path, rel: str, text: str) -> None:
    p = layer / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def _whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def test_topmost_layer_wins(tmp_path: Path) -> None:
    top, base = _layers(tmp_path, 2)
    _write(base, "etc/passwd", "base")
    _write(base, "etc/group", "g-base")
    _write(top, "etc/passwd", "top")
    assert read_rootfs_file([top, base], "etc/passwd") == "top"
    assert read_rootfs_file([top, base], "/etc/group") == "g-base"   # dirs merge
    assert read_rootfs_file([top, base], "etc/shadow") == ""


def test_absolute_symlink_resolves_inside_the_layers(tmp_path: Path, host: Path) -> None:
    top, base = _layers(tmp_path, 2)
    (top / "etc").mkdir()
    os.symlink(str(host), top / "etc" / "passwd")          # the host path, absolute
    assert read_rootfs_file([top, base], "etc/passwd") == ""
    # ... and when the image has that path, it is the IMAGE's file that is read
    _write(base, str(host).lstrip("/"), "image:x:7:7::/i:/bin/sh\n")
    assert read_rootfs_file([top, base], "etc/passwd").startswith("image:")
    assert resolve_user("image", read_rootfs_file([top, base], "etc/passwd"), "").uid == 7


def test_dotdot_never_climbs_out(tmp_path: Path, host: Path) -> None:
    (top,) = _layers(tmp_path, 1)
    (top / "etc").mkdir()
    up = "../" * 20
    os.symlink(up + str(host).lstrip("/"), top / "etc" / "passwd")
    assert read_rootfs_file([top], "etc/passwd") == ""
    os.symlink(up, top / "e2")                            # a directory link to "above /"
    assert read_rootfs_file([top], "e2/" + str(host).lstrip("/")) == ""
    assert read_rootfs_file([top], "../../" + str(host)) == ""
    _write(top, "etc/real", "ok")
    os.symlink("../etc/./real", top / "etc" / "group")    # a relative link inside works
    assert read_rootfs_file([top], "etc/group") == "ok"


def test_directory_symlink_in_a_lower_layer_is_resolved_in_the_union(tmp_path: Path,
                                                                     host: Path) -> None:
    top, base = _layers(tmp_path, 2)
    os.symlink(str(host.parent), base / "etc")            # /etc -> the host's dir
    assert read_rootfs_file([top, base], "etc/secret") == ""
    _write(top, str(host.parent).lstrip("/") + "/secret", "in-image")
    assert read_rootfs_file([top, base], "etc/secret") == "in-image"


def test_whiteouts_hide_lower_layers(tmp_path: Path) -> None:
    top, mid, base = _layers(tmp_path, 3)
    _write(base, "etc/passwd", "base")
    _whiteout(mid / "etc" / "passwd")
    assert read_rootfs_file([top, mid, base], "etc/passwd") == ""
    _write(top, "etc/passwd", "new")                       # re-created above the whiteout
    assert read_rootfs_file([top, mid, base], "etc/passwd") == "new"
    _write(base, "usr/etc/x", "x")
    _whiteout(mid / "usr")                                 # a whole dir deleted
    assert read_rootfs_file([top, mid, base], "usr/etc/x") == ""
    (top / "usr").mkdir()                                  # re-created empty dir above it
    assert read_rootfs_file([top, mid, base], "usr/etc/x") == ""


def test_a_file_in_an_upper_layer_hides_a_lower_directory(tmp_path: Path) -> None:
    top, base = _layers(tmp_path, 2)
    _write(base, "etc/passwd", "base")
    _write(top, "etc", "i am a file now")
    assert read_rootfs_file([top, base], "etc/passwd") == ""


def test_opaque_directory_hides_lower_layers(tmp_path: Path) -> None:
    top, base = _layers(tmp_path, 2)
    _write(base, "etc/passwd", "base")
    _write(base, "etc/group", "g")
    _write(top, "etc/passwd", "top")
    xattr = layerview.OPAQUE_XATTR
    try:
        os.setxattr(top / "etc", xattr, b"y")
    except OSError:                                       # trusted.* needs root: user.* works
        xattr = "user.overlay.opaque"
        try:
            os.setxattr(top / "etc", xattr, b"y")
        except OSError:
            pytest.skip("this filesystem takes no xattrs")
    assert layerview.read_text([top, base], "etc/passwd", xattr) == "top"
    assert layerview.read_text([top, base], "etc/group", xattr) == ""
    assert layerview.read_text([base], "etc/group", xattr) == "g"


def test_symlink_loop_is_a_clear_error(tmp_path: Path) -> None:
    (top,) = _layers(tmp_path, 1)
    (top / "etc").mkdir()
    os.symlink("passwd", top / "etc" / "passwd")
    with pytest.raises(ContainerRuntimeError, match="too many levels of symbolic links"):
        read_rootfs_file([top], "etc/passwd")
    os.symlink("b", top / "a")
    os.symlink("a", top / "b")
    with pytest.raises(ContainerRuntimeError, match="too many levels"):
        read_rootfs_file([top], "a/passwd")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    (top,) = _layers(tmp_path, 1)
    (top / "etc").mkdir()
    os.mkfifo(top / "etc" / "passwd")                     # would block a plain open()
    assert read_rootfs_file([top], "etc/passwd") == ""
    (top / "etc" / "group").mkdir()
    assert read_rootfs_file([top], "etc/group") == ""
    assert read_rootfs_file([top], "etc/group/x") == ""
    _write(top, "f", "x")
    assert read_rootfs_file([top], "f/passwd") == ""      # a file used as a directory
    assert read_rootfs_file([], "etc/passwd") == ""


def test_a_directory_swapped_for_a_symlink_after_resolution_is_not_followed(
        tmp_path: Path, host: Path) -> None:
    # A running container owns its upper dir: it may replace /etc by a symlink to a host
    # directory between our resolution and our open.
    (top,) = _layers(tmp_path, 1)
    _write(top, "etc/secret", "image's\n")
    hit = layerview.resolve([top], "etc/secret")
    assert hit == (top, ("etc", "secret"))
    assert layerview.resolve([top], "etc/x/..") is None             # no x: ENOENT, as Linux
    assert layerview.resolve([top], "etc/../etc/./") == (top, ("etc",))
    assert layerview.resolve([top], "etc/..") == (top, ())
    (top / "etc" / "secret").unlink()
    (top / "etc").rmdir()
    os.symlink(str(host.parent), top / "etc")
    with pytest.raises(OSError):
        layerview.open_in_layer(*hit)
    assert read_rootfs_file([top], "etc/secret") == ""      # re-resolved: not in the image
