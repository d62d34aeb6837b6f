"""Environment files (`.env`, `--env-file`, a service's `env_file:`): parse like compose-go's
dotenv package and expand `${VAR}` in values the same way.

Parsing uses python-dotenv's parser with interpolation off (it knows quotes, `export`,
comments and multi-line values); we then interpolate unquoted and double-quoted values with
our compose-go template (`interpolate.substitute`), looking up the shell environment first,
then the variables defined earlier (in this file or earlier files). Single-quoted values stay
literal, as in compose-go.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from pystack.orchestrator.config.interpolate import Lookup, TemplateError, substitute
from pystack.orchestrator.config.marks import Mark, problem
from pystack.orchestrator.config.readfile import ReadProblem, read_path


class EnvFileError(Exception):
    """A problem with an env file; ``problems`` are formatted lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _ChainLookup(Lookup):
    def __init__(self, first: Mapping[str, str], then: Mapping[str, str]) -> None:
        super().__init__(first)
        self.then = then

    def get(self, name: str, warn: bool) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        if name in self.then:
            return self.then[name], True
        return "", False


def parse_env_text(text: str, display: str, lookup_env: Mapping[str, str],
                   earlier: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse the text of one env file; raise EnvFileError with every bad line."""
    from dotenv.parser import parse_stream

    values: dict[str, str] = dict(earlier or {})
    out: dict[str, str] = {}
    problems: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    lookup = _ChainLookup(lookup_env, values)
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            problems.append(problem(Mark(display, line, 1), (),
                                    f"unexpected character in env file line: "
                                    f"{binding.original.string.strip()!r}"))
            continue
        key = binding.key
        if key is None:
            continue
        if binding.value is None:
            # `KEY` alone: take it from the environment if set (compose-go does the same).
            found, ok = lookup.get(key, warn=False)
            if not ok:
                continue
            value = found
        else:
            raw_value_part = binding.original.string.split("=", 1)[-1].lstrip()
            value = binding.value
            if not raw_value_part.startswith("'"):
                try:
                    value = substitute(value, lookup)
                except TemplateError as e:
                    problems.append(problem(Mark(display, line, 1), (key,), str(e)))
                    continue
        values[key] = value
        out[key] = value
    if problems:
        raise EnvFileError(problems)
    return out


def read_env_files(paths: list[Path], shell: Mapping[str, str],
                   displays: list[str] | None = None) -> dict[str, str]:
    """Read several env files in order (later ones win); raise EnvFileError on any problem."""
    env: dict[str, str] = {}
    problems: list[str] = []
    for i, path in enumerate(paths):
        display = displays[i] if displays else str(path)
        try:
            text = read_path(str(path), display, "env file")
        except ReadProblem as e:
            problems.append(f"{display}: no such file (env file not found)" if e.missing
                            else e.line)
            continue
        try:
            env.update(parse_env_text(text, display, shell, env))
        except EnvFileError as e:
            problems.extend(e.problems)
    if problems:
        raise EnvFileError(problems)
    return env
