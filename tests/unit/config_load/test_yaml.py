"""yamlread.py: YAML 1.2 scalars as Compose v2 reads them, marks, anchors, merge keys,
duplicate keys, tags and multi-document files.  Expected values were checked against
Docker Compose v2.40.3's `config` output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from pystack.orchestrator.config.marks import Mark
from pystack.orchestrator.config.yamlread import YamlProblems, read_documents, resolve_plain

from .conftest import load_ok, problems, write


@pytest.mark.parametrize(("text", "value"), [
    ("22:22", "22:22"), ("yes", "yes"), ("off", "off"), ("No", "No"), ("y", "y"),
    ("true", True), ("TRUE", True), ("False", False), ("fAlse", "fAlse"),
    ("0755", 493), ("0o17", 15), ("0x1F", 31), ("-0x10", -16), ("0b11", 3), ("-0b11", -3),
    ("08", 8.0), ("09.5", 9.5), ("1_000", 1000), ("1__0", 10), ("0x_1", 1),
    ("1e3", 1000.0), ("1.", 1.0), (".5", 0.5), ("+.5", 0.5), ("-.5e2", -50.0),
    ("1e400", "1e400"), ("0x", "0x"), ("0b2", "0b2"), ("..5", "..5"), ("+-1", "+-1"),
    ("~", None), ("null", None), ("NULL", None), ("nULL", "nULL"), ("", None),
    ("2001-12-14", "2001-12-14T00:00:00Z"), ("2001-1-2", "2001-01-02T00:00:00Z"),
    ("2001-02-30", "2001-02-30"), ("9223372036854775808", 9223372036854775808),
])
def test_plain_scalars_follow_go_yaml_v3(text: str, value: Any) -> None:
    got = resolve_plain(text)
    assert got == value
    assert type(got) is type(value)


def test_special_floats() -> None:
    assert resolve_plain(".inf") == math.inf
    assert resolve_plain("-.Inf") == -math.inf
    assert math.isnan(resolve_plain(".NaN"))


def test_quoted_and_tagged_scalars() -> None:
    [doc] = read_documents('a: "0755"\nb: !!str 12\nc: !!int "12"\nd: \'yes\'\n', "f")
    assert doc == {"a": "0755", "b": "12", "c": 12, "d": "yes"}


def test_bad_explicit_tag() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents("a: !!int abc\n", "f.yaml")
    assert e.value.problems == ["f.yaml:1:4: a: cannot decode 'abc' as !!int"]


def test_marks_of_keys_and_values(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: nginx
            ports:
              - "80:80"
              - 8080:80
        """})
    raw = load_ok("compose.yaml")
    assert raw.marks.key(("services", "web", "image")) == Mark("compose.yaml", 3, 5)
    assert raw.marks.value(("services", "web", "image")) == Mark("compose.yaml", 3, 12)
    assert raw.marks.value(("services", "web", "ports", 1)) == Mark("compose.yaml", 6, 9)
    assert raw.marks.nearest(("services", "web", "ports", 1, "x")) == \
        Mark("compose.yaml", 6, 9)


def test_anchors_aliases_and_merge_keys() -> None:
    [doc] = read_documents("""\
x-base: &base
  image: base
  environment: {A: "1"}
x-more: &more
  image: more
  restart: always
services:
  a:
    <<: [*base, *more]
    image: own
  b: *base
""", "f")
    assert doc["services"]["a"] == {"image": "own", "environment": {"A": "1"},
                                    "restart": "always"}
    assert doc["services"]["b"] == {"image": "base", "environment": {"A": "1"}}
    # aliases are copies: changing one does not change the other
    doc["services"]["b"]["environment"]["A"] = "2"
    assert doc["x-base"]["environment"]["A"] == "1"


def test_duplicate_keys_are_all_reported() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents("services:\n  a: {}\n  a: {}\nname: x\nname: y\n", "c.yaml")
    assert e.value.problems == [
        "c.yaml:3:3: services.a: mapping key 'a' already defined at line 2",
        "c.yaml:5:1: name: mapping key 'name' already defined at line 4",
    ]


def test_non_string_keys_are_errors() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents("environment:\n  true: x\n  1: y\n  '2': z\n", "c.yaml")
    assert e.value.problems == [
        "c.yaml:2:3: environment.true: non-string key in environment: true (quote the key)",
        "c.yaml:3:3: environment.1: non-string key in environment: 1 (quote the key)",
    ]


def test_syntax_error_has_position() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents("services:\n  web:\n    image: [a\n", "c.yaml")
    [line] = e.value.problems
    assert line.startswith("c.yaml:4:1: invalid YAML: ")
    assert "expected ',' or ']'" in line


def test_unclosed_quote_and_tabs() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents('services:\n  web:\n    image: "x\n', "c.yaml")
    assert e.value.problems == ["c.yaml:4:1: invalid YAML: found unexpected end of stream "
                                "(while scanning a quoted scalar at line 3, column 12)"]
    with pytest.raises(YamlProblems) as e:
        read_documents("services:\n\tweb: {}\n", "c.yaml")
    assert e.value.problems == [
        "c.yaml:2:1: invalid YAML: found character that cannot start any token (while "
        "scanning for the next token) (YAML indentation must use spaces, not tabs)"]


def test_bad_merge_value() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents("a:\n  <<: 3\n", "c.yaml")
    assert e.value.problems == [
        "c.yaml:2:7: a: map merge requires map or sequence of maps as the value"]


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(YamlProblems) as e:
        read_documents("- a\n- b\n", "c.yaml")
    assert e.value.problems == ["c.yaml:1:1: Top-level object must be a mapping"]


def test_alias_bomb_is_an_error_not_a_hang() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(YamlProblems) as e:
        read_documents("\n".join(lines) + "\n", "bomb.yaml")
    assert "document contains excessive aliasing" in e.value.problems[0]


def test_multiple_documents_are_merged_in_order(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: a
            environment: {A: "1"}
        ---
        services:
          web:
            image: b
            environment: {B: "2"}
        """})
    raw = load_ok("compose.yaml")
    # environment maps merge as KEY=VALUE sequences, like compose-go's mergeToSequence
    assert raw.data["services"]["web"] == {"image": "b", "environment": ["A=1", "B=2"]}


def test_empty_file(proj: Path) -> None:
    write(proj, {"compose.yaml": "# nothing\n"})
    assert problems("compose.yaml") == ["compose.yaml: empty compose file"]


def test_extension_keys_are_kept(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        x-common: {a: 1}
        services:
          web:
            image: a
            x-note: hello
        """})
    raw = load_ok("compose.yaml")
    assert raw.data["x-common"] == {"a": 1}
    assert raw.data["services"]["web"]["x-note"] == "hello"
