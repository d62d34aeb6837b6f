"""A service's `env_file:` entries, read and merged in order (later files win), the way
compose-go folds them into `environment` (the `config` output shows no env_file).

Uses the loader's env-file parser (envfile.py).  A missing required file raises EnvFileError;
the caller turns it into a problem line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class EnvFileError(ValueError):
    """An env_file that must exist does not, or cannot be read."""


def entries(spec: Any) -> list[tuple[str, bool]]:
    """env_file in any form -> [(path, required)]."""
    items = [spec] if isinstance(spec, str | dict) else list(spec or [])
    out: list[tuple[str, bool]] = []
    for item in items:
        if isinstance(item, Mapping):
            out.append((str(item.get("path", "")), bool(item.get("required", True))))
        else:
            out.append((str(item), True))
    return out


def read_env_files(spec: Any, resolve: Callable[[str], str],
                   environ: Mapping[str, str]) -> dict[str, str | None]:
    """Read every env_file of `spec` (paths resolved with `resolve`) into one mapping, with
    the loader's env-file parser (envfile.py)."""
    from pystack.orchestrator.config import envfile

    env: dict[str, str] = {}
    for raw, required in entries(spec):
        path = resolve(raw)
        from pystack.orchestrator.config.readfile import ReadProblem, read_path

        try:
            text = read_path(path, path, "env file")
        except ReadProblem as e:
            if not e.missing:
                raise EnvFileError(e.line) from None
            if required:
                raise EnvFileError(f"env file {path} not found") from None
            continue
        try:
            env.update(envfile.parse_env_text(text, path, environ, env))
        except envfile.EnvFileError as e:
            raise EnvFileError("; ".join(e.problems)) from e
    return dict(env)
