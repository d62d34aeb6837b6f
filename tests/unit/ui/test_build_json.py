"""`--progress json` of a build is BuildKit's rawjson: one SolveStatus per line."""

from __future__ import annotations

import base64
import io
import json

from pystack.orchestrator.cli.build_cmd import PlainProgress
from pystack.orchestrator.ui.buildjson import RawJson, rfc3339
from pystack.runtime.build.request import Event


def test_solve_status_lines() -> None:
    now = [1767225600.25]
    raw = RawJson(clock=lambda: now[0])
    start = raw(Event("start", 2, "[app 1/2] RUN make"))
    now[0] += 1
    log = raw(Event("output", 2, "", "compiling"))
    info = raw(Event("info", 2, "", "writing layer"))
    done = raw(Event("done", 2, "", seconds=1.0))
    err = raw(Event("error", 3, "[app 2/2] RUN test", "exit code 1"))
    cached = raw(Event("cached", 1, "[app 0/2] FROM local/busybox"))
    (v,) = start["vertexes"]
    assert v["name"] == "[app 1/2] RUN make" and v["started"] == "2026-01-01T00:00:00.250000000Z"
    assert v["digest"].startswith("sha256:") and len(v["digest"]) == 71
    assert set(v) == {"digest", "name", "started"}
    (entry,) = log["logs"]
    assert entry["vertex"] == v["digest"] and entry["stream"] == 1
    assert base64.b64decode(entry["data"]) == b"compiling\n"
    assert info["statuses"][0]["id"] == "writing layer"
    (d,) = done["vertexes"]
    assert (d["digest"], d["started"], d["completed"]) == (
        v["digest"], v["started"], "2026-01-01T00:00:01.250000000Z")
    assert err["vertexes"][0]["error"] == "exit code 1"
    assert err["vertexes"][0]["digest"] != v["digest"]
    assert cached["vertexes"][0]["cached"] is True


def test_rfc3339() -> None:
    assert rfc3339(0.999999999999) == "1970-01-01T00:00:00.999999999Z"


def test_build_progress_in_json_mode_writes_one_object_per_line() -> None:
    out = io.StringIO()
    p = PlainProgress("json", out)
    p(Event("start", 1, "[app 1/1] RUN true"))
    p(Event("done", 1, "", seconds=0.1))
    lines = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert [list(x) for x in lines] == [["vertexes"], ["vertexes"]]
    assert "completed" in lines[1]["vertexes"][0]
