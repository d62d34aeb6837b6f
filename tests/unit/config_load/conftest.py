"""Helpers: a temporary project directory (the current directory during the test), files
written from dicts of text, and short ways to load or collect the problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pystack.orchestrator.config.loader import LoadOptions, RawProject, load
from pystack.orchestrator.errors import ConfigError


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


def load_ok(*files: str, env: dict[str, str] | None = None, **kw: Any) -> RawProject:
    return load(LoadOptions(files=files, environ=env or {}, **kw))


def problems(*files: str, env: dict[str, str] | None = None, **kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(LoadOptions(files=files, environ=env or {}, **kw))
    return e.value.problems


Loader = Callable[..., RawProject]
