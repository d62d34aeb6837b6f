"""`events` against real containers: the runtime journals each event where it happens (the
client: create, kill, stop, destroy; the shim: start, die, the restart policy's restarts,
pause, unpause, health_status, exec_*), and `events` streams this project's as Compose does
(text and --json), never another project's nor a one-off's."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

STACK = """
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    labels: {tier: front}
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  crash:
    image: local/busybox:latest
    command: ["sh", "-c", "exit 3"]
    restart: on-failure:2
"""
TEXT = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} container (.+?) ([0-9a-f]{64}) \((.*)\)"


class Events:
    """A `pystack events` running beside the test, read line by line."""

    def __init__(self, p: Project, *args: str) -> None:
        self.proc = subprocess.Popen(p.argv("events", *args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, NO_COLOR="1"))
        self.lines: list[str] = []

    def until(self, pred: Callable[[str], bool]) -> list[str]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, f"events ended; so far: {self.lines}"
            self.lines.append(line.rstrip("\n"))
            if pred(line):
                return self.lines

    def end(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        return err


def test_events_as_compose_streams_them(make_project: Callable[[str], Project]) -> None:
    p = make_project(STACK)
    other = make_project(STACK.split("  crash:")[0])
    text, js = Events(p), Events(p, "--json")
    try:
        other.run("up", "-d")
        p.run("up", "-d")
        # the crash container: start/die three times (two restarts by the policy), then stays
        text.until(lambda ln: "health_status: healthy" in ln)
        p.wait_for(lambda: [r["ExitCode"] for r in p.ps("crash")] == [3], 30)
        p.wait_for(lambda: [r["State"] for r in p.ps("crash")] == ["exited"], 30)
        p.run("exec", "-T", "web", "sh", "-c", "exit 5", check=False)
        p.run("pause", "web")
        p.run("unpause", "web")
        p.run("run", "--rm", "-T", "web", "true")              # a one-off: not shown
        p.run("down")
        # both containers' destroy (removed in parallel: in either order)
        lines = text.until(lambda ln: sum(" destroy " in x for x in text.lines) == 2)
        js.until(lambda ln: sum('"action":"destroy"' in x for x in js.lines) == 2)
    finally:
        err = text.end() + js.end()
    assert "Traceback" not in err, err
    parsed = []
    for ln in lines:
        m = re.fullmatch(TEXT, ln)
        assert m, ln
        attrs = dict(kv.split("=", 1) for kv in m.group(3).split(", "))
        parsed.append((attrs["name"], m.group(1), attrs))
    names = {n for n, _, _ in parsed}
    assert names <= {f"{p.name}-web-1", f"{p.name}-crash-1"}, names   # not `other`'s
    web = [a for n, a, _ in parsed if n == f"{p.name}-web-1"]
    crash = [a for n, a, _ in parsed if n == f"{p.name}-crash-1"]
    assert crash[:2] == ["create", "start"]
    assert crash.count("die") == 3 and crash.count("restart") == 2, crash
    assert crash.index("restart") > crash.index("die")
    assert web[:3] == ["create", "start", "health_status: healthy"], web
    execs = [a for a in web if a.startswith("exec_")]
    assert execs == ["exec_create: sh -c exit 5", "exec_start: sh -c exit 5", "exec_die"]
    after = web[web.index("exec_die"):]
    assert after[:3] == ["exec_die", "pause", "unpause"], web
    assert after[3:] == ["kill", "die", "stop", "destroy"], web
    attrs = {a: x for n, a, x in parsed if n == f"{p.name}-web-1"}
    assert attrs["create"]["image"] == "local/busybox:latest"
    assert attrs["create"]["tier"] == "front"                 # the container's own labels
    assert not any(k.startswith("com.docker.compose.") for k in attrs["create"])
    assert attrs["exec_die"]["exitCode"] == "5" and len(attrs["exec_die"]["execID"]) == 64
    assert attrs["kill"]["signal"] == "15" and attrs["die"]["exitCode"] == "0"
    assert {x["exitCode"] for n, a, x in parsed if n.endswith("crash-1") and a == "die"} == {
        "3"}
    objs = [json.loads(ln) for ln in js.lines]
    assert [(o["action"], o["attributes"]["name"]) for o in objs] == [
        (a, n) for n, a, _ in parsed]
    first = objs[0]
    assert list(first) == sorted(first) == ["action", "attributes", "id", "service", "time",
                                            "type"]
    assert first["type"] == "container" and first["service"] in ("web", "crash")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                        first["time"])
    # --since replays the journal; --until ends the stream by itself
    r = p.run("events", "--since", "10m", "--until", "0s", "--json", "crash")
    replay = [json.loads(ln)["action"] for ln in r.stdout.splitlines()]
    assert replay[:2] == ["create", "start"] and replay.count("restart") == 2
    assert {json.loads(ln)["service"] for ln in r.stdout.splitlines()} == {"crash"}
