"""`stats` and `top` against real containers: docker's columns and units read from the real
cgroup (v1, hybrid or v2, whichever this host has) and the container's own netns; CPU % from
two samples; the live display (redrawn in place in a real pseudo-terminal, plain blocks into a
pipe) ending quietly on Ctrl-C and on a closed pipe; `top` naming users from the container's
own /etc/passwd, and never from a file a symlink in the container points at on the host."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project
from tests.support.terminal import Terminal

pytestmark = pytest.mark.root

STACK = """
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    mem_limit: 64m
  busy:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
    cpus: 0.2
  app:
    image: local/busybox:latest
    user: app
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
  done:
    image: local/busybox:latest
    command: ["true"]
"""
HEADER = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
          "BLOCK I/O", "PIDS"]


@pytest.fixture(scope="module")
def project(busybox_image: str) -> Iterator[Project]:
    with tempfile.TemporaryDirectory() as d:
        p = Project(Path(d), STACK)
        try:
            p.run("up", "-d", timeout=180)
            p.wait_for(lambda: [r["State"] for r in p.ps("done")] == ["exited"], 30)
            yield p
        finally:
            p.run("down", "-v", check=False, timeout=120)


def _cells(line: str) -> list[str]:
    return re.split(r" {3,}", line.strip())


def test_stats_no_stream_table_and_units(project: Project) -> None:
    # traffic into web's netns, so its NET I/O counters move
    project.run("exec", "-T", "app", "wget", "-q", "-O", "/dev/null", "http://web:8080/")
    lines = project.run("stats", "--no-stream").stdout.splitlines()
    assert _cells(lines[0]) == HEADER
    rows = {c[1]: c for c in map(_cells, lines[1:])}
    assert sorted(rows) == sorted(f"{project.name}-{s}-1" for s in ("web", "busy", "app"))
    web = rows[f"{project.name}-web-1"]
    assert re.fullmatch(r"[0-9a-f]{12}", web[0])
    assert re.fullmatch(r"[\d.]+(B|KiB|MiB) / 64MiB", web[3]), web        # the cgroup's limit
    rx, tx = web[5].split(" / ")
    assert rx != "0B" and tx != "0B", web          # the wget's request and httpd's answer
    assert re.fullmatch(r"[\d.]+(B|kB|MB) / [\d.]+(B|kB|MB)", web[6])
    busy = rows[f"{project.name}-busy-1"]
    assert float(busy[2].rstrip("%")) > 0.0, busy      # a spinning shell, from two samples
    assert busy[7] == "1"
    assert rows[f"{project.name}-app-1"][7] == "2"        # sh and sleep


def test_stats_json_template_all_and_no_trunc(project: Project) -> None:
    out = project.run("stats", "--no-stream", "--all", "--no-trunc", "--format", "json").stdout
    objs = {o["Name"]: o for o in map(json.loads, out.splitlines())}
    assert set(objs[f"{project.name}-web-1"]) == {
        "BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"}
    done = objs[f"{project.name}-done-1"]          # stopped: shown with --all, as zeros
    assert (done["CPUPerc"], done["MemUsage"], done["NetIO"], done["PIDs"]) == (
        "0.00%", "0B / 0B", "0B / 0B", "0")
    assert re.fullmatch(r"[0-9a-f]{64}", done["ID"]) and done["Container"] == done["ID"]
    out = project.run("stats", "--no-stream", "--format", "{{.Name}}={{.PIDs}}", "app").stdout
    assert out == f"{project.name}-app-1=2\n"
    r = project.run("stats", "--no-stream", "--format", "{{.Nope}}", check=False)
    assert r.returncode == 2 and "Error: --format: {{.Nope}} is not a field" in r.stderr
    assert "Traceback" not in r.stderr
    r = project.run("stats", "--no-stream", "nosuch", check=False)
    assert r.returncode == 4 and "no such service" in r.stderr


def test_stats_live_into_a_pipe_ends_quietly_when_the_reader_goes(project: Project) -> None:
    proc = subprocess.Popen(project.argv("stats", "web"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, NO_COLOR="1"))
    assert proc.stdout is not None and proc.stderr is not None
    seen = [proc.stdout.readline().decode() for _ in range(4)]
    assert [ln.split()[0] for ln in seen] == ["CONTAINER", seen[1].split()[0],
                                              "CONTAINER", seen[1].split()[0]]
    assert "\033" not in "".join(seen)              # plain blocks, no cursor moves
    proc.stdout.close()                             # `| head -4`
    assert proc.wait(timeout=60) == 0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err, err


def test_stats_live_on_a_terminal_redraws_in_place_and_ctrl_c_ends_it(
        project: Project) -> None:
    term = Terminal(project.argv("stats"), env=dict(os.environ, NO_COLOR="1"))
    try:
        for _ in range(2):
            term.expect(rb"\x1b\[HCONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT", timeout=60)
            frame = term.expect(rb"\x1b\[J", timeout=60)
            assert frame is not None
            assert f"{project.name}-busy-1".encode() in term.seen
            assert b"\x1b[K\r\n" in term.seen          # every line erased to its end
        term.send(b"\x03")                             # Ctrl-C: SIGINT to the foreground
        assert term.wait(timeout=60) == 0
        assert b"Traceback" not in term.buf and b"KeyboardInterrupt" not in term.buf
    finally:
        term.close()


def test_top_names_users_from_the_containers_own_passwd(project: Project) -> None:
    out = project.run("top", "app").stdout
    lines = out.splitlines()
    assert lines[0] == f"{project.name}-app-1"
    assert lines[1].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    procs = [ln.split(None, 7) for ln in lines[2:] if ln.strip()]
    assert {p[0] for p in procs} == {"app"}                 # uid 1000 in the image's passwd
    assert any(p[7].strip() == "sleep 86400" for p in procs)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", p[6]) for p in procs)
    assert out.endswith("\n\n")
    several = project.run("top").stdout
    names = [ln for ln in several.splitlines() if ln.startswith(project.name)]
    assert names == sorted(f"{project.name}-{s}-1" for s in ("web", "busy", "app"))


def test_top_never_reads_a_host_file_through_a_containers_symlink(
        project: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The container points its /etc/passwd at a file that exists only on the HOST (as an
    absolute and as a climbing relative link): `top` must show the bare uid, never the
    host file's name for it."""
    host = tmp_path_factory.mktemp("hostpasswd")
    (host / "passwd").write_text("HOSTLEAK:x:4343:4343::/:/bin/sh\n")
    try:
        project.run("exec", "-T", "-d", "-u", "4343", "web", "sleep", "300")
        for target in (str(host / "passwd"), "../../../../../../../.." + str(host / "passwd")):
            project.run("exec", "-T", "web", "ln", "-sf", target, "/etc/passwd")
            out = project.run("top", "web").stdout
            assert "HOSTLEAK" not in out
            rows = [ln.split(None, 7) for ln in out.splitlines()[2:] if ln.strip()]
            (pid,) = [r[1] for r in rows if r[0] == "4343" and r[7].strip() == "sleep 300"]
            if target.startswith("/"):
                # the attack is real: the host's kernel resolving the path reads the host file
                assert "HOSTLEAK" in Path(f"/proc/{pid}/root/etc/passwd").read_text()
    finally:
        project.run("exec", "-T", "web", "pkill", "-f", "sleep 300", check=False)
        shutil.rmtree(host, ignore_errors=True)
