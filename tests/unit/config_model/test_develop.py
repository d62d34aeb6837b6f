"""`develop.watch`: checked at load (FILE:LINE:COL), canonical form, model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pystack.orchestrator.config import model as m
from tests.unit.config_model.conftest import Loader

RULES = """\
services:
  web:
    image: x
    build: .
    develop:
      watch:
        - path: ./src
          action: sync+exec
          target: /app
          ignore: node_modules/
          include: ["*.py"]
          initial_sync: true
          exec:
            command: sh -c "echo hi > /tmp/x"
            user: nobody
            privileged: "true"
            working_dir: /app
            environment: [A=1, FROM_HOST]
        - path: .
          action: rebuild
        - path: ./conf
          action: restart
"""


def test_model_and_canonical_form(load: Loader, tmp_path: Path) -> None:
    p = load(RULES, environ={"FROM_HOST": "h"})
    sync, rebuild, restart = p.services["web"].watch
    assert sync == m.WatchRule(
        path=str(tmp_path / "src"), action="sync+exec", target="/app",
        ignore=("node_modules/",), include=("*.py",), initial_sync=True,
        exec=m.WatchExec(command=("sh", "-c", "echo hi > /tmp/x"), user="nobody",
                         privileged=True, working_dir="/app",
                         environment={"A": "1", "FROM_HOST": "h"}))
    assert rebuild == m.WatchRule(path=str(tmp_path), action="rebuild")
    assert restart.action == "restart" and restart.target is None
    canonical = p.data["services"]["web"]["develop"]["watch"][0]
    assert canonical["ignore"] == ["node_modules/"]
    assert canonical["exec"]["command"] == ["sh", "-c", "echo hi > /tmp/x"]
    assert not [w for w in p.warnings if "develop" in w]


def test_bare_environment_key_unset_is_dropped(load: Loader) -> None:
    p = load("services:\n  web:\n    image: x\n    develop:\n      watch:\n"
             "        - {path: ., action: sync+exec, target: /a, exec: {command: [\"true\"],"
             " environment: [NOPE]}}\n")
    hook = p.services["web"].watch[0].exec
    assert hook is not None and hook.environment == {}


def test_problems_point_at_the_line(problems: Callable[..., list[str]]) -> None:
    got = problems("""\
services:
  web:
    image: x
    develop:
      watch:
        - path: ./a
          action: sync
        - path: ./a
          action: sync+restart
          target: app
        - path: ./a
          action: rebuild
        - path: ./a
          action: sync+exec
          target: /app
        - path: ./a
          action: sync
          target: /app
          include: "[oops"
        - path: ./a
          action: sync+exec
          target: /app
          exec: {command: "echo 'open", privileged: maybe}
        - path: ./a
          action: bogus
""")
    assert got == [
        "compose.yaml:6:11: services.web.develop.watch[0]: action sync needs a target "
        "(the directory in the container the files are copied to, like /app)",
        "compose.yaml:10:19: services.web.develop.watch[1].target: target 'app' is not an "
        "absolute path (write it from the container's root, like /app)",
        "compose.yaml:12:19: services.web.develop.watch[2].action: action rebuild needs a "
        "build section in the service (add build: with the image's context, or use restart "
        "or sync)",
        "compose.yaml:13:11: services.web.develop.watch[3]: action sync+exec needs "
        "exec.command (the command run in the container after each sync, like [nginx, -s, "
        "reload])",
        "compose.yaml:19:20: services.web.develop.watch[4].include: invalid pattern '[oops': "
        "unterminated character set at position 1",
        "compose.yaml:23:27: services.web.develop.watch[5].exec.command: invalid command "
        "line string 'echo 'open' (unbalanced quotes or brackets) (or write it as a list)",
        "compose.yaml:23:53: services.web.develop.watch[5].exec.privileged: invalid boolean "
        "'maybe' (use true or false)",
        "compose.yaml:25:19: services.web.develop.watch[6].action: 'bogus' is not allowed "
        "(use one of: rebuild, sync, restart, sync+restart, sync+exec)",
    ]


def test_restart_needs_no_target_and_empty_watch_is_fine(load: Loader) -> None:
    p = load("services:\n  web:\n    image: x\n    develop:\n      watch:\n"
             "        - {path: ., action: restart}\n")
    assert p.services["web"].watch[0].target is None
    assert load("services:\n  web:\n    image: x\n    develop: {}\n").services["web"].watch == ()
