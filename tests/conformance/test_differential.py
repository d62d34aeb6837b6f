"""Differential test, live only (skipped without the reference binary): random valid-ish
stacks (the typed strategy of the unit fuzz) through both Compose v2 `config` and pystack;
both must accept or both reject, and accepted ones must print the same after normalisation.
Kept small here (CI time); run it with more examples by hand when changing normalisation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from pystack.orchestrator.cli.main import GlobalOptions
from pystack.orchestrator.config.output import render
from pystack.orchestrator.config.project import load_project
from pystack.orchestrator.errors import ConfigError
from tests.conformance.corpus import REF_HINT, diff, reference_binary
from tests.conformance.normalise import normalise
from tests.unit.config_model.test_fuzz import TYPED_PROJECT

REF = reference_binary()

# Checks where pystack is stricter than Compose on purpose (issue 2 asks for bad durations,
# byte sizes, port ranges and cpus to be errors); each has a "strict_" case in cases/.
STRICTER = ("must not be negative", "must be a positive number",
            "the end is before the start", "use SOURCE:TARGET[:ro] or TARGET",
            "mode '", "joining a container outside the project")


@pytest.mark.skipif(REF is None, reason=f"the reference is not installed: {REF_HINT}")
@settings(max_examples=25, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=TYPED_PROJECT)
def test_same_as_compose_on_random_stacks(data: dict[str, Any], tmp_path: Path) -> None:
    assert REF is not None
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(data))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root"}
    ref = subprocess.run([REF, "-p", "demo", "--project-directory", str(tmp_path), "config",
                          "--format", "json"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    try:
        project = load_project(GlobalOptions(files=(str(tmp_path / "compose.yaml"),),
                                             project_name="demo",
                                             project_directory=str(tmp_path), environ=env))
    except ConfigError as e:
        deliberate = all(any(s in p for s in STRICTER) for p in e.problems)
        assert ref.returncode != 0 or deliberate, \
            f"pystack rejects what Compose accepts: {e.problems}"
        return
    assert ref.returncode == 0, f"pystack accepts what Compose rejects: {ref.stderr}"
    mine = normalise(json.loads(render(project, "json")), str(tmp_path))
    theirs = normalise(json.loads(ref.stdout), str(tmp_path))
    problems = diff(theirs, mine)
    assert not problems, "\n".join(problems)
