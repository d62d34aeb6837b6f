"""A service's `env_file:` entries, read and merged in order (later files win), the way
compose-go folds them into `environment` (the `config` output shows no env_file).

Uses python-dotenv's parser (imported here, not at CLI import time).  A missing required file
raises EnvFileError; the caller turns it into a problem line.
"""

from __future__ import annotations

import os
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
    """Read every env_file of `spec` (paths resolved with `resolve`) into one mapping."""
    from dotenv import dotenv_values

    env: dict[str, str | None] = {}
    for raw, required in entries(spec):
        path = resolve(raw)
        if not os.path.isfile(path):
            if required:
                raise EnvFileError(f"env file {path} not found")
            continue
        try:
            values = dotenv_values(path, interpolate=False, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise EnvFileError(f"cannot read env file {path}: {e}") from e
        for key, value in values.items():
            if value is None:
                # A bare `KEY` line takes the value from the environment, if any.
                value = environ.get(key)
                if value is None:
                    continue
            env[key] = _interpolate(value, {**environ, **{k: v for k, v in env.items()
                                                          if v is not None}})
    return env


def _interpolate(value: str, environ: Mapping[str, str]) -> str:
    if "$" not in value:
        return value
    try:
        from pystack.orchestrator.config.interpolate import Lookup, substitute

        return substitute(value, Lookup(dict(environ)))
    except Exception:
        return value
