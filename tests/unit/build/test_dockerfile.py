"""The Dockerfile frontend: BuildKit's parser output cut into stages, directives, heredoc
modifiers, flags checked per instruction, and located errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.build.dockerfile import parse
from pystack.runtime.build.errors import BuildError

DF = """# syntax=docker/dockerfile:1
ARG BASE=local/busybox
FROM $BASE AS Builder
RUN --mount=type=cache,target=/c echo one \\
    two
COPY <<-"EOT" /x
\thello $X
\tEOT
RUN <<A <<B cat
a
A
b
B
FROM scratch
COPY --from=builder /x /x
"""


def test_stages_and_lines() -> None:
    df = parse(DF)
    assert df.syntax == "docker/dockerfile:1"
    assert [a.args for a in df.global_args] == [("BASE=local/busybox",)]
    assert [(s.name, s.base, s.line) for s in df.stages] == [("builder", "$BASE", 3),
                                                             ("", "scratch", 14)]
    run, copy, run2 = df.stages[0].instructions
    assert (run.line, run.end_line, run.flag("mount")) == (4, 5, "type=cache,target=/c")
    assert run.args == ("echo one     two",)
    assert copy.heredocs[0].content == "hello $X\n" and not copy.heredocs[0].expand
    assert [h.name for h in run2.heredocs] == ["A", "B"] and run2.heredocs[1].expand
    assert df.stages[1].instructions[0].flag("from") == "builder"


def test_escape_directive() -> None:
    df = parse("# escape=`\nFROM a\nRUN echo a `\n  b\n")
    assert df.escape == "`" and df.stages[0].instructions[0].args == ("echo a   b",)


@pytest.mark.parametrize(("text", "match"), [
    ("FROM a\nRUNN x\n", r"Dockerfile:2: unknown instruction: RUNN \(did you mean run\?\)"),
    ("FROM a\nCOPPY a b\n", "did you mean copy"),
    ("RUN x\n", "Dockerfile:1: RUN: no build stage"),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three"),
    ("FROM a\nRUN <<EOF\nx\n", "unterminated heredoc"),
    ("FROM a\nCOPY --form=x a b\n", "Dockerfile:2: COPY: unknown flag: --form"),
    ("FROM a AS x\nFROM b AS x\n", "Dockerfile:2: duplicate stage name"),
    ("# syntax=example.com/evil:1\nFROM a\n", "unsupported syntax frontend"),
    ("# escape=x\nFROM a\n", "invalid escape token"),
    ("FROM a\nONBUILD FROM b\n", "isn't allowed as an ONBUILD trigger"),
    ("", "no instructions"),
    ("FROM a AS 1x\n", "invalid name for build stage"),
])
def test_errors(text: str, match: str) -> None:
    with pytest.raises(BuildError, match=match):
        parse(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["FROM a", "RUN x", "COPY a b", "ENV A=1", "<<EOF", "EOF",
                                 "RUN <<EOF", "\\", "# escape=`", "ARG X", "XYZ q", "",
                                 "COPY --from=0 a b", "FROM b AS c", "HEALTHCHECK NONE",
                                 'CMD ["a"', "ONBUILD RUN x"]), max_size=8))
def test_fuzz_parse(lines: list[str]) -> None:
    try:
        parse("\n".join(lines) + "\n")
    except BuildError:
        pass
