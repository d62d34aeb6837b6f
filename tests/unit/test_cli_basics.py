"""The CLI shell: help is fast and light, version works, errors become exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from pystack.orchestrator.cli.main import cli

HEAVY = ("yaml", "jsonschema", "networkx", "pyroute2", "structlog", "rich", "dotenv",
         "dnslib", "backports.zstd")


def test_help_lists_commands() -> None:
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0
    assert "version" in r.output


def test_version_json() -> None:
    r = CliRunner().invoke(cli, ["version", "--format", "json"])
    assert r.exit_code == 0
    assert json.loads(r.output)["version"]


def _imported_modules(args: list[str], env_extra: dict[str, str] | None = None) -> set[str]:
    code = (
        "import sys, json\n"
        "from pystack.orchestrator.cli.main import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "json.dump(sorted(sys.modules), sys.stderr)\n"
    )
    import os

    env = dict(os.environ, **(env_extra or {}))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return set(json.loads(r.stderr.strip().splitlines()[-1]))


def test_help_imports_nothing_heavy() -> None:
    mods = _imported_modules(["--help"])
    assert "click" in mods
    assert not [m for m in mods if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}
                and m != "backports"]


def test_completion_imports_nothing_heavy() -> None:
    mods = _imported_modules([], {"_PYSTACK_COMPLETE": "bash_complete", "COMP_WORDS": "pystack co",
                                  "COMP_CWORD": "1"})
    assert not [m for m in mods if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}]
