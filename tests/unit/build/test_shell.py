"""BuildKit's shell lexer semantics (frontend/dockerfile/shell/lex.go), and a fuzz: any input
expands or fails with a BuildError, never anything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.shell import expand_word, words_of

ENV = {"A": "apple", "E": "", "P": "/usr/local/bin", "F": "file.tar.gz"}


@pytest.mark.parametrize(("word", "want"), [
    ("$A", "apple"), ("${A}", "apple"), ("x${A}y", "xappley"), ("$A-$B", "apple-"),
    ("'$A'", "$A"), ('"$A"', "apple"), ('"a b"', "a b"), ("\\$A", "$A"),
    ('"\\$A"', "$A"), ('"\\x"', "\\x"), ("a\\ b", "a b"),
    ("${B:-dflt}", "dflt"), ("${E:-dflt}", "dflt"), ("${E-dflt}", ""), ("${A:-dflt}", "apple"),
    ("${A:+alt}", "alt"), ("${E:+alt}", ""), ("${E+alt}", "alt"), ("${B+alt}", ""),
    ("${F%.gz}", "file.tar"), ("${F%%.*}", "file"), ("${F#*.}", "tar.gz"),
    ("${F##*.}", "gz"), ("${P/local/opt}", "/usr/opt/bin"), ("${A//p/P}", "aPPle"),
    ("$", "$"), ("a$", "a$"), ("$1", ""), ("${B:-${A}}", "apple"), ("${B:-'x y'}", "x y"),
])
def test_expand(word: str, want: str) -> None:
    assert expand_word(word, ENV) == want


def test_backtick_escape() -> None:
    assert expand_word("a`$A", ENV, escape="`") == "a$A"
    assert expand_word("C:\\dir", ENV, escape="`") == "C:\\dir"


def test_raw_mode_keeps_quotes_and_escapes() -> None:
    assert expand_word("say \"$A\" 'x' \\$A", ENV, raw=True) == "say \"apple\" 'x' \\$A"


@pytest.mark.parametrize("word", ["'open", '"open', "${A", "${}", "${E:?}", "${B?gone}",
                                  "${A:x}"])
def test_errors(word: str) -> None:
    with pytest.raises(BuildError):
        expand_word(word, ENV)


def test_required_message() -> None:
    with pytest.raises(BuildError, match="B: set it"):
        expand_word("${B:?set it}", ENV)


def test_words_keep_quotes() -> None:
    assert words_of('a "b c" d\\ e') == ["a", '"b c"', "d\\ e"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab$'\"\\{}:-+?#%/ *", max_size=30))
def test_fuzz_only_build_errors(word: str) -> None:
    try:
        out = expand_word(word, ENV)
    except BuildError:
        return
    assert isinstance(out, str)
