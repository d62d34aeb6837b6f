"""Fuzzing the whole loader: whatever the text, `load` returns a RawProject or raises
ConfigError -- never any other exception (no traceback for a user, ever)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pystack.orchestrator.config.loader import LoadOptions, load
from pystack.orchestrator.errors import ConfigError

ENV = {"SET": "v", "EMPTY": ""}
KEYS = ["services", "web", "db", "image", "ports", "environment", "command", "extends",
        "include", "volumes", "networks", "depends_on", "build", "name", "x-a", "<<",
        "healthcheck", "test", "file", "service", "path", "env_file", "labels", "secrets",
        "tty", "ulimits", "logging", "driver"]
TEMPLATES = st.text(alphabet="${}:-?+_SETMPYv0 ", max_size=20)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 99999), TEMPLATES,
                    st.sampled_from(["0755", "yes", "22:22", "1e3", ".inf", "./x:/y", "80:80",
                                     "a.yaml", "web", "*a", "&a x", "!reset", "!override x"]))
TREES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.sampled_from(KEYS), kids, max_size=5)),
    max_leaves=25)


def _load(text: str, **kw: Any) -> None:
    try:
        load(LoadOptions(files=("-",), stdin=text, project_name="fuzz", environ=ENV, **kw))
    except ConfigError as e:
        assert e.problems
        assert all(isinstance(p, str) and p for p in e.problems)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _load(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab:- \n[]{}&*!<>,'\"#|$%@`?~.0123456789", max_size=120))
def test_yaml_punctuation(text: str) -> None:
    _load(text)


def _dump(tree: Any) -> str:
    text = yaml.safe_dump({"services": tree} if not isinstance(tree, dict) else tree,
                          default_flow_style=False)
    # turn some quoted markers back into YAML syntax (anchors, aliases, tags)
    for marker in ("'*a'", "'&a x'", "'!reset'", "'!override x'"):
        text = text.replace(marker, marker.strip("'"))
    return text


@settings(max_examples=200, deadline=None)
@given(TREES)
def test_random_trees(tree: Any) -> None:
    text = _dump(tree)
    _load(text)
    _load(text, interpolate=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, TREES)
def test_random_merges_extends_and_includes(a: Any, b: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "a.yaml").write_text(_dump(a))
        (root / "b.yaml").write_text(_dump(b))
        for files in (("a.yaml", "b.yaml"), ("b.yaml", "a.yaml")):
            try:
                load(LoadOptions(files=tuple(str(root / f) for f in files),
                                 project_name="fuzz", environ=ENV))
            except ConfigError as e:
                assert e.problems


NAMES = st.sampled_from(["a", "b", "c"])
FILES = st.sampled_from(["a.yaml", "b.yaml", "c.yaml", "sub/c.yaml", "../a.yaml"])
EXTENDS = st.one_of(NAMES, st.fixed_dictionaries({"service": NAMES}, optional={"file": FILES}),
                    SCALARS)
SERVICE = st.fixed_dictionaries({}, optional={
    "extends": EXTENDS, "image": SCALARS, "ports": st.lists(SCALARS, max_size=2),
    "environment": st.one_of(st.lists(TEMPLATES, max_size=2),
                             st.dictionaries(NAMES, SCALARS, max_size=2)),
    "command": SCALARS, "build": st.one_of(SCALARS, st.fixed_dictionaries({"context": SCALARS})),
    "volumes": st.lists(st.sampled_from(["./d:/d", "v:/v", "../x:/x"]), max_size=2),
})
INCLUDE = st.lists(st.one_of(FILES, st.fixed_dictionaries(
    {"path": st.one_of(FILES, st.lists(FILES, max_size=2))},
    optional={"project_directory": st.sampled_from([".", "sub", "nope"]),
              "env_file": st.sampled_from(["e.env", "nope.env"])})), max_size=2)
PROJECT = st.fixed_dictionaries({"services": st.dictionaries(NAMES, SERVICE, max_size=3)},
                                optional={"include": INCLUDE})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROJECT, PROJECT, PROJECT)
def test_structured_extends_and_includes(a: Any, b: Any, c: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "sub").mkdir()
        (root / "e.env").write_text("SET=fromfile\nX=${SET}\n")
        for name, tree in (("a.yaml", a), ("b.yaml", b), ("c.yaml", c), ("sub/c.yaml", c)):
            (root / name).write_text(_dump(tree))
        try:
            load(LoadOptions(files=(str(root / "a.yaml"),), project_name="fuzz", environ=ENV))
        except ConfigError as e:
            assert e.problems


def test_odd_names_and_text_are_config_errors(tmp_path: Path) -> None:
    cases: list[dict[str, Any]] = [
        {"files": (str(tmp_path / "a\0b"),)},
        {"files": ("-",), "stdin": "services:\n  a:\n    extends: {file: \"a\\0b\", "
                                   "service: x}\n"},
        {"files": ("-",), "stdin": "include: [\"a\\0b\"]\nservices: {}\n"},
        {"files": ("-",), "stdin": "\udcff"},
        {"files": ("-",), "env_files": (str(tmp_path / "x\0"),), "stdin": "services: {}\n"},
        {"files": (str(tmp_path),)},
        {"files": ("-",), "project_directory": str(tmp_path / "nope"), "stdin": "a: 1\n"},
    ]
    for kw in cases:
        try:
            load(LoadOptions(project_name="fuzz", environ=ENV, **kw))
        except ConfigError as e:
            assert e.problems
        else:
            raise AssertionError(f"no error for {kw}")
