"""The loader pipeline behind `pystack config`: options -> files -> YAML with marks ->
interpolation -> extends/include -> merge -> one raw tree with marks (`RawProject`).

Owns: the order of the stages (compose-go `loader.Load`), the project environment (.env and
--env-file, shell wins), COMPOSE_* variables, the project name, and collecting every problem
into one ConfigError.  Each stage lives in its own module (yamlread, interpolate, envfile,
discovery, merge, extends, include); schema, semantics and the model are the next stages
(build.py etc.) and consume `RawProject`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pystack.orchestrator.config import discovery
from pystack.orchestrator.config.context import Context
from pystack.orchestrator.config.envfile import EnvFileError, read_env_files
from pystack.orchestrator.config.interpolate import Lookup, TemplateError, substitute
from pystack.orchestrator.config.marks import Marks
from pystack.orchestrator.config.merge import merge_mappings
from pystack.orchestrator.config.readfile import ReadProblem, read_stream
from pystack.orchestrator.config.unicity import enforce_unicity
from pystack.orchestrator.config.yamlread import MDict, MList
from pystack.orchestrator.errors import ConfigError, NoConfigFileError


def _environ() -> Mapping[str, str]:
    return dict(os.environ)


@dataclass(frozen=True)
class LoadOptions:
    files: tuple[str, ...] = ()  # -f (may contain "-": stdin)
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()  # --profile
    environ: Mapping[str, str] = field(default_factory=_environ)  # the shell environment
    interpolate: bool = True
    stdin: str | None = None  # text for "-f -" (tests); None reads sys.stdin


@dataclass
class RawProject:
    name: str  # normalised project name
    working_dir: Path  # absolute project directory
    files: tuple[str, ...]  # the compose files actually read (absolute, or "-")
    environment: dict[str, str]  # .env/--env-file + shell; shell wins
    profiles: tuple[str, ...]  # from --profile, else COMPOSE_PROFILES
    data: dict[str, Any]  # merged, interpolated, typed, extends+include resolved
    marks: Marks
    warnings: list[str]  # each already formatted


def _env_paths(options: LoadOptions, cwd: Path, wd: Path) -> list[Path]:
    if options.env_files:
        return [Path(discovery.absolute(f, cwd)) for f in options.env_files]
    dot = wd / ".env"
    return [dot] if dot.is_file() else []


def _read_env(paths: list[Path], shell: Mapping[str, str], cwd: Path) -> dict[str, str]:
    try:
        return read_env_files(paths, shell, [discovery.display_path(str(p), cwd) for p in paths])
    except EnvFileError as e:
        raise ConfigError(e.problems) from e


def load(options: LoadOptions) -> RawProject:
    """Load a project's compose files; raise ConfigError listing every problem found."""
    try:
        return _load(options)
    except ConfigError:
        raise
    except RecursionError as e:
        raise ConfigError(["the compose file is nested too deeply"]) from e
    except (OSError, ValueError, UnicodeError) as e:
        # a last line of defence: file names or text the stages did not expect
        raise ConfigError([f"cannot load the project: {e}"]) from e


