"""End to end on the real kernel: stack (a) style web/worker/db, traffic by service name, a
published port on 127.0.0.1, ps/port/logs/exec/run output, change detection, scale, orphans,
and down leaving nothing."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import pytest

from tests.integration.stack.conftest import Project, free_port

pytestmark = pytest.mark.root

STACK_A = """
services:
  db:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; nc -ll -p 5432 -e /bin/cat & wait"]
    networks: [appnet]
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    depends_on: [db]
    ports:
      - "127.0.0.1:PORT:8080"
    environment:
      COLOUR: blue
    networks: [appnet]
  worker:
    image: local/busybox:latest
    command:
      - sh
      - -c
      - >-
        trap 'exit 0' TERM; while :; do wget -q -O /dev/null http://web:8080/
        && echo ok || echo fail; sleep 0.3 & wait $$!; done
    depends_on: [web, db]
    networks: [appnet]
networks:
  appnet: {}
"""


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return str(r.read().decode())


def test_stack_a_end_to_end(make_project: Callable[[str], Project]) -> None:
    port = free_port()
    p = make_project(STACK_A.replace("PORT", str(port)))
    r = p.run("up", "-d")
    assert f"Container {p.name}-web-1  Started" in r.stderr
    assert f"Network {p.name}_appnet  Created" in r.stderr
    # published port answered on 127.0.0.1
    assert _get(port) == "hello from pystack\n"
    # service-name traffic: the worker reaches web by name
    p.wait_for(lambda: "ok" in p.run("logs", "worker").stdout)
    logs = p.run("--no-color", "logs", "worker").stdout
    assert logs.splitlines()[0].startswith("worker-1  | ok")
    # ps
    rows = {r["Service"]: r for r in p.ps()}
    assert set(rows) == {"db", "web", "worker"}
    assert rows["web"]["State"] == "running"
    assert rows["web"]["Publishers"] == [{"URL": "127.0.0.1", "TargetPort": 8080,
                                          "PublishedPort": port, "Protocol": "tcp"}]
    assert rows["web"]["Ports"] == f"127.0.0.1:{port}->8080/tcp"
    table = p.run("ps").stdout.splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS",
                                "PORTS"]
    assert p.run("ps", "--format", "{{.Name}} {{.Service}}").stdout.splitlines() == [
        f"{p.name}-{s}-1 {s}" for s in sorted(rows)]
    assert any(ln.startswith(f"{p.name}-web-1") for ln in table)
    # port
    assert p.run("port", "web", "8080").stdout.strip() == f"127.0.0.1:{port}"
    # exec: output and exit code pass through
    r = p.run("exec", "-T", "web", "sh", "-c", "echo $COLOUR; exit 3", check=False)
    assert (r.returncode, r.stdout) == (3, "blue\n")
    # run: a one-off container on the project network, removed with --rm
    r = p.run("run", "--rm", "--no-deps", "worker", "sh", "-c",
              "wget -q -O - http://web:8080/")
    assert r.stdout == "hello from pystack\n"
    r = p.run("run", "--rm", "--no-deps", "-e", "X=5", "worker", "sh", "-c", "exit $X",
              check=False)
    assert r.returncode == 5
    assert not [n for n in p.ids() if "-run-" in n]         # --rm removed them
    # cp both ways
    src = p.dir / "in.txt"
    src.write_text("copied in\n")
    p.run("cp", str(src), "web:/tmp/in.txt")
    p.run("cp", "web:/tmp/in.txt", str(p.dir / "back.txt"))
    assert (p.dir / "back.txt").read_text() == "copied in\n"
    # a second up touches nothing
    ids = p.ids()
    r = p.run("up", "-d")
    assert "Started" not in r.stderr and "Created" not in r.stderr
    assert p.ids() == ids
    # edit one service: only it is recreated
    p.write(p.file.read_text().replace("COLOUR: blue", "COLOUR: red"))
    p.run("up", "-d")
    ids2 = p.ids()
    assert ids2[f"{p.name}-web-1"] != ids[f"{p.name}-web-1"]
    assert ids2[f"{p.name}-db-1"] == ids[f"{p.name}-db-1"]
    assert ids2[f"{p.name}-worker-1"] == ids[f"{p.name}-worker-1"]
    assert _get(port) == "hello from pystack\n"
    r = p.run("down")
    assert f"Container {p.name}-db-1  Removed" in r.stderr
    assert p.ps() == []
    # a second down is a no-op
    p.run("down")


SCALE = """
services:
  a:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
  b:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
"""


def test_scale_orphans_and_stop_start(make_project: Callable[[str], Project]) -> None:
    p = make_project(SCALE)
    p.run("up", "-d", "--scale", "a=3")
    assert sorted(p.ids()) == sorted([f"{p.name}-a-1", f"{p.name}-a-2", f"{p.name}-a-3",
                                      f"{p.name}-b-1"])
    # replicas answer under one name (the embedded DNS server's)
    r = p.run("exec", "-T", "b", "sh", "-c",
              "nslookup -type=a a | sed -n '/^Name:/,$p' | grep -c '^Address' || true")
    assert r.stdout.strip() == "3"
    p.run("up", "-d", "--scale", "a=1")
    assert sorted(p.ids()) == [f"{p.name}-a-1", f"{p.name}-b-1"]
    p.write(SCALE.split("  b:")[0])
    r = p.run("up", "-d")
    assert "orphan" in r.stderr
    assert f"{p.name}-b-1" in p.ids()
    r = p.run("down")               # Compose v2: the orphan stays, and so does its network
    assert "orphan" in r.stderr and "still in use" in r.stderr
    assert [(r["Name"], r["State"]) for r in p.ps()] == [(f"{p.name}-b-1", "running")]
    p.run("up", "-d")
    p.run("up", "-d", "--remove-orphans")
    assert list(p.ids()) == [f"{p.name}-a-1"]
    p.run("stop")
    assert [r["State"] for r in p.ps()] == ["exited"]
    p.run("start")
    assert [r["State"] for r in p.ps()] == ["running"]
    p.run("pause", "a")
    assert [r["State"] for r in p.ps()] == ["paused"]
    p.run("unpause", "a")
    top = p.run("top", "a").stdout
    assert "sleep 86400" in top and top.splitlines()[1].split() == [
        "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert '"PIDs":"2"' in p.run("stats", "--no-stream", "--format", "json").stdout
    p.run("kill", "-s", "KILL", "a")
    assert [r["ExitCode"] for r in p.ps()] == [137]
    p.run("restart")
    assert [r["State"] for r in p.ps()] == ["running"]
