"""The one exit-code table (cli/exit_codes.py): every package's errors get their code there,
the README documents exactly those codes, and runtime/net errors never exit 3 (the code for
an invalid stack file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pystack.net.errors import (
    NetConfigError,
    NetError,
    NetworkConflictError,
    NetworkNotFoundError,
    SandboxNotFoundError,
)
from pystack.net.state import Knobs
from pystack.orchestrator.cli.exit_codes import KNOWN, exit_code, table
from pystack.orchestrator.config import discovery
from pystack.orchestrator.errors import (
    ConfigError,
    LockTimeoutError,
    NoConfigFileError,
    NotFoundError,
    OrchestratorError,
    PystackError,
)
from pystack.runtime.errors import (
    CgroupError,
    ContainerNotFoundError,
    ContainerRuntimeError,
    ImageError,
    ImageNotFoundError,
)
from tests.unit.engine.fakes import Env
from tests.unit.engine.test_cli_stack import cli_env, invoke

__all__ = ["cli_env"]
README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.parametrize(("exc", "code"), [
    (OrchestratorError("x"), 1), (ConfigError(["a:1:1: x"]), 3), (NoConfigFileError(["x"]), 3),
    (NotFoundError("x"), 4), (LockTimeoutError("x"), 5),
    (ContainerRuntimeError("x"), 1), (ImageError("x"), 1), (CgroupError("x"), 1),
    (ImageNotFoundError("x"), 4), (ContainerNotFoundError("x"), 4),
    (NetError("x"), 1), (NetConfigError("x"), 1), (NetworkConflictError("x"), 1),
    (NetworkNotFoundError("x"), 4), (SandboxNotFoundError("x"), 4),
])
def test_every_tree_maps_through_the_one_table(exc: Exception, code: int) -> None:
    assert isinstance(exc, KNOWN)
    assert exit_code(exc) == code


def test_no_error_class_carries_its_own_exit_code() -> None:
    for root in (PystackError, ContainerRuntimeError, NetError):
        assert not hasattr(root, "exit_code")


def test_readme_lists_exactly_the_codes_of_the_table() -> None:
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d) \|", section, re.M)}
    assert documented == {0, 1, 2} | {code for _, code in table()}


def test_bad_ifprefix_is_an_operation_failure_not_an_invalid_stack_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_IFPREFIX", "Bad-Prefix")
    with pytest.raises(NetConfigError, match="PYSTACK_IFPREFIX 'Bad-Prefix' must be") as e:
        Knobs.from_env()
    assert exit_code(e.value) == 1


def test_no_stack_file_is_its_own_type(tmp_path: Path) -> None:
    with pytest.raises(discovery.NoConfigFile, match=r"^no configuration file provided"):
        discovery.config_files((), {}, tmp_path, None)


def test_network_claimed_by_another_project_exits_1(cli_env: Env,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def taken(spec: object) -> object:
        raise NetworkConflictError("network clitest_default exists and belongs to project other",
                                   hint="declare it `external: true` to share it")

    monkeypatch.setattr(cli_env.network, "ensure_network", taken)
    code, out = invoke("up", "-d", "-f", "stack.yml")
    assert code == 1, out
    assert "network clitest_default exists and belongs to project other" in out
    assert cli_env.runtime.list_containers() == []


def test_down_with_a_project_name_and_no_file_acts_on_the_recorded_state(cli_env: Env) -> None:
    (Path.cwd() / "stack.yml").unlink()
    code, out = invoke("-p", "clitest", "down")
    assert code == 0, out
    assert "ignoring the stack file" not in out


@pytest.mark.parametrize("args", [("up", "-d"), ("run", "--rm", "-T", "web", "true")])
@pytest.mark.parametrize("policy", ["never", "missing"])
def test_a_missing_image_exits_4_and_creates_nothing(cli_env: Env, policy: str,
                                                     args: tuple[str, ...]) -> None:
    # the table says 4 for a named object that does not exist; `up` wrapped the image
    # store's ImageNotFoundError into a plain OrchestratorError and exited 1
    Path("missing.yml").write_text(
        f"name: clitest\nservices:\n  web:\n    image: local/nosuch:1\n"
        f"    pull_policy: {policy}\n")
    code, out = invoke("-f", "missing.yml", *args)
    assert code == 4, out
    assert "service web: image local/nosuch:1:" in out
    assert cli_env.runtime.list_containers() == []
    assert cli_env.network.list_networks() == []
