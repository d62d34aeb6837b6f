"""The whole stack-file pipeline in one call: load (loader.py) -> schema check -> profiles ->
semantic checks -> normalise -> model.  `load_project` is what the orchestrator and
`pystack config` call; it raises ConfigError with every problem found, and returns a Project
whose `warnings` hold the loader's warnings and one `not supported yet: ...` per unsupported
key in use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pystack.orchestrator.config import model as m
from pystack.orchestrator.errors import ConfigError


class ProjectOptions(Protocol):
    """What load_project reads (GlobalOptions of the CLI fits)."""

    @property
    def files(self) -> tuple[str, ...]: ...
    @property
    def project_name(self) -> str | None: ...
    @property
    def project_directory(self) -> str | None: ...
    @property
    def env_files(self) -> tuple[str, ...]: ...
    @property
    def profiles(self) -> tuple[str, ...]: ...
    @property
    def environ(self) -> Mapping[str, str]: ...


def load_project(opts: ProjectOptions, services: tuple[str, ...] | list[str] = (), *,
                 interpolate: bool = True, stdin: str | None = None) -> m.Project:
    """Load, validate and model a project.  `services` restricts it to those services and
    their dependencies (and enables their profiles), like `docker compose up svc`."""
    from pystack.orchestrator.config import normalize, profiles, schema_check, semantic
    from pystack.orchestrator.config.build import build_project
    from pystack.orchestrator.config.envfiles import EnvFileError
    from pystack.orchestrator.config.loader import LoadOptions, load

    raw = load(LoadOptions(
        files=tuple(opts.files), project_name=opts.project_name,
        project_directory=opts.project_directory, env_files=tuple(opts.env_files),
        profiles=tuple(opts.profiles), environ=dict(opts.environ), interpolate=interpolate,
        stdin=stdin))
    problems = schema_check.validate(raw.data, raw.marks)
    selection = profiles.select(raw.data, raw.marks, tuple(raw.profiles), tuple(services))
    problems.extend(selection.problems)
    problems.extend(semantic.check(selection.data, raw.marks, selection.disabled,
                                   str(raw.working_dir), raw.name))
    if problems:
        raise ConfigError(sorted(dict.fromkeys(problems), key=_position))
    ctx = normalize.Context(raw.name, str(raw.working_dir), raw.environment)
    try:
        canonical = normalize.normalize(selection.data, ctx)
    except (EnvFileError, ValueError) as e:
        raise ConfigError([str(e)]) from e
    late = late_checks(canonical, raw.marks)
    if late:
        raise ConfigError(sorted(late, key=_position))
    warnings = [*raw.warnings, *unsupported_warnings(selection.data),
                *command_warnings(selection.data)]
    try:
        project = build_project(
            canonical, working_dir=str(raw.working_dir), files=tuple(raw.files),
            profiles=selection.active, disabled=selection.disabled,
            environment=raw.environment, warnings=tuple(dict.fromkeys(warnings)))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        # A value the checks above let through but the model cannot hold: still an error
        # about the file, never a traceback.
        raise ConfigError([f"the stack file has a value pystack cannot use: {e!r}"],
                          hint="please report this file: the checks should have named "
                               "the line") from e
    return _with_defined_profiles(project, selection.defined)


def late_checks(canonical: Mapping[str, Any], marks: Any) -> list[str]:
    """Checks of the canonical form (env_file merged in, short forms expanded)."""
    from pystack.orchestrator.config import latechecks
    from pystack.orchestrator.config.semantic import Report

    rep = Report(marks)
    for name, svc in (canonical.get("services") or {}).items():
        latechecks.service(rep, name, svc)
    return rep.lines


def _position(line: str) -> tuple[str, int, int]:
    """Sort key of a problem line: its FILE:LINE:COL prefix (lines without one go first)."""
    parts = line.split(":", 3)
    if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1]), int(parts[2])
    return "", 0, 0


def _with_defined_profiles(project: m.Project, defined: tuple[str, ...]) -> m.Project:
    from dataclasses import replace

    return replace(project, defined_profiles=defined)


def unsupported_warnings(data: Mapping[str, Any]) -> list[str]:
    """`not supported yet: services.web.develop` for every key in use that pystack accepts but
    does not act on yet (model.UNSUPPORTED)."""
    out: list[str] = []
    for key in sorted(m.UNSUPPORTED_TOP_KEYS):
        if key in data:
            out.append(f"not supported yet: {key}")
    services = data.get("services")
    if not isinstance(services, Mapping):
        return out
    for name, svc in services.items():
        if not isinstance(svc, Mapping):
            continue
        for key in sorted(m.UNSUPPORTED_SERVICE_KEYS):
            if key in svc:
                out.append(f"not supported yet: services.{name}.{key}")
        opts = svc.get("security_opt")
        for i, opt in enumerate(opts if isinstance(opts, list) else []):
            key = str(opt).replace("=", ":", 1).partition(":")[0]
            if key in ("apparmor", "label", "systempaths"):
                out.append(f"not supported yet: services.{name}.security_opt[{i}] ({key}: "
                           "ignored)")
        for i, port in enumerate(shortsyntax_ports(svc.get("ports"))):
            if port.get("protocol") == "sctp":
                out.append(f"not supported yet: services.{name}.ports[{i}] (sctp: the port "
                           "is not published)")
        for dotted in sorted(m.UNSUPPORTED_NESTED_SERVICE_KEYS):
            node: Any = svc
            for part in dotted.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            if node not in (None, {}, []):
                out.append(f"not supported yet: services.{name}.{dotted}")
    return out


def shortsyntax_ports(ports: Any) -> list[dict[str, Any]]:
    """Each `ports:` item in long form (the items are already checked)."""
    from pystack.orchestrator.config.shortsyntax import ports as long_form

    out: list[dict[str, Any]] = []
    for item in ports if isinstance(ports, list) else []:
        try:
            out.extend(long_form(item)[:1])
        except (ValueError, TypeError, AttributeError):
            out.append({})
    return out


def command_warnings(data: Mapping[str, Any]) -> list[str]:
    """Compose silently drops what follows an unquoted ; & | < > in a command string; pystack
    does the same (same meaning) but says so."""
    from pystack.orchestrator.config.shortsyntax import split_command_tail

    out: list[str] = []
    services = data.get("services")
    for name, svc in (services.items() if isinstance(services, Mapping) else []):
        for key in ("command", "entrypoint"):
            value = svc.get(key) if isinstance(svc, Mapping) else None
            if isinstance(value, str):
                try:
                    _, tail = split_command_tail(value)
                except ValueError:
                    continue
                if tail:
                    out.append(f"services.{name}.{key}: '{tail}' is ignored, as Compose "
                               "ignores it (no shell runs the command; use sh -c '...' or a "
                               "list)")
    return out
