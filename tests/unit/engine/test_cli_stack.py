"""The project commands end to end over the fakes: real config loading, fake backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pystack.orchestrator.cli import stack_cmd
from pystack.orchestrator.cli.main import cli
from pystack.orchestrator.engine.backends import Backends
from pystack.runtime.fake import FakeBehaviour
from tests.unit.engine.fakes import Env

STACK = """
name: clitest
services:
  db:
    image: local/busybox:latest
    command: ["sh", "-c", "sleep 1000"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  web:
    image: local/busybox:latest
    depends_on:
      db:
        condition: service_healthy
    ports: ["127.0.0.1:18080:8080"]
    environment:
      A: "1"
  worker:
    image: local/busybox:latest
    depends_on: [web]
    volumes:
      - data:/data
      - ./here:/here
volumes:
  data: {}
"""


@pytest.fixture
def cli_env(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    (tmp_path / "stack.yml").write_text(STACK)
    env.name = "clitest"
    env.network.project = "clitest"
    env.runtime.behaviour["clitest-db-1"] = FakeBehaviour(health="healthy",
                                                           logs=("db ready",))
    monkeypatch.setattr(stack_cmd, "BACKENDS",
                        lambda name: Backends(env.runtime, env.network, env.images, env.state))
    monkeypatch.chdir(tmp_path)
    yield env


def invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["--progress", "plain", *args], catch_exceptions=False)
    return r.exit_code, r.output


def test_up_ps_port_logs_down(cli_env: Env, tmp_path: Path) -> None:
    code, out = invoke("up", "-d", "-f", "stack.yml")
    assert code == 0, out
    assert " Container clitest-web-1  Started" in out
    assert " Network clitest_default  Created" in out
    assert (tmp_path / "here").is_dir()                    # bind source created
    vol = tmp_path / "root" / "volumes" / "clitest_data" / "_data"
    assert vol.is_dir()
    code, out = invoke("ps", "-f", "stack.yml")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS",
                                "PORTS"]
    assert any(ln.startswith("clitest-web-1") and "127.0.0.1:18080->8080/tcp" in ln
               for ln in lines)
    code, out = invoke("ps", "--format", "json", "-f", "stack.yml")
    assert {json.loads(ln)["Service"] for ln in out.splitlines()} == {"db", "web", "worker"}
    code, out = invoke("ps", "--format", "table {{.Service}}\t{{.State}}", "-f", "stack.yml")
    # aligned as docker's formatter aligns a table template (tabwriter: minwidth 10, padding 3)
    assert out.splitlines()[0] == "SERVICE   STATE" and "web       running" in out.splitlines()
    code, out = invoke("ps", "--format", "{{.Nope}}", "-f", "stack.yml")
    assert code != 0
    code, out = invoke("port", "-f", "stack.yml", "web", "8080")
    assert out.strip() == "127.0.0.1:18080"
    code, out = invoke("--no-color", "-f", "stack.yml", "logs", "db")
    assert out == "db-1  | db ready\n"
    code, out = invoke("up", "-d", "-f", "stack.yml")
    assert "Running" in out and "Started" not in out        # nothing touched
    code, out = invoke("down", "-v", "-f", "stack.yml")
    assert code == 0, out
    assert "Container clitest-db-1  Removed" in out
    assert cli_env.runtime.list_containers() == []
    assert not vol.exists()


def test_down_by_project_name_without_file(cli_env: Env, tmp_path: Path) -> None:
    assert invoke("up", "-d", "-f", "stack.yml")[0] == 0
    (tmp_path / "stack.yml").unlink()
    code, out = invoke("-p", "clitest", "down")
    assert code == 0, out
    assert cli_env.runtime.list_containers() == []


def test_failed_health_reports_and_exits_1(cli_env: Env) -> None:
    cli_env.runtime.behaviour["clitest-db-1"] = FakeBehaviour(health="unhealthy",
                                                               logs=("db broke",))
    code, out = invoke("up", "-d", "-f", "stack.yml")
    assert code == 1
    assert "dependency failed to start: container clitest-db-1 is unhealthy" in out
    assert "db broke" in out
    assert "Container clitest-web-1  Created" in out
    assert "clitest-web-1  Started" not in out and "Skipped" not in out
    assert " Container clitest-db-1  Error (is unhealthy)" in out


def test_unknown_service_is_a_clear_error(cli_env: Env) -> None:
    code, out = invoke("up", "-d", "-f", "stack.yml", "nosuch")
    assert code != 0
    assert "Traceback" not in out
    assert cli_env.runtime.list_containers() == []


def test_json_progress(cli_env: Env) -> None:
    r = CliRunner().invoke(cli, ["--progress", "json", "up", "-d", "-f", "stack.yml"])
    events = [json.loads(ln) for ln in r.output.splitlines() if ln.startswith("{")]
    # Compose's jsonMessage: id and status (no empty field).
    assert {"id": "Container clitest-db-1", "status": "Started"} in events
    assert {"id": "Network clitest_default", "status": "Created"} in events


def test_attached_up_exit_code_from(cli_env: Env) -> None:
    cli_env.runtime.behaviour["clitest-worker-1"] = FakeBehaviour(exit_code=7,
                                                                   logs=("working", "done"))
    code, out = invoke("--no-color", "up", "-f", "stack.yml", "--exit-code-from", "worker")
    assert code == 7, out
    assert "worker-1  | working\n" in out and "worker-1  | done\n" in out
    assert "worker-1 exited with code 7" in out
    assert "Aborting on container exit" in out
    assert {c.status for c in cli_env.runtime.list_containers()} == {"exited"}


def test_run_oneoff_and_down_removes_it(cli_env: Env) -> None:
    assert invoke("up", "-d", "-f", "stack.yml")[0] == 0
    code, out = invoke("-f", "stack.yml", "run", "-d", "--no-deps", "worker", "echo", "x")
    assert code == 0, out
    name = out.strip().splitlines()[-1]
    assert name.startswith("clitest-worker-run-")
    c = next(c for c in cli_env.runtime.list_containers() if c.name == name)
    assert c.labels["com.docker.compose.oneoff"] == "True"
    assert cli_env.runtime.spec(c.id).command == ("echo", "x")
    assert invoke("down", "-f", "stack.yml")[0] == 0
    assert cli_env.runtime.list_containers() == []


def test_stats_and_top_include_one_offs_as_compose(cli_env: Env) -> None:
    """Compose's stats filters by the project label only, and top asks for oneOffInclude:
    a `run -d` container is listed by both."""
    assert invoke("up", "-d", "-f", "stack.yml")[0] == 0
    name = invoke("-f", "stack.yml", "run", "-d", "--no-deps", "worker", "sleep", "9")[1]
    name = name.strip().splitlines()[-1]
    code, out = invoke("-f", "stack.yml", "stats", "--no-stream", "--format", "{{.Name}}")
    assert code == 0 and name in out.split() and "clitest-web-1" in out.split(), out
    code, out = invoke("-f", "stack.yml", "top", "worker")
    assert code == 0 and name in out.splitlines(), out
    assert invoke("down", "-f", "stack.yml")[0] == 0


def test_ls_lists_projects(cli_env: Env) -> None:
    assert invoke("up", "-d", "-f", "stack.yml")[0] == 0
    code, out = invoke("ls", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["Name"] == "clitest" and rows[0]["Status"] == "running(3)"
    assert rows[0]["ConfigFiles"].endswith("stack.yml")


def test_flags_after_logs_rm_run_mean_what_compose_means(cli_env: Env) -> None:
    """-f after logs/rm is --follow/--force and -p after run is --publish (as in Compose):
    a file or a project name there is a clear usage error, and nothing is created."""
    code, out = invoke("logs", "-f", "stack.yml")
    assert code == 2 and "-f means --follow" in out and "pystack -f stack.yml logs" in out
    code, out = invoke("rm", "-f", "stack.yml")
    assert code == 2 and "-f means --force" in out
    code, out = invoke("-f", "stack.yml", "run", "-p", "myproj", "web", "true")
    assert code == 1 and "-p after `run` means --publish" in out, out
    assert cli_env.runtime.list_containers() == []      # the dependencies were not started


def test_rm_asks_unless_forced(cli_env: Env) -> None:
    invoke("up", "-d", "-f", "stack.yml")
    invoke("-f", "stack.yml", "stop", "worker")

    def rm(*args: str, answer: str = "") -> tuple[int, str]:
        r = CliRunner().invoke(cli, ["--progress", "plain", "-f", "stack.yml", "rm", *args,
                                     "worker"], input=answer, catch_exceptions=False)
        return r.exit_code, r.output

    code, out = rm()                                   # no answer is no
    assert code == 0 and "Going to remove clitest-worker-1 [y/N]" in out
    code, out = rm(answer="n\n")
    assert "Removed" not in out
    assert "clitest-worker-1" in invoke("ps", "-a", "-f", "stack.yml")[1]
    code, out = rm(answer="y\n")
    assert "Removed" in out
    assert "clitest-worker-1" not in invoke("ps", "-a", "-f", "stack.yml")[1]
    invoke("up", "-d", "-f", "stack.yml")
    invoke("-f", "stack.yml", "stop", "worker")
    code, out = rm("-f")                # Compose: -f says what goes, and does not ask
    assert "Going to remove clitest-worker-1\n" in out and "[y/N]" not in out
    assert "Removed" in out


def test_rm_without_services_removes_only_stopped_ones(cli_env: Env) -> None:
    """Compose's pkg/compose/remove.go: running containers are left alone (no error), and
    when nothing is stopped, "No stopped containers" with exit 0."""
    invoke("up", "-d", "-f", "stack.yml")
    code, out = invoke("-f", "stack.yml", "rm", "-f")
    assert (code, out) == (0, "No stopped containers\n"), out
    invoke("-f", "stack.yml", "stop", "worker")
    code, out = invoke("-f", "stack.yml", "rm", "--force")
    assert code == 0 and out.startswith("Going to remove clitest-worker-1\n"), out
    names = invoke("ps", "-a", "--format", "{{.Name}}", "-f", "stack.yml")[1].split()
    assert names == ["clitest-db-1", "clitest-web-1"]        # the running ones stay
    code, out = invoke("-f", "stack.yml", "rm", "-f", "nosuch")
    assert code == 4 and "no such service: nosuch" in out


def test_usage_mistakes_pystack_finds_read_as_clicks(cli_env: Env) -> None:
    """One form and one exit code for every usage mistake: `Error: ...` after the usage
    line, exit 2, whether click or pystack finds it."""
    invoke("up", "-d", "-f", "stack.yml")
    code, out = invoke("ps", "--format", "{{.Nope}}", "-f", "stack.yml")
    assert code == 2 and "Usage: cli ps" in out           # (click's test runner's name)
    assert "Error: --format: {{.Nope}} is not a field (fields: " in out
    code, out = invoke("ps", "--bogus", "-f", "stack.yml")
    assert code == 2 and "Error: No such option '--bogus'" in out
    code, out = invoke("-f", "stack.yml", "logs", "--since", "yesterday")
    assert code == 2 and "Error: invalid time 'yesterday'" in out


def test_empty_operations_say_what_compose_says(cli_env: Env) -> None:
    code, out = invoke("down", "-f", "stack.yml")
    assert code == 0, out
    assert out == 'WARN[0000] Warning: No resource found to remove for project "clitest".\n'
    code, out = invoke("-p", "ghost", "down")
    assert code == 0 and 'No resource found to remove for project "ghost"' in out
    r = CliRunner().invoke(cli, ["--progress", "json", "-p", "ghost", "down"])
    msg = json.loads(r.output)
    assert msg["level"] == "warning" and "No resource found" in msg["msg"]
    code, out = invoke("kill", "-f", "stack.yml")
    assert (code, out) == (0, "no container to kill\n")
    code, out = invoke("stop", "-f", "stack.yml")          # Compose: nothing, exit 0
    assert (code, out) == (0, "")
    assert invoke("up", "-d", "-f", "stack.yml")[0] == 0
    code, out = invoke("down", "-f", "stack.yml")
    assert "No resource found" not in out and "Container clitest-db-1  Removed" in out
