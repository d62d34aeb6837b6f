"""Which compose files to read, which directory is the project's, which env files apply and
what the project is called -- Compose v2's rules (compose-go `cli/options.go`).

Owns: default file discovery (compose.yaml, compose.yml, docker-compose.yml,
docker-compose.yaml plus one override file, searching parent directories), COMPOSE_FILE with
COMPOSE_PATH_SEPARATOR, the working directory, the default `.env`, and project-name
normalisation/validation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml", "compose.override.yaml",
    "docker-compose.override.yml", "docker-compose.override.yaml",
)
STDIN = "-"
_NAME_OK = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")
_NAME_CHARS = re.compile(r"[a-z0-9_-]")


class DiscoveryError(Exception):
    """No compose file, or a bad project name; ``problems`` are formatted lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class NoConfigFile(DiscoveryError):
    """No compose file was named and none was found from the working directory up."""


@dataclass(frozen=True)
class Found:
    files: tuple[str, ...]  # absolute paths, or "-"
    warnings: tuple[str, ...] = ()


def absolute(path: str, base: Path) -> str:
    if path == STDIN:
        return path
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def display_path(path: str, cwd: Path) -> str:
    """How a file is named in messages: "<stdin>", else relative to cwd when below it."""
    if path == STDIN:
        return "<stdin>"
    rel = os.path.relpath(path, cwd)
    return path if rel.startswith("..") else rel


def find_default_files(start: Path) -> Found:
    """Search `start` and its parents for the first directory holding a compose file."""
    here = start
    while True:
        candidates = [here / n for n in DEFAULT_FILES if (here / n).is_file()]
        if candidates:
            warnings: list[str] = []
            if len(candidates) > 1:
                warnings.append("found multiple config files with supported names: "
                                + ", ".join(map(str, candidates)) + f"; using {candidates[0]}")
            files = [str(candidates[0])]
            overrides = [here / n for n in OVERRIDE_FILES if (here / n).is_file()]
            if overrides:
                if len(overrides) > 1:
                    warnings.append("found multiple override files with supported names: "
                                    + ", ".join(map(str, overrides))
                                    + f"; using {overrides[0]}")
                files.append(str(overrides[0]))
            return Found(tuple(files), tuple(warnings))
        if here.parent == here:
            raise NoConfigFile(["no configuration file provided: not found (looked for "
                                  + ", ".join(DEFAULT_FILES) + f" in {start} and its parents)"])
        here = here.parent


def config_files(files: tuple[str, ...], environ: Mapping[str, str], cwd: Path,
                 project_directory: Path | None) -> Found:
    """The compose files to read: -f, else COMPOSE_FILE, else discovery."""
    if files:
        return Found(tuple(absolute(f, cwd) for f in files))
    env_files = environ.get("COMPOSE_FILE", "")
    if env_files:
        sep = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        parts = [p for p in env_files.split(sep) if p]
        if parts:
            return Found(tuple(absolute(p, cwd) for p in parts))
    return find_default_files(project_directory or cwd)


def working_dir(files: tuple[str, ...], cwd: Path, project_directory: Path | None) -> Path:
    """--project-directory, else the first file's directory, else the current directory."""
    if project_directory is not None:
        return project_directory
    for f in files:
        if f != STDIN:
            return Path(f).parent
    return cwd


def normalize_project_name(name: str) -> str:
    """Compose v2: lowercase, keep [a-z0-9_-], strip leading '_' and '-'."""
    return "".join(_NAME_CHARS.findall(name.lower())).lstrip("_-")


def check_project_name(name: str) -> str | None:
    """The error message for an explicitly given invalid name, else None."""
    if not _NAME_OK.match(name):
        return (f"invalid project name {name!r}: must consist only of lowercase alphanumeric "
                "characters, hyphens, and underscores as well as start with a letter or number")
    return None


def split_profiles(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())
