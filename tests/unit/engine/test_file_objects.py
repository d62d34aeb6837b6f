"""Secrets and configs written for a service: the owner and mode the reference asks (else
root 0444, as Compose), in 0700 directories, named by a digest (a key is never a path), and
gone with `remove_file_objects` (`down`)."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from pystack.orchestrator.config.model import FileObject, FileReference
from pystack.orchestrator.engine.volumes import (
    file_objects_dir,
    prepare_mounts,
    remove_file_objects,
)
from pystack.runtime.image.model import Image, ImageConfig
from tests.unit.engine.fakes import FakeImages, project, svc


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_secret_files_owner_mode_and_removal(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_ROOT", str(tmp_path / "root"))
    old = os.umask(0)
    try:
        s = svc("a", secrets=(FileReference("tok", uid="100", gid="102", mode=0o440),
                              FileReference("..", target="dots")))
        p = replace(project("demo", s), secrets={
            "tok": FileObject("tok", "demo_tok", content="s3cret"),
            "..": FileObject("..", "demo_dots", content="x")})
        img = Image(id="sha256:" + "1" * 64, names=(), layer_dirs=(), config=ImageConfig())
        mounts = prepare_mounts(p, s, 1, img, images=FakeImages(tmp_path))
        by = {m.target: Path(m.source) for m in mounts}
    finally:
        os.umask(old)
    tok = by["/run/secrets/tok"]
    st = os.stat(tok)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (100, 102, 0o440)
    assert tok.read_text() == "s3cret"
    dots = by["/run/secrets/dots"]
    assert dots.parent == tok.parent == file_objects_dir("demo", "secret")
    assert stat.S_IMODE(os.stat(dots).st_mode) == 0o444
    for d in (tok.parent, tok.parent.parent):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    remove_file_objects("demo")
    assert not tok.parent.exists()
