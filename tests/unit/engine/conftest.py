from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.engine.fakes import Env


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("PYSTACK_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("PYSTACK_RUN", str(tmp_path / "run"))
    return Env(tmp_path)
