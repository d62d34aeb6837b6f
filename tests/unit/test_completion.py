"""Shell completion in a real bash: the script `pystack completion bash` prints is sourced, its
function is run with COMP_WORDS/COMP_CWORD set as bash sets them, and COMPREPLY must hold the
commands, options, Choice values, the services of the project in the directory (-f and
--project-directory honoured, `include:` followed) and the project names of pystack's state.
`pystack --help` must not load the completion code."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pystack.orchestrator.engine.state import ProjectState, StateStore

PYSTACK = str(Path(sys.executable).parent / "pystack")


@pytest.fixture
def here(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    StateStore(root).save(ProjectState(name="alpha", networks=("alpha_default",)))
    StateStore(root).save(ProjectState(name="beta", networks=("beta_default",)))
    StateStore(root).save(ProjectState(name="onlyvols", volumes=("onlyvols_data",)))
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "compose.yaml").write_text(
        "include: [more.yaml]\nservices:\n  web: {image: x}\n  db: {image: x}\n")
    (proj / "more.yaml").write_text("services:\n  cache: {image: x}\n")
    (proj / "other.yml").write_text("services:\n  api: {image: x}\n  worker: {image: x}\n")
    return proj


def bash_complete(words: list[str], cwd: Path) -> list[str]:
    script = subprocess.run([PYSTACK, "completion", "bash"], capture_output=True, text=True,
                            check=True).stdout
    line = " ".join(shlex.quote(w) for w in [PYSTACK, *words])
    prog = (f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words)}\n"
            '_pystack_completion\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    env = dict(os.environ, PYSTACK_ROOT=str(cwd.parent / "root"))
    env.pop("COMPOSE_FILE", None)
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return [w for w in r.stdout.split("\n") if w]


def test_commands_and_options(here: Path) -> None:
    assert bash_complete(["st"], here) == ["start", "stats", "stop"]
    assert "__complete" not in bash_complete([""], here)
    opts = bash_complete(["stats", "--no"], here)
    assert opts == ["--no-stream", "--no-trunc"]
    assert "--project-directory" in bash_complete(["--pro"], here)        # global ones
    assert bash_complete(["completion", ""], here) == ["bash", "zsh", "fish"]
    assert "json" in bash_complete(["--progress", ""], here)               # a Choice's values
    assert bash_complete(["image", "l"], here) == ["load", "ls"]           # a sub-group's


def test_service_names_of_the_project_here(here: Path) -> None:
    assert bash_complete(["exec", ""], here) == ["cache", "db", "web"]     # include: followed
    assert bash_complete(["logs", "web", ""], here) == ["cache", "db"]     # not twice
    assert bash_complete(["exec", "web", ""], here) == []                 # the command: none
    assert bash_complete(["-f", "other.yml", "stop", "w"], here) == ["worker"]
    assert bash_complete(["up", "-f", "other.yml", ""], here) == ["api", "worker"]
    elsewhere = here.parent / "elsewhere"
    elsewhere.mkdir()
    assert bash_complete(["ps", ""], elsewhere) == []                     # no stack file
    assert bash_complete(["--project-directory", str(here), "ps", ""], elsewhere) == [
        "cache", "db", "web"]


def test_project_names_and_paths(here: Path) -> None:
    assert bash_complete(["-p", ""], here) == ["alpha", "beta"]       # not a volumes-only one
    assert bash_complete(["down", "-p", "a"], here) == ["alpha"]
    files = bash_complete(["-f", "oth"], here)                        # bash completes paths
    assert files == ["other.yml"]


def test_a_broken_stack_file_completes_nothing_and_says_nothing(here: Path) -> None:
    (here / "compose.yaml").write_text("services: [unclosed\n")
    assert bash_complete(["exec", ""], here) == []


def test_zsh_and_fish_scripts_parse(tmp_path: Path) -> None:
    for shell, check in (("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])):
        text = subprocess.run([PYSTACK, "completion", shell], capture_output=True, text=True,
                              check=True).stdout
        assert "__complete" in text
        if shutil.which(check[0]) is None:
            continue
        f = tmp_path / f"c.{shell}"
        f.write_text(text)
        assert subprocess.run([*check, str(f)], capture_output=True).returncode == 0


def test_help_does_not_load_completion() -> None:
    code = ("import sys; from pystack.orchestrator.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'pystack.orchestrator.cli.complete' not in sys.modules\n"
            "assert 'yaml' not in sys.modules and 'argcomplete' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_completing_commands_imports_nothing_heavy() -> None:
    """The hidden entry point is answered before click parses: commands and options need
    only click and the command modules (the stack file's YAML only for service names)."""
    code = ("import sys\nfrom pystack.orchestrator.cli.main import main\n"
            "try:\n    main(['__complete', '2', 'pystack', 'stats', '--no'])\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in\n"
            "         ('yaml', 'jsonschema', 'networkx', 'pyroute2', 'structlog', 'argcomplete')]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ":words\n--no-stream\n--no-trunc\n"
