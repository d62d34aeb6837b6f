"""moby/patternmatcher semantics for .dockerignore and Go's filepath.Match."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.patterns import IgnoreMatcher, go_match


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    (["*.pyc"], "a.pyc", True), (["*.pyc"], "src/a.pyc", False),
    (["**/*.pyc"], "src/deep/a.pyc", True), (["**/*.pyc"], "a.pyc", True),
    (["/build"], "build/x", True), (["build"], "src/build", False),
    (["node_modules"], "node_modules/x/y", True),
    (["*.md", "!README.md"], "README.md", False), (["*.md", "!README.md"], "a.md", True),
    (["!README.md", "*.md"], "README.md", True), (["docs/**"], "docs/a/b", True),
    (["# comment", ""], "# comment", False), (["./tmp/../x"], "x", True),
    (["a?c"], "abc", True), (["a?c"], "a/c", False), (["[ab]x"], "bx", True),
    (["dir", "!dir/keep"], "dir/keep", False), (["dir", "!dir/keep"], "dir/other", True),
    (["**"], "anything/at/all", True), (["a/**/b"], "a/b", True), (["a/**/b"], "a/x/y/b", True),
])
def test_dockerignore(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(path) is excluded


def test_bare_exclamation_is_an_error() -> None:
    with pytest.raises(BuildError):
        IgnoreMatcher(["!"])


@pytest.mark.parametrize(("pattern", "name", "want"), [
    ("*.go", "main.go", True), ("*.go", "dir/main.go", False), ("dir/*.go", "dir/a.go", True),
    ("a?", "ab", True), ("a?", "a/", False), ("[a-c]x", "bx", True), ("[^a-c]x", "dx", True),
    ("[^a-c]x", "ax", False), ("\\*", "*", True), ("\\*", "a", False),
])
def test_go_match(pattern: str, name: str, want: bool) -> None:
    assert go_match(pattern, name) is want


@pytest.mark.parametrize("pattern", ["[", "[]", "a\\", "[a"])
def test_go_match_bad_pattern(pattern: str) -> None:
    with pytest.raises(BuildError):
        go_match(pattern, "x")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab*?[]!/\\.#", max_size=8), max_size=4),
       st.text(alphabet="ab/.", max_size=10))
def test_fuzz_matcher(patterns: list[str], path: str) -> None:
    try:
        m = IgnoreMatcher(patterns)
    except BuildError:
        return
    assert m.excluded(path or ".") in (True, False)
