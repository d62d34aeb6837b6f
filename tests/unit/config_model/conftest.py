"""Helpers: write a compose file in a temporary directory and run the whole pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.orchestrator.cli.main import GlobalOptions
from pystack.orchestrator.config.model import Project
from pystack.orchestrator.config.project import load_project
from pystack.orchestrator.errors import ConfigError

Loader = Callable[..., Project]


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Loader:
    monkeypatch.chdir(tmp_path)

    def run(text: str, *, services: tuple[str, ...] = (), profiles: tuple[str, ...] = (),
            environ: dict[str, str] | None = None) -> Project:
        (tmp_path / "compose.yaml").write_text(text)
        opts = GlobalOptions(files=("compose.yaml",), project_name="demo",
                             profiles=profiles, environ=environ or {})
        return load_project(opts, services)

    return run


@pytest.fixture
def problems(load: Loader) -> Callable[..., list[str]]:
    def run(text: str, **kw: object) -> list[str]:
        with pytest.raises(ConfigError) as e:
            load(text, **kw)
        return e.value.problems

    return run
