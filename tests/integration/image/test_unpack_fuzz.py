"""Property: whatever sequence of members a layer holds (names with `..`, absolute paths,
symlinks and hardlinks pointing anywhere, whiteouts, devices), unpacking either succeeds or
raises ImageError, and nothing outside the layer dir changes."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pystack.runtime.errors import ImageError
from pystack.runtime.image.unpack import unpack_layer
from tests.support import images
from tests.support.images import Member

pytestmark = pytest.mark.root

OUTSIDE = "{outside}"
segment = st.sampled_from(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "victim", OUTSIDE])
path = st.lists(segment, min_size=1, max_size=4).map("/".join)
member = st.one_of(
    st.builds(lambda n, d: Member(n, data=d), path, st.binary(max_size=8)),
    st.builds(lambda n: Member(n, tarfile.DIRTYPE, mode=0o755), path),
    st.builds(lambda n, t: Member(n, tarfile.SYMTYPE, linkname=t), path, path),
    st.builds(lambda n, t: Member(n, tarfile.LNKTYPE, linkname=t), path, path),
    st.builds(lambda n: Member(n, tarfile.CHRTYPE, devmajor=1, devminor=3), path),
    st.builds(lambda n: Member(n, tarfile.FIFOTYPE), path),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(member, min_size=1, max_size=6))
def test_no_member_sequence_escapes(members: list[Member]) -> None:
    base = Path(tempfile.mkdtemp(prefix="pystack-fuzz-"))
    try:
        outside = base / "outside"
        outside.mkdir()
        (outside / "victim").write_text("original\n")
        (outside / "a").mkdir()
        (base / "layer").mkdir()
        fixed = [Member(m.name.replace(OUTSIDE, str(outside)), m.type, m.data,
                        m.linkname.replace(OUTSIDE, str(outside)), m.mode,
                        devmajor=m.devmajor, devminor=m.devminor) for m in members]
        before = images.snapshot(outside)
        blob = base / "blob"
        blob.write_bytes(images.crafted_tar(fixed))
        try:
            unpack_layer(blob, base / "layer")
        except ImageError:
            pass
        assert images.snapshot(outside) == before
        assert (outside / "victim").read_text() == "original\n"
    finally:
        shutil.rmtree(base)
