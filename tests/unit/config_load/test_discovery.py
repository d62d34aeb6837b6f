"""discovery.py + loader.py: which files are read, the project directory, .env and
--env-file precedence, COMPOSE_* variables and the project name (Compose v2's rules, checked
against Docker Compose v2.40.3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pystack.orchestrator.config.discovery import normalize_project_name

from .conftest import load_ok, problems, write

SIMPLE = "services:\n  web:\n    image: \"${IMG:-a}\"\n"


def test_parent_directories_are_searched(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(proj, {"compose.yaml": SIMPLE, "compose.override.yaml":
                 "services:\n  web:\n    command: [x]\n", "a/b/.keep": ""})
    monkeypatch.chdir(proj / "a" / "b")
    raw = load_ok()
    assert raw.files == (str(proj / "compose.yaml"), str(proj / "compose.override.yaml"))
    assert raw.working_dir == proj
    assert raw.name == "proj"
    assert raw.data["services"]["web"] == {"image": "a", "command": ["x"]}


def test_first_candidate_wins_with_a_warning(proj: Path) -> None:
    write(proj, {"compose.yaml": SIMPLE, "docker-compose.yml": "services: {}\n",
                 "docker-compose.override.yml": "services:\n  web:\n    image: over\n"})
    raw = load_ok()
    assert raw.files == (str(proj / "compose.yaml"), str(proj / "docker-compose.override.yml"))
    assert raw.data["services"]["web"]["image"] == "over"
    assert raw.warnings == [
        f"found multiple config files with supported names: {proj}/compose.yaml, "
        f"{proj}/docker-compose.yml; using {proj}/compose.yaml"]


def test_no_file_found(proj: Path) -> None:
    [msg] = problems()
    assert msg.startswith("no configuration file provided: not found (looked for "
                          "compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml")


def test_missing_file(proj: Path) -> None:
    assert problems("nope.yaml") == ["nope.yaml: no such file (check the path)"]


def test_compose_file_variable_and_separator(proj: Path) -> None:
    write(proj, {"one.yaml": SIMPLE, "two.yaml": "services:\n  web:\n    image: two\n"})
    raw = load_ok(env={"COMPOSE_FILE": "one.yaml:two.yaml"})
    assert raw.data["services"]["web"]["image"] == "two"
    raw = load_ok(env={"COMPOSE_FILE": "one.yaml;two.yaml", "COMPOSE_PATH_SEPARATOR": ";"})
    assert raw.files == (str(proj / "one.yaml"), str(proj / "two.yaml"))


def test_compose_variables_can_come_from_dotenv(proj: Path) -> None:
    write(proj, {"one.yaml": SIMPLE, ".env": "COMPOSE_FILE=one.yaml\n"
                 "COMPOSE_PROJECT_NAME=fromdotenv\nCOMPOSE_PROFILES=a, b\nIMG=img\n"})
    raw = load_ok()
    assert raw.files == (str(proj / "one.yaml"),)
    assert raw.name == "fromdotenv"
    assert raw.profiles == ("a", "b")
    assert raw.data["services"]["web"]["image"] == "img"


def test_stdin(proj: Path) -> None:
    raw = load_ok("-", stdin="services:\n  web:\n    image: [x\n".replace("[x", "x"))
    assert raw.files == ("-",)
    assert raw.working_dir == proj
    assert problems("-", stdin="services: [\n") == [
        "<stdin>:2:1: invalid YAML: did not find expected node content (while parsing a "
        "flow node)"]


def test_dotenv_is_read_from_the_project_directory(proj: Path) -> None:
    write(proj, {".env": "IMG=fromcwd\n", "sub/.env": "IMG=fromsub\n", "sub/compose.yaml":
                 SIMPLE, "pd/.env": "IMG=frompd\n"})
    assert load_ok("sub/compose.yaml").data["services"]["web"]["image"] == "fromsub"
    raw = load_ok("sub/compose.yaml", project_directory="pd")
    assert raw.working_dir == proj / "pd"
    assert raw.data["services"]["web"]["image"] == "frompd"


def test_environment_precedence(proj: Path) -> None:
    write(proj, {"compose.yaml": SIMPLE, ".env": "IMG=dotenv\nA=1\n",
                 "e1.env": "IMG=e1\nB=${A:-unset}\nC='${IMG}'\n", "e2.env": "IMG=e2\nD=$IMG\n"})
    raw = load_ok()
    assert raw.environment == {"IMG": "dotenv", "A": "1"}
    assert load_ok(env={"IMG": "shell"}).data["services"]["web"]["image"] == "shell"
    raw = load_ok(env_files=("e1.env", "e2.env"))
    # --env-file replaces .env; later files win; values see earlier ones; '' stays literal
    assert raw.environment == {"IMG": "e2", "B": "unset", "C": "${IMG}", "D": "e2"}
    raw = load_ok(env={"IMG": "shell"}, env_files=("e2.env",))
    assert raw.environment["D"] == "shell"  # the shell wins inside env files too
    assert raw.data["services"]["web"]["image"] == "shell"


def test_bad_env_files(proj: Path) -> None:
    write(proj, {"compose.yaml": SIMPLE, "bad.env": "OK=1\nX=${\n"})
    assert problems(env_files=("missing.env",)) == [
        "missing.env: no such file (env file not found)"]
    assert problems(env_files=("bad.env",)) == [
        'bad.env:2:1: X: invalid interpolation format "${"']


@pytest.mark.parametrize(("given", "expected"), [
    ("My_App", "my_app"), ("_bad", "bad"), ("My Proj.X", "myprojx"), ("--x", "x"),
    ("héllo", "hllo"), ("__", ""),
])
def test_normalize_project_name(given: str, expected: str) -> None:
    assert normalize_project_name(given) == expected


def test_project_name_precedence(proj: Path) -> None:
    write(proj, {"compose.yaml": "name: My_App\n" + SIMPLE})
    assert load_ok().name == "my_app"
    assert load_ok(env={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load_ok(project_name="flag", env={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "flag"


def test_invalid_explicit_names(proj: Path) -> None:
    write(proj, {"compose.yaml": SIMPLE})
    assert problems(project_name="My") == [
        "invalid project name 'My': must consist only of lowercase alphanumeric characters, "
        "hyphens, and underscores as well as start with a letter or number"]
    assert problems(env={"COMPOSE_PROJECT_NAME": "Bad_Name"})[0].startswith(
        "invalid project name 'Bad_Name'")


def test_empty_directory_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "__"
    d.mkdir()
    (d / "compose.yaml").write_text(SIMPLE)
    monkeypatch.chdir(d)
    assert problems() == [
        "project name must not be empty (set one with -p or a top-level `name:`)"]


def test_compose_project_name_is_interpolated(proj: Path) -> None:
    write(proj, {"compose.yaml": "name: Named\nservices:\n  web:\n    image: "
                                 "\"${COMPOSE_PROJECT_NAME}-img\"\n"})
    assert load_ok().data["services"]["web"]["image"] == "named-img"
    assert load_ok(project_name="p").data["services"]["web"]["image"] == "p-img"


def test_profiles_flag_wins_over_variable(proj: Path) -> None:
    write(proj, {"compose.yaml": SIMPLE})
    assert load_ok(env={"COMPOSE_PROFILES": "a,b"}).profiles == ("a", "b")
    assert load_ok(profiles=("c",), env={"COMPOSE_PROFILES": "a"}).profiles == ("c",)


def test_nothing_is_written(proj: Path) -> None:
    write(proj, {"compose.yaml": SIMPLE})
    before = sorted(os.listdir(proj))
    load_ok()
    problems(project_name="BAD")
    assert sorted(os.listdir(proj)) == before
