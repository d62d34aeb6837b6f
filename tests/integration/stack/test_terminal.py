"""`exec` in a real terminal (tests/support/terminal.py drives a pseudo-terminal as a
terminal emulator does): a shell prompt with no stray escape codes, one echo, TERM, the
window size at start and after a resize, Ctrl-C reaching the container and not pystack, the
detach keys, exit codes, the terminal's modes restored on every exit path, and the caller's
terminal never reaching a container process (issue 9 item 6)."""

from __future__ import annotations

import io
import os
import re
import secrets
import select
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project
from tests.support.terminal import Terminal

pytestmark = pytest.mark.root

STACK = """
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
  console:
    image: local/busybox:latest
    command: ["sh"]
    tty: true
    stdin_open: true
    environment:
      PS1: "PROMPT> "
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, busybox_image: str) -> Iterator[Project]:
    """One project for the module (each test leaves it up and as it found it)."""
    p = Project(tmp_path_factory.mktemp("term"), STACK)
    p.run("up", "-d")
    yield p
    p.run("down", "-v", check=False, timeout=120)


@pytest.fixture
def terminals() -> Iterator[Callable[..., Terminal]]:
    made: list[Terminal] = []

    def make(p: Project, *args: str, rows: int = 24, cols: int = 80) -> Terminal:
        env = dict(os.environ, NO_COLOR="1", TERM="xterm-256color")
        t = Terminal(p.argv(*args), env=env, rows=rows, cols=cols)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def holders(fd: int) -> list[int]:
    """Pids (other than ours) with the terminal of `fd` open (the same inode: a container's
    own /dev/pts/0 has the same name)."""
    want = os.fstat(fd)
    out = []
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        if int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for n in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{n}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
                out.append(int(pid))
                break
    return out


PROMPT = b"PROMPT> "


def shell(p: Project, terminals: Callable[..., Terminal], *extra: str) -> Terminal:
    t = terminals(p, "exec", *extra, "-e", "PS1=PROMPT> ", "web", "sh")
    t.expect(PROMPT)
    return t


def test_exec_shell_prompt_echo_term_size_and_exit_code(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    t = shell(web, terminals)
    assert b"\x1b" not in t.seen                               # no stray escape codes
    assert not re.search(rb"\d+;\d+R", t.seen)                  # (a cursor report)
    t.send(b"echo marker-$((40+2)) $TERM\r")
    t.expect(rb"marker-42 xterm-256color\r\n" + PROMPT)
    assert t.seen.count(b"echo marker-") == 1                   # echoed once
    t.send(b"tty; stty size\r")
    t.expect(rb"/dev/pts/\d+\r\n24 80\r\n" + PROMPT)
    t.resize(33, 101)
    t.send(b"stty size\r")
    t.expect(rb"33 101\r\n" + PROMPT)
    t.send(b"exit 7\r")
    assert t.wait() == 7
    assert t.modes() == t.saved


def test_ctrl_c_reaches_the_container_not_pystack(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    t = shell(web, terminals)
    # The child prints once it runs, by then in the terminal's foreground group.
    t.send(b"sh -c 'echo in-$((1+1)); exec sleep 300'\r")
    t.expect(b"in-2\r\n")
    t.send(b"\x03")                                             # Ctrl-C
    t.expect(PROMPT)
    t.send(b"echo status $?\r")
    t.expect(rb"status 130\r\n" + PROMPT)
    assert t.proc.poll() is None                                # pystack is still there
    # (a trap, not a default SIGQUIT: no core dump in the test)
    t.send(b"sh -c 'trap \"echo got-quit; exit 3\" QUIT; echo in-$((2+1)); read x'\r")
    t.expect(b"in-3\r\n")
    t.send(b"\x1c")                                             # Ctrl-\: SIGQUIT
    t.expect(b"got-quit\r\n" + PROMPT)
    t.send(b"echo status $?\r")
    t.expect(rb"status 3\r\n" + PROMPT)
    t.send(b"sh -c 'echo in-$((3+1)); exec sleep 300'\r")
    t.expect(b"in-4\r\n")
    t.send(b"\x1a")                                             # Ctrl-Z: stopped, a job
    t.expect(rb"Stopped.*\r\n" + PROMPT)
    t.send(b"kill -9 %1; wait %1; echo status $?\r")
    t.expect(rb"status 148\r\n")                               # 128 + SIGTSTP
    t.send(b"exit\rexit\r")                                  # (ash warns once of a job)
    assert t.wait() == 0
    assert t.modes() == t.saved


def test_detach_keys_and_no_relay_left(web: Project,
                                       terminals: Callable[..., Terminal]) -> None:
    t = shell(web, terminals)
    t.send(b"\x10\x11")                                         # ctrl-p ctrl-q
    assert t.wait() == 0
    assert t.modes() == t.saved
    assert holders(t.slave) == []
    t = shell(web, terminals, "--detach-keys", "ctrl-x,y")
    t.send(b"\x18y")
    assert t.wait() == 0
    r = web.run("exec", "--detach-keys", "ctrl-9", "web", "true", check=False)
    assert r.returncode != 0 and "invalid detach keys" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_exec_command_outlives_the_detach_keys(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    """Docker keeps an exec'd command running after the detach keys.  The client held the
    only master of its terminal, so its exit hung the command up (SIGHUP); now the exec
    helper keeps a copy and drains what the command writes after the detach."""
    tag = secrets.token_hex(3)
    t = shell(web, terminals)
    t.send(f"mkfifo /tmp/go-{tag}; echo $$ > /tmp/pid-{tag}; cat /tmp/go-{tag}; "
           f"yes {tag} | head -c 300000; echo done > /tmp/done-{tag}\r".encode())
    web.wait_for(lambda: web.run("exec", "-T", "web", "test", "-s", f"/tmp/pid-{tag}",
                                 check=False).returncode == 0)
    t.send(b"\x10\x11")                                         # ctrl-p ctrl-q
    assert t.wait() == 0
    assert t.modes() == t.saved
    pid = web.run("exec", "-T", "web", "cat", f"/tmp/pid-{tag}").stdout.strip()
    alive = web.run("exec", "-T", "web", "kill", "-0", pid, check=False)
    assert alive.returncode == 0, "the detached shell was hung up"
    # it runs on and writes 300 kB to its terminal (far more than a pty buffers: nobody
    # draining it would block the command), then the next command
    web.run("exec", "-T", "web", "sh", "-c", f"echo go > /tmp/go-{tag}")
    web.wait_for(lambda: web.run("exec", "-T", "web", "test", "-e", f"/tmp/done-{tag}",
                                 check=False).returncode == 0)
    assert web.run("exec", "-T", "web", "kill", "-0", pid, check=False).returncode == 0
    helper = _parent_on_the_host(web, int(pid))        # the exec helper, outside the pid ns
    fd = os.pidfd_open(helper)
    try:
        web.run("exec", "-T", "web", "sh", "-c", f"kill -9 {pid}; rm -f /tmp/*-{tag}")
        ready, _, _ = select.select([fd], [], [], 30)
        assert ready, "the exec helper outlived its command"   # and nothing else is left
    finally:
        os.close(fd)


def _parent_on_the_host(p: Project, pid: int) -> int:
    """The host pid of the parent of process `pid` of the service's pid namespace."""
    ns = p.run("exec", "-T", "web", "readlink", "/proc/self/ns/pid").stdout.strip()
    for d in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            if os.readlink(f"/proc/{d}/ns/pid") != ns:
                continue
            status = dict(line.split(":\t", 1) for line in
                          Path(f"/proc/{d}/status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if status["NSpid"].split()[-1] == str(pid):
            return int(status["PPid"])
    raise AssertionError(f"no process {pid} in the container's pid namespace")


def test_container_killed_under_the_shell_restores_the_terminal(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    t = shell(web, terminals)
    web.run("kill", "web")
    code = t.wait()
    web.run("up", "-d")
    assert code != 0
    assert t.modes() == t.saved
    assert b"Traceback" not in t.buf


def test_the_callers_terminal_never_enters_the_container(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    """issue 9 item 6: `exec -T` left a background process holding the caller's terminal,
    reading what was typed next."""
    t = terminals(web, "exec", "-T", "web", "sh", "-c",
                  "(sleep 300 <&0 >&1 2>&1 &) ; echo started")
    t.expect(b"started")
    assert t.wait() == 0
    assert holders(t.slave) == []
    t = terminals(web, "exec", "web", "sh", "-c", "(sleep 300 &) ; echo started")
    t.expect(b"started")
    assert t.wait() == 0
    assert holders(t.slave) == []
    assert t.modes() == t.saved


def test_piped_stdin_for_exec_t(web: Project) -> None:
    r = subprocess.run(web.argv("exec", "-T", "web", "sh", "-c", "cat; echo end"),
                       input=b"x\ny\n", capture_output=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, b"x\ny\nend\n")
    r = subprocess.run(web.argv("exec", "-i", "web", "wc", "-c"), input=b"12345",
                       capture_output=True, timeout=60)
    assert r.stdout.strip() == b"5"


def test_cp_streams_both_ways_and_to_stdout(web: Project, tmp_path: object) -> None:
    d = Path(str(tmp_path))
    # out of the container: a tar on stdout
    web.run("exec", "-T", "web", "sh", "-c", "mkdir -p /srv/t && echo one > /srv/t/a")
    r = subprocess.run(web.argv("cp", "web:/srv/t", "-"), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        assert sorted(tar.getnames()) == ["t", "t/a"]
    # a directory, renamed; then into an existing directory
    web.run("cp", "web:/srv/t", str(d / "copy"))
    assert (d / "copy" / "a").read_text() == "one\n"
    web.run("cp", "web:/srv/t/a", str(d / "copy"))
    assert (d / "copy" / "a").read_text() == "one\n"
    # a tar on stdin goes into the directory
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"from stdin\n"
        info = tarfile.TarInfo("piped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = subprocess.run(web.argv("cp", "-", "web:/srv/"), input=buf.getvalue(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert web.run("exec", "-T", "web", "cat", "/srv/piped.txt").stdout == "from stdin\n"
    # streamed: 200 MB in and out, the client's peak RSS stays small (it was the size + 5%)
    big = d / "big"
    with open(big, "wb") as f:
        f.truncate(200 << 20)
    for args in (("cp", str(big), "web:/tmp/big"), ("cp", "web:/tmp/big", str(d / "back"))):
        assert peak_rss_kib(web.argv(*args)) < 100 * 1024
    assert (d / "back").stat().st_size == 200 << 20
    web.run("exec", "-T", "web", "rm", "/tmp/big")


def peak_rss_kib(argv: list[str]) -> int:
    """The peak RSS of `argv`, measured by a fresh interpreter that only waits for it."""
    import sys

    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "assert r.returncode == 0; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, NO_COLOR="1"))
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def test_cp_from_a_hostile_container_stays_in_the_destination(web: Project,
                                                              tmp_path: object) -> None:
    """The container's `tar` is the container's: here a script sending crafted archives (a
    symlink then a file through it, `..`, a hardlink to a host file).  Nothing outside the
    destination changes, and each is refused with a clear error."""
    d = Path(str(tmp_path))
    victim = d / "victim"
    victim.mkdir()
    secret = d / "secret"
    secret.write_text("host secret\n")

    def archive(*members: tuple[str, str, str]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, kind, arg in members:
                info = tarfile.TarInfo(name)
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif kind == "sym":
                    info.type, info.linkname = tarfile.SYMTYPE, arg
                    tar.addfile(info)
                elif kind == "hard":
                    info.type, info.linkname = tarfile.LNKTYPE, arg
                    tar.addfile(info)
                else:
                    info.size = len(arg)
                    tar.addfile(info, io.BytesIO(arg.encode()))
        return buf.getvalue()

    web.run("exec", "-T", "web", "sh", "-c",
            "mkdir -p /usr/local/bin /t && printf '#!/bin/sh\\ncat /evil.tar\\n' "
            "> /usr/local/bin/tar && chmod 755 /usr/local/bin/tar")
    try:
        _attacks(web, d, victim, secret, archive)
    finally:
        web.run("exec", "-T", "web", "rm", "-rf", "/usr/local/bin/tar", "/t", "/evil.tar")


def _attacks(web: Project, d: Path, victim: Path, secret: Path,
             archive: Callable[..., bytes]) -> None:
    attacks = {
        "symlink": archive(("t", "dir", ""), ("t/l", "sym", str(victim)),
                           ("t/l/pwned", "file", "x")),
        "dotdot": archive(("t", "dir", ""), ("t/../../escape", "file", "x")),
        "hardlink": archive(("t", "dir", ""), ("t/h", "hard", str(secret).lstrip("/"))),
    }
    for what, data in attacks.items():
        r = subprocess.run(web.argv("exec", "-T", "web", "sh", "-c", "cat > /evil.tar"),
                           input=data, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        for dest in (d / f"out-{what}", d):         # renamed, and into a directory
            r = web.run("cp", "web:/t", str(dest), check=False)
            assert r.returncode != 0, (what, dest)
            assert "refused" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert list(victim.iterdir()) == [], what
        assert not (d.parent / "escape").exists() and not (d / "escape").exists()
        assert secret.stat().st_nlink == 1 and secret.read_text() == "host secret\n"


def test_run_rm_interactive_shell(web: Project, terminals: Callable[..., Terminal]) -> None:
    t = terminals(web, "run", "--rm", "--no-deps", "-e", "PS1=PROMPT> ", "web", "sh")
    t.expect(PROMPT)                         # the start of its output is not lost
    t.send(b"stty size; echo $TERM; tty\r")
    t.expect(rb"24 80\r\nxterm-256color\r\n/dev/pts/0\r\n" + PROMPT)
    assert t.seen.count(b"stty size") == 1
    t.resize(40, 120)
    t.send(b"stty size\r")
    t.expect(rb"40 120\r\n" + PROMPT)
    t.send(b"sh -c 'echo in-$((1+1)); exec sleep 300'\r")
    t.expect(b"in-2\r\n")
    t.send(b"\x03")
    t.expect(PROMPT)
    assert t.proc.poll() is None
    t.send(b"exit 5\r")
    assert t.wait() == 5
    assert t.modes() == t.saved
    assert [r for r in web.ps() if r["Service"] == "web" and "run" in str(r["Name"])] == []


def test_attach_to_a_console_detach_and_exit_code(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    t = terminals(web, "attach", "console")
    t.send(b"echo attached-$((2*3))\r")
    t.expect(b"attached-6\r\n")
    t.resize(30, 90)
    t.send(b"stty size\r")
    t.expect(rb"30 90\r\n" + PROMPT)
    t.send(b"\x10\x11")
    assert t.wait() == 0
    assert t.modes() == t.saved
    assert {r["Service"]: r["State"] for r in web.ps()}["console"] == "running"
    t = terminals(web, "attach", "console")
    t.send(b"exit 3\r")
    assert t.wait() == 3
    assert t.modes() == t.saved


def test_run_piped_stdin_and_exit_codes(web: Project) -> None:
    r = subprocess.run(web.argv("run", "--rm", "--no-deps", "-T", "web", "cat"),
                       input=b"x\n", capture_output=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, b"x\n")
    r = subprocess.run(web.argv("run", "--rm", "--no-deps", "web", "sh", "-c",
                                "echo out; echo err >&2; exit 4"),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr.endswith(b"err\n")) == (4, b"out\n", True)


RUN_STACK = """
services:
  db:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
    networks: [back]
  api:
    image: local/busybox:latest
    depends_on: [db]
    volumes: [data:/data]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
"""


def test_run_before_up_makes_what_it_needs_and_a_failure_undoes_it(
        make_project: Callable[[str], Project]) -> None:
    from pystack.net.manager import NetworkManager
    from pystack.orchestrator.engine.volumes import volume_path

    p = make_project(RUN_STACK)
    nets = NetworkManager(p.name)
    # --no-deps and a command that cannot start: nothing it made is left
    r = p.run("run", "--rm", "--no-deps", "api", "no-such-command", check=False)
    assert r.returncode != 0 and "no-such-command" in r.stderr
    assert [n.name for n in nets.list_networks()] == []
    assert not volume_path(f"{p.name}_data").exists()
    # the stack is not up: run makes its network, volume and dependency (as Compose)
    r = p.run("run", "--rm", "-T", "api", "sh", "-c",
              "ping -c1 -W5 db >/dev/null && echo reach; touch /data/x && echo wrote")
    assert r.stdout == "reach\nwrote\n", r.stderr
    assert {row["Service"] for row in p.ps()} == {"db"}


def test_run_t_starts_with_the_callers_size_and_empty_progress_says_nothing(
        web: Project, terminals: Callable[..., Terminal]) -> None:
    t = terminals(web, "run", "--rm", "--no-deps", "web", "stty", "size", rows=33,
                  cols=77)
    assert t.wait() == 0
    assert t.buf.endswith(b"33 77\r\n"), t.buf
    assert b"Running 0/0" not in t.buf and b"\x1b[?25l" not in t.buf


def test_ps_of_an_unknown_service_is_an_error(web: Project) -> None:
    r = web.run("ps", "nosuch", check=False)
    assert r.returncode != 0 and "no such service: nosuch" in r.stderr
