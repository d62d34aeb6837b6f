"""The state one load shares across its stages: the environment, every problem and warning
found so far, and the files already parsed (so `extends` of another file reads it once).

Owns: reading one compose file (a path or stdin) into an interpolated, merged tree
(`parse_file`) and the per-file stages (`load_project_file`: extends, then include).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from pystack.orchestrator.config.discovery import display_path
from pystack.orchestrator.config.interpolate import Interpolator
from pystack.orchestrator.config.marks import Mark, problem
from pystack.orchestrator.config.merge import merge_mappings
from pystack.orchestrator.config.readfile import ReadProblem, read_path, read_stream
from pystack.orchestrator.config.unicity import enforce_unicity
from pystack.orchestrator.config.yamlread import (
    MDict,
    YamlProblems,
    clone_tree,
    read_documents,
)

STDIN = "-"


class Context:
    """Problems, warnings and caches of one `load()` call."""

    def __init__(self, cwd: Path, environment: Mapping[str, str], interpolate: bool,
                 stdin: str | None) -> None:
        self.cwd = cwd
        self.environment = environment
        self.interpolate = interpolate
        self.stdin = stdin
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.warned: set[str] = set()
        self._parsed: dict[tuple[str, int], MDict | None] = {}
        self.include_stack: list[str] = []

    def display(self, path: str) -> str:
        return display_path(path, self.cwd)

    def read_text(self, path: str, mark: Mark | None = None,
                  where: tuple[str | int, ...] = ()) -> str | None:
        try:
            if path != STDIN:
                return read_path(path, self.display(path))
            if self.stdin is None:
                self.stdin = read_stream(sys.stdin.buffer)
            return self.stdin
        except ReadProblem as e:
            msg = e.line
        self.problems.append(problem(mark, where, msg) if mark else msg)
        return None

    def parse_file(self, path: str, environment: Mapping[str, str] | None = None,
                   mark: Mark | None = None, where: tuple[str | int, ...] = (),
                   cache: bool = False) -> MDict | None:
        """Read, parse and interpolate one file; its YAML documents are merged in order.
        With `cache`, later calls for the same file get a copy instead of reading it again."""
        env = self.environment if environment is None else environment
        key = (path, id(env))
        if key in self._parsed:  # a file read before (extends, include): hand out a copy
            cached = self._parsed[key]
            return None if cached is None else clone(cached)
        text = self.read_text(path, mark, where)
        tree: MDict | None = None
        if text is not None:
            tree = self._parse_text(text, path, env)
        if cache:
            self._parsed[key] = None if tree is None else clone(tree)
        return tree

    def _parse_text(self, text: str, path: str, env: Mapping[str, str]) -> MDict | None:
        display = self.display(path)
        try:
            docs = read_documents(text, display)
        except YamlProblems as e:
            self.problems.extend(e.problems)
            return None
        if not docs:
            self.problems.append(f"{display}: empty compose file")
            return None
        merged = MDict()
        for doc in docs:
            if self.interpolate:
                before = len(self.problems)
                Interpolator(env, self.problems, self.warnings, self.warned).run(
                    doc, Mark(display, 1, 1))
                if len(self.problems) > before:
                    continue
            merged = enforce_unicity(merge_mappings(merged, doc, ()))
        return merged

    def load_project_file(self, path: str, working_dir: Path,
                          environment: Mapping[str, str] | None = None) -> MDict | None:
        """One file of the project: parsed, its `extends` resolved, its `include`s merged."""
        from pystack.orchestrator.config.extends import apply as apply_extends
        from pystack.orchestrator.config.include import apply as apply_include

        env = self.environment if environment is None else environment
        tree = self.parse_file(path, env)
        if tree is None:
            return None
        # compose-go resolves `extends.file` and `include` paths of a project's files against
        # the project's working directory (not the file's own directory).
        apply_extends(self, tree, path, working_dir, env)
        apply_include(self, tree, path, working_dir, working_dir, env)
        return tree


def clone(node: MDict) -> MDict:
    """A deep copy of a tree, marks and tags included (cheap: no generic deepcopy)."""
    out = clone_tree(node)
    assert isinstance(out, MDict)
    return out
