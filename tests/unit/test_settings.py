"""The PYSTACK_* settings: one object per package, one rule for empty values.  `PYSTACK_ROOT=`
(set but empty, or blank) means the default everywhere: before, the orchestrator's state went
to /var/lib/pystack while containers, images and net records went to the current directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystack.net.state import Knobs
from pystack.orchestrator.cli.exit_codes import exit_code
from pystack.orchestrator.engine import state as engine_state
from pystack.orchestrator.errors import OrchestratorError
from pystack.orchestrator.settings import Settings
from pystack.runtime import state as runtime_state
from pystack.runtime.cgroups import default_parent
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.image import distribution, registry, unpack
from pystack.runtime.image.store import default_root
from pystack.runtime.settings import RuntimeSettings

VARS = ("PYSTACK_ROOT", "PYSTACK_RUN", "PYSTACK_CGROUP_PARENT", "PYSTACK_IFPREFIX",
        "PYSTACK_NFT_TABLE", "PYSTACK_LOCK_TIMEOUT", "PYSTACK_MAX_LAYER_BYTES",
        "PYSTACK_REGISTRY_TIMEOUT", "PYSTACK_INSECURE_REGISTRIES", "PYSTACK_PULL_WORKERS")


def where_everything_goes() -> dict[str, object]:
    return {
        "engine state": engine_state.root_dir(), "engine run": engine_state.run_dir(),
        "containers": runtime_state.root_dir(), "shim sockets": runtime_state.run_dir(),
        "images": default_root().parent,
        "net records": Knobs.from_env().root, "net run": Knobs.from_env().run,
        "cgroup parent": default_parent(), "ifprefix": Knobs.from_env().ifprefix,
        "nft table": Knobs.from_env().nft_table,
        "lock timeout": Settings.from_env().lock_timeout,
        "layer cap": unpack.max_layer_bytes(), "registry timeout": registry.timeout(),
        "pull workers": distribution.workers(), "insecure": registry.is_insecure("r.example:5000"),
    }


@pytest.mark.parametrize("empty", ["", "  "])
def test_empty_means_unset_in_every_package(empty: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for v in VARS:
        monkeypatch.delenv(v, raising=False)
    unset = where_everything_goes()
    for v in VARS:
        monkeypatch.setenv(v, empty)
    assert where_everything_goes() == unset
    root, run = Path("/var/lib/pystack"), Path("/run/pystack")
    assert {unset["engine state"], unset["containers"], unset["images"],
            unset["net records"]} == {root}
    assert {unset["engine run"], unset["shim sockets"], unset["net run"]} == {run}


def test_set_values_reach_every_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_ROOT", str(tmp_path / "r"))
    monkeypatch.setenv("PYSTACK_RUN", str(tmp_path / "u"))
    monkeypatch.setenv("PYSTACK_PULL_WORKERS", "7")
    monkeypatch.setenv("PYSTACK_INSECURE_REGISTRIES", " r.example:5000 , other ")
    got = where_everything_goes()
    assert got["engine state"] == got["containers"] == got["images"] == got["net records"] \
        == tmp_path / "r"
    assert got["engine run"] == got["shim sockets"] == got["net run"] == tmp_path / "u"
    assert got["pull workers"] == 7 and got["insecure"] is True


@pytest.mark.parametrize(("var", "value", "what"), [
    ("PYSTACK_PULL_WORKERS", "many", "a whole number"),
    ("PYSTACK_MAX_LAYER_BYTES", "1.5g", "a number of bytes"),
    ("PYSTACK_REGISTRY_TIMEOUT", "soon", "a number of seconds"),
])
def test_a_bad_runtime_value_names_the_variable(var: str, value: str, what: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ContainerRuntimeError) as e:
        RuntimeSettings.from_env()
    assert e.value.message == f"{var}={value!r} is not {what}"
    assert exit_code(e.value) == 1


def test_a_bad_lock_timeout_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_LOCK_TIMEOUT", "forever")
    with pytest.raises(OrchestratorError) as e:
        Settings.from_env()
    assert e.value.message == "PYSTACK_LOCK_TIMEOUT='forever' is not a number of seconds"