def _load(options: LoadOptions) -> RawProject:
    cwd = Path.cwd()
    shell = dict(options.environ)
    project_dir = (Path(discovery.absolute(options.project_directory, cwd))
                   if options.project_directory else None)
    if project_dir is not None and not project_dir.is_dir():
        raise ConfigError([f"{options.project_directory}: no such directory "
                           "(--project-directory)"])
    # COMPOSE_* variables may come from the .env next to the first file (compose v2 reads
    # them before it decides which files to load).
    pre_wd = discovery.working_dir(tuple(discovery.absolute(f, cwd) for f in options.files),
                                   cwd, project_dir)
    file_env = _read_env(_env_paths(options, cwd, pre_wd), shell, cwd)
    environ = dict(shell)
    for k, v in file_env.items():
        if k.startswith("COMPOSE_") and k not in environ:
            environ[k] = v
    try:
        found = discovery.config_files(options.files, environ, cwd, project_dir)
    except discovery.NoConfigFile as e:
        raise NoConfigFileError(e.problems) from e
    except discovery.DiscoveryError as e:
        raise ConfigError(e.problems) from e
    wd = discovery.working_dir(found.files, cwd, project_dir)
    if wd != pre_wd and not options.env_files:
        file_env = _read_env(_env_paths(options, cwd, wd), shell, cwd)
    environment = {**file_env, **shell}
    profiles = options.profiles or discovery.split_profiles(
        environ.get("COMPOSE_PROFILES", ""))

    name_problems: list[str] = []
    # -p, then COMPOSE_PROJECT_NAME: both must already be valid (compose v2 does not
    # normalise them); `name:` and the directory name are normalised.
    explicit = options.project_name or environ.get("COMPOSE_PROJECT_NAME") or None
    if explicit is not None:
        msg = discovery.check_project_name(explicit)
        if msg:
            raise ConfigError([msg])
        environment["COMPOSE_PROJECT_NAME"] = explicit

    stdin = options.stdin
    if stdin is None and discovery.STDIN in found.files:
        try:
            stdin = read_stream(sys.stdin.buffer)
        except ReadProblem as e:
            raise ConfigError([e.line]) from None
    if explicit is None and "COMPOSE_PROJECT_NAME" not in environment:
        # compose-go sets COMPOSE_PROJECT_NAME (from `name:` or the directory) before it
        # interpolates; only files that use it need this extra early look at `name:`.
        early = _early_name(found.files, wd, environment, cwd, stdin)
        if early:
            environment["COMPOSE_PROJECT_NAME"] = early

    ctx = Context(cwd=cwd, environment=environment, interpolate=options.interpolate,
                  stdin=stdin)
    for w in found.warnings:
        ctx.warnings.append(w)
    merged = MDict()
    for f in found.files:
        tree = ctx.load_project_file(f, wd)
        if tree is not None:
            merged = merge_mappings(merged, tree, ())
            merged = enforce_unicity(merged)

    name = explicit
    if not name:
        raw_name = merged.get("name")
        if isinstance(raw_name, str) and raw_name:
            name = discovery.normalize_project_name(raw_name)
        else:
            name = discovery.normalize_project_name(wd.name)
        if not name and not ctx.problems:  # a file that could not be read says enough
            name_problems.append("project name must not be empty (set one with -p or a "
                                 "top-level `name:`)")
    ctx.problems.extend(name_problems)
    if ctx.problems:
        raise ConfigError(_unique(ctx.problems))
    if ctx.interpolate and "name" in merged and isinstance(merged["name"], str):
        merged["name"] = name
    data, marks = finish(merged)
    return RawProject(name=name or "", working_dir=wd, files=found.files,
                      environment=environment, profiles=profiles, data=data, marks=marks,
                      warnings=ctx.warnings)


def _early_name(files: tuple[str, ...], wd: Path, environment: Mapping[str, str], cwd: Path,
                stdin: str | None) -> str | None:
    probe = Context(cwd=cwd, environment=environment, interpolate=False, stdin=stdin)
    texts = [probe.read_text(f) for f in files]
    if not any(t and "COMPOSE_PROJECT_NAME" in t for t in texts):
        return None
    name: str | None = None
    for f in files:
        tree = probe.parse_file(f)
        if tree is not None and isinstance(tree.get("name"), str):
            name = interpolate_name(tree["name"], environment)
    if name:
        return discovery.normalize_project_name(name) or None
    return discovery.normalize_project_name(wd.name) or None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def finish(tree: MDict) -> tuple[dict[str, Any], Marks]:
    """Plain dicts/lists and one Marks table from an MDict tree."""
    marks = Marks()

    keys = marks._keys  # filled directly: this walk visits every node of the project
    values = marks._values

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, MDict):
            out: dict[str, Any] = {}
            km, vm = node.kmarks, node.vmarks
            for k, v in node.items():
                p = (*path, k)
                if k in km:
                    keys[p] = km[k]
                if k in vm:
                    values[p] = vm[k]
                out[k] = walk(v, p) if isinstance(v, dict | list) else v
            return out
        if isinstance(node, MList):
            items: list[Any] = []
            lm = node.vmarks
            for i, v in enumerate(node):
                p = (*path, i)
                m = lm[i] if i < len(lm) else None
                if m is not None:
                    values[p] = m
                items.append(walk(v, p) if isinstance(v, dict | list) else v)
            return items
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        return node

    data = walk(tree, ())
    assert isinstance(data, dict)
    return data, marks


def interpolate_name(value: str, environment: Mapping[str, str]) -> str:
    """Interpolate a lone string (used for `name:` before the rest); errors keep it as is."""
    try:
        return substitute(value, Lookup(environment))
    except TemplateError:
        return value
