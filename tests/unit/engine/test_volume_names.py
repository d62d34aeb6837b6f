"""Volume names (Docker's rule) at config time and again wherever the engine turns a name into
a path of the volume store: nothing outside the store is ever created or removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.orchestrator.config.valuechecks import VOLUME_NAME
from pystack.orchestrator.engine.volumes import (
    ensure_volume,
    remove_volume,
    volume_path,
    volumes_dir,
)
from pystack.orchestrator.errors import OrchestratorError


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "x", "-a", "a b", "a\nb",
                                  "/etc", "é"])
def test_bad_names_never_become_paths(name: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_ROOT", str(tmp_path / "root"))
    for fn in (volume_path, ensure_volume, remove_volume):
        with pytest.raises(OrchestratorError, match="invalid volume name"):
            fn(name)
    assert not (tmp_path / "root").exists()


@given(st.text(min_size=1, max_size=20))
def test_accepted_names_stay_inside_the_store(name: str) -> None:
    if VOLUME_NAME.fullmatch(name):
        base = Path("/store/volumes")
        assert os.path.normpath(base / name).startswith(f"{base}/")
        assert "/" not in name and name not in (".", "..")


def test_remove_does_not_follow_a_symlinked_volume_dir(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_ROOT", str(tmp_path / "root"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "f").write_text("keep")
    volumes_dir().mkdir(parents=True)
    os.symlink(victim, volumes_dir() / "evil")
    assert not remove_volume("evil")
    assert (victim / "f").read_text() == "keep"
    path, made = ensure_volume("good")
    assert made and path.is_dir()
    assert remove_volume("good") and not path.parent.exists()
