"""Store layers as real overlay lowerdirs: 120 layers mounted with the short "l/<id>" paths
(one page of mount options), whiteouts and opaque dirs applied by the kernel."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pystack.runtime.image.store import ImageStore, overlay_lowerdirs
from tests.support import images
from tests.support.images import Member

pytestmark = pytest.mark.root


def test_many_layers_mount_with_short_paths(store: ImageStore, tmp_path: Path) -> None:
    layers = [images.crafted_tar([Member("base/keep", data=b"k"), Member("base/gone", data=b"g"),
                                  Member("opq/old", data=b"o")])]
    layers += [images.crafted_tar([Member(f"f{i}", data=str(i).encode())]) for i in range(118)]
    layers.append(images.crafted_tar([Member("base/.wh.gone"), Member("opq/.wh..wh..opq"),
                                      Member("opq/new", data=b"n")]))
    built = images.build(layers, "")
    (img,) = store.load(images.oci_layout(built, tmp_path / "layout", "example.com/many:1"))
    assert len(img.layer_dirs) == 120
    base, short = overlay_lowerdirs(img.layer_dirs)
    assert base is not None
    lower = ":".join(reversed(short))                 # overlay lists the top layer first
    absolute = ":".join(str(d) for d in reversed(img.layer_dirs))
    assert len(absolute) > 4096 > len(lower) + 200
    target = tmp_path / "merged"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}",
                    str(target)], check=True, cwd=base)
    try:
        assert (target / "f117").read_text() == "117"
        assert (target / "base" / "keep").read_text() == "k"
        assert not (target / "base" / "gone").exists()
        assert sorted(p.name for p in (target / "opq").iterdir()) == ["new"]
    finally:
        subprocess.run(["umount", str(target)], check=True)
