"""interpolate.py: compose-go's template semantics (checked case by case against Docker
Compose v2.40.3), the errors, the unset-variable warnings and the type casts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.orchestrator.config.interpolate import Lookup, TemplateError, substitute

from .conftest import load_ok, problems, write

ENV = {"SET": "val", "EMPTY": "", "N": "3"}


@pytest.mark.parametrize(("template", "expected"), [
    ("$SET", "val"), ("${SET}", "val"), ("${UNSET:-def}", "def"), ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""), ("${UNSET-def}", "def"), ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    ("${UNSET:+x}", ""), ("${UNSET:-${SET:-x}}", "val"), ("${UNSET:-${UNSET2:-deep}}", "deep"),
    ("$$SET", "$SET"), ("$$", "$"), ("a$$b", "a$b"), ("${UNSET:-$$}", "$"),
    ("${SET}${SET}", "valval"), ("${UNSET:-a}${SET:-b}", "aval"),
    ("${SET:-a} and ${UNSET:-b}", "val and b"), ("pre-${SET}-post", "pre-val-post"),
    ("$1", "$1"), ("$ ", "$ "), ("100$", "100$"), ("{SET}", "{SET}"),
    ("${UNSET:-a-b}", "a-b"), ("${UNSET:-a:-b}", "a:-b"), ("${EMPTY:-}", ""),
    ("${SET?msg}", "val"), ("${SET:?msg}", "val"), ("${EMPTY?msg}", ""),
    ("${UNSET:-{x}}", "{x}"), ("${UNSET:-x}}", "x}"), ("${UNSET:-a}b}", "ab}"),
    ("$SET_more", ""), ("${SET}_more", "val_more"), ("$SETx", ""), ("${set}", ""),
    ("${UNSET:-$SET}", "val"), ("${N:-${UNSET:-z}}x${SET}", "3xval"),
])
def test_substitute_matches_compose_go(template: str, expected: str) -> None:
    assert substitute(template, Lookup(ENV)) == expected


@pytest.mark.parametrize(("template", "message"), [
    ("${", 'invalid interpolation format "${"'),
    ("${SET", 'invalid interpolation format "${SET"'),
    ("${1}", 'invalid interpolation format "${1}"'),
    ("${SET:x}", 'invalid interpolation format "${SET:x}"'),
    ("${UNSET:-${}", 'invalid interpolation format "${"'),
    ("a ${UNSET?msg here} b", "required variable UNSET is missing a value: msg here"),
    ("${UNSET:?}", "required variable UNSET is missing a value"),
    ("${EMPTY:?must not be empty}", "required variable EMPTY is missing a value: "
                                    "must not be empty"),
    ("x ${UNSET?a} ${UNSET2?b}", "required variable UNSET is missing a value: a"),
])
def test_substitute_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        substitute(template, Lookup(ENV))
    assert str(e.value) == message


def test_every_error_of_a_file_is_reported_with_its_line(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: "nginx:${TAG"
            environment:
              DB: "${DB_PASSWORD:?set DB_PASSWORD}"
              OK: "${SET}"
        """})
    assert problems("compose.yaml", env=ENV) == [
        'compose.yaml:3:12: services.web.image: invalid interpolation format "nginx:${TAG" '
        "(you may need to escape any $ with another $)",
        "compose.yaml:5:11: services.web.environment.DB: required variable DB_PASSWORD is "
        "missing a value: set DB_PASSWORD",
    ]


def test_unset_variables_warn_once_each_and_become_empty(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: "nginx:${TAG}"
            labels: ["a=$TAG", "b=${OTHER}"]
        """})
    raw = load_ok("compose.yaml")
    assert raw.data["services"]["web"] == {"image": "nginx:", "labels": ["a=", "b="]}
    assert raw.warnings == [
        'compose.yaml:3:12: services.web.image: the "TAG" variable is not set, '
        "defaulting to a blank string",
        'compose.yaml:4:24: services.web.labels[1]: the "OTHER" variable is not set, '
        "defaulting to a blank string",
    ]


def test_keys_are_not_interpolated(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: a
            environment:
              $SET: "$SET"
        """})
    raw = load_ok("compose.yaml", env=ENV)
    assert raw.data["services"]["web"]["environment"] == {"$SET": "val"}


def test_no_interpolate_keeps_text(proj: Path) -> None:
    write(proj, {"compose.yaml": "services:\n  web:\n    image: \"${TAG\"\n    tty: 'yes'\n"})
    raw = load_ok("compose.yaml", interpolate=False)
    assert raw.data["services"]["web"] == {"image": "${TAG", "tty": "yes"}


def test_casts_of_known_paths(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: a
            tty: "${TTY}"
            privileged: "yes"
            cpus: "${CPUS}"
            scale: "${N}"
            ports: [{target: "${N}", published: "${N}"}]
            ulimits: {nofile: "${N}", nproc: {soft: "1", hard: "2"}}
            healthcheck: {retries: "${N}", disable: "false"}
            volumes: [{type: volume, source: v, target: /v, read_only: "true"}]
            environment: {N: "${N}"}
        networks:
          n: {internal: "true"}
        volumes:
          v: {external: "false"}
        """})
    raw = load_ok("compose.yaml", env={"TTY": "true", "CPUS": "0.5", "N": "3"})
    web = raw.data["services"]["web"]
    assert web["tty"] is True
    assert web["privileged"] is True
    assert web["cpus"] == 0.5
    assert web["scale"] == 3
    assert web["ports"] == [{"target": 3, "published": "3"}]
    assert web["ulimits"] == {"nofile": 3, "nproc": {"soft": 1, "hard": 2}}
    assert web["healthcheck"] == {"retries": 3, "disable": False}
    assert web["volumes"][0]["read_only"] is True
    assert web["environment"] == {"N": "3"}
    assert raw.data["networks"]["n"]["internal"] is True
    assert raw.data["volumes"]["v"]["external"] is False
    assert raw.warnings == [
        "compose.yaml:5:17: services.web.privileged: 'yes' for boolean is not supported by "
        "YAML 1.2, please use `true`"]


def test_bad_casts(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          web:
            image: a
            tty: "${X}"
            scale: "two"
        """})
    assert problems("compose.yaml", env={"X": "maybe"}) == [
        "compose.yaml:4:10: services.web.tty: failed to cast to expected type: "
        "invalid boolean: maybe",
        'compose.yaml:5:12: services.web.scale: failed to cast to expected type: '
        'strconv.Atoi: parsing "two": invalid syntax',
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="${}:-?+_aZ09 ", max_size=30))
def test_substitute_never_raises_anything_else(template: str) -> None:
    try:
        out = substitute(template, Lookup(ENV))
    except TemplateError:
        return
    assert isinstance(out, str)
