"""Run pystack's pipeline on a conformance case in-process (load_project + render), with the
case's environment only (like the reference's `env -i`)."""

from __future__ import annotations

import json
import os
from typing import Any

from pystack.orchestrator.cli.main import GlobalOptions
from pystack.orchestrator.config.output import render
from pystack.orchestrator.config.project import load_project
from pystack.orchestrator.errors import ConfigError
from tests.conformance.corpus import Case
from tests.conformance.normalise import normalise


def run_pystack(case: Case) -> tuple[int, Any, str]:
    opts = GlobalOptions(
        files=tuple(str(case.dir / f) for f in case.files), project_name=case.project_name,
        project_directory=str(case.dir), env_files=tuple(str(case.dir / e)
                                                         for e in case.env_files),
        profiles=case.profiles, environ={"PATH": "/usr/bin:/bin", **case.env})
    cwd = os.getcwd()
    os.chdir(case.dir)
    try:
        project = load_project(opts, case.services, interpolate=not case.no_interpolate)
    except ConfigError as e:
        return 3, None, e.message
    finally:
        os.chdir(cwd)
    text = render(project, "json", interpolated=not case.no_interpolate)
    return 0, normalise(json.loads(text), str(case.dir)), ""
