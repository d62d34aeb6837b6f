"""`pystack config` and `pystack graph` through click."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pystack.orchestrator.cli.main import cli

STACK = """
name: shop
services:
  web:
    image: nginx
    depends_on: {db: {condition: service_healthy}}
    environment: {PRICE: "${PRICE:-5}$$"}
    volumes: [data:/data]
    gpus: all
  db:
    image: postgres
    profiles: [db]
  worker:
    build: .
volumes:
  data: {}
"""


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compose.yaml").write_text(STACK)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env={"PRICE": None})
    return r.exit_code, r.stdout, r.stderr


def test_config_json(stack: Path) -> None:
    code, out, err = run("config", "--profile", "db", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["name"] == "shop"
    assert doc["services"]["web"]["environment"] == {"PRICE": "5$$"}
    assert doc["services"]["web"]["depends_on"]["db"] == {
        "condition": "service_healthy", "required": True}
    assert "warning: not supported yet: services.web.gpus" in err


def test_config_yaml_and_output_file(stack: Path) -> None:
    code, _, _ = run("config", "--profile", "db", "-o", "out.yaml")
    assert code == 0
    assert (stack / "out.yaml").read_text().startswith("name: shop\nservices:\n")


def test_listings(stack: Path) -> None:
    assert run("--profile", "db", "config", "--services")[1] == "db\nweb\nworker\n"
    assert run("config", "--profile", "db", "--volumes")[1] == "data\n"
    assert run("config", "--profile", "db", "--networks")[1] == "default\n"
    assert run("config", "--profile", "db", "--profiles")[1] == "db\n"
    assert run("config", "--profile", "db", "--images")[1] == "postgres\nnginx\nshop-worker\n"
    code, out, _ = run("config", "--profile", "db", "--hash", "web")
    assert code == 0 and out.startswith("web ") and len(out.split()[1]) == 64
    assert run("config", "--profile", "db", "-q")[1] == ""


def test_no_interpolate(stack: Path) -> None:
    code, out, err = run("config", "--profile", "db", "--no-interpolate", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["services"]["web"]["environment"] == {"PRICE": "${PRICE:-5}$$"}


def test_invalid_file_exit_code_and_message(stack: Path) -> None:
    (stack / "compose.yaml").write_text("services:\n  web: {image: x, depends_on: [nope]}\n")
    code, out, err = run("config")
    assert code == 3
    assert out == ""
    assert err == ("error: compose.yaml:2:32: services.web.depends_on[0]: unknown service 'nope' "
                   "(define it under services)\n")


def test_disabled_dependency_is_an_error(stack: Path) -> None:
    code, _, err = run("config")
    assert code == 3
    assert "which is disabled by its profiles (db)" in err


def test_graph_formats(stack: Path) -> None:
    code, out, err = run("graph", "--profile", "db")
    assert code == 0, err
    assert '"web" -> "db" [label="service_healthy"];' in out
    code, out, _ = run("graph", "--profile", "db", "--format", "mermaid")
    assert out.startswith("graph LR\n")


def test_yaml_equals_json(stack: Path) -> None:
    import yaml

    _, as_yaml, _ = run("config", "--profile", "db")
    _, as_json, _ = run("config", "--profile", "db", "--format", "json")
    assert yaml.safe_load(as_yaml) == json.loads(as_json)
    assert "\n    depends_on:\n      db:\n" in as_yaml


def test_config_and_graph_help_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pystack.orchestrator.cli.main import main\n"
        "for cmd in ('config', 'graph'):\n"
        "    try:\n"
        "        main([cmd, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = {'yaml', 'jsonschema', 'networkx', 'dotenv', 'rich', 'structlog', 'pyroute2'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_output_to_missing_directory_is_a_clean_error(stack: Path) -> None:
    code, _, err = run("config", "--profile", "db", "-o", "no/such/dir/out.yaml")
    assert code != 0
    assert "Traceback" not in err and "No such file or directory" in err


def test_build_secrets_print_in_the_long_form(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # compose-go turns `build.secrets: [tok]` into `{source: tok}` (no target: BuildKit
    # mounts it at /run/secrets/<id>); the service-level form keeps its /run/secrets target.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s").write_text("x")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    build: {context: ., secrets: [tok, {source: tok, target: t2}]}\n"
        "    secrets: [tok]\nsecrets:\n  tok: {file: ./s}\n")
    code, out, _ = run("config", "--format", "json")
    assert code == 0, out
    web = json.loads(out)["services"]["web"]
    assert web["build"]["secrets"] == [{"source": "tok"}, {"source": "tok", "target": "t2"}]
    assert web["secrets"] == [{"source": "tok", "target": "/run/secrets/tok"}]
