"""`pystack watch` and `up --watch` on real containers (develop.watch): sync (edit, create,
delete, nested directories, ownership by the container's user), a host symlink that must not
lead the sync outside the target, ignore/include/.dockerignore, initial_sync, sync+restart,
sync+exec, restart, rebuild with pystack's builder, and `up --watch` ended by SIGINT.

Every wait is on something observable (a line the watcher prints, a file in the container,
a token PID 1 writes at each start) with a generous deadline; nothing is timed.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

DEADLINE = 60.0
# PID 1 writes a fresh token at each start: a restart is seen as a new token.
BOOT = ["sh", "-c", "cat /proc/sys/kernel/random/uuid > /tmp/boot; exec sleep 100000"]


class Watcher:
    """A running `pystack ...` whose stdout is read line by line."""

    def __init__(self, p: Project, *args: str) -> None:
        self.p = p
        self.proc = subprocess.Popen(p.argv(*args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=dict(os.environ, NO_COLOR="1"))
        self.out = b""

    def wait_line(self, text: str, timeout: float = DEADLINE, after: int = 0) -> int:
        """Wait until `text` is in the output past byte `after`; returns where it ends."""
        deadline = time.monotonic() + timeout
        needle = text.encode()
        while (at := self.out.find(needle, after)) < 0:
            left = deadline - time.monotonic()
            assert left > 0 and self.proc.poll() is None, (
                f"{text!r} not seen; out:\n{self.out.decode()}\nerr:\n{self.err()}")
            assert self.proc.stdout is not None
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 5.0))
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    continue
                self.out += chunk
        return at + len(needle)

    def err(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(running)"
        return self.proc.stderr.read().decode()

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        rest, err = self.proc.communicate(timeout=120)
        self.out += rest
        return self.proc.returncode, self.out.decode(), err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def watching() -> Iterator[Callable[..., Watcher]]:
    made: list[Watcher] = []

    def start(p: Project, *args: str) -> Watcher:
        w = Watcher(p, *args)
        made.append(w)
        return w

    yield start
    for w in made:
        w.kill()


def fd_targets(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue                    # closed meanwhile
    return out


def sh(p: Project, script: str, service: str = "web") -> str:
    r = p.run("exec", "-T", service, "sh", "-c", script, check=False)
    return r.stdout if r.returncode == 0 else f"exit {r.returncode}: {r.stdout}{r.stderr}"


def eventually(p: Project, script: str, want: str, service: str = "web",
               w: Watcher | None = None) -> None:
    """Wait until `script` in the container prints `want` (the sync is asynchronous)."""
    last = ""

    def ok() -> bool:
        nonlocal last
        last = sh(p, script, service)
        return last == want

    try:
        p.wait_for(ok, timeout=DEADLINE)
    except AssertionError:
        seen = w.out.decode() if w is not None else ""
        raise AssertionError(f"{script!r} printed {last!r}, not {want!r}\n{seen}") from None


def test_sync_edit_create_delete_symlink_and_ignores(
        make_project: Callable[[str], Project], watching: Callable[..., Watcher],
        tmp_path: Path) -> None:
    p = make_project(f"""
services:
  web:
    image: local/busybox:latest
    user: app
    command: {BOOT}
    develop:
      watch:
        - path: ./src
          action: sync
          target: /tmp/app
          ignore: ["*.tmp", cache/]
        - path: ./only
          action: sync
          target: /tmp/only
          include: ["*.txt"]
""")
    src, only = p.dir / "src", p.dir / "only"
    src.mkdir()
    only.mkdir()
    outside = tmp_path / "outside"          # a host directory the symlink points at
    outside.mkdir()
    (outside / "secret").write_text("host secret\n")
    w = watching(p, "watch")
    w.wait_line("Watch enabled")
    # the watcher waits in inotify, it does not poll
    assert "anon_inode:inotify" in fd_targets(w.proc.pid)

    (src / "a.txt").write_text("one\n")
    eventually(p, "cat /tmp/app/a.txt", "one\n", w=w)
    assert sh(p, "stat -c %U:%G /tmp/app/a.txt") == "app:app\n"    # the container's user
    (src / "a.txt").write_text("two\n")
    eventually(p, "cat /tmp/app/a.txt", "two\n")
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "f.txt").write_text("deep\n")
    eventually(p, "cat /tmp/app/d/e/f.txt", "deep\n")
    (src / "a.txt").unlink()
    eventually(p, "test -e /tmp/app/a.txt && echo there || echo gone", "gone\n")
    (src / "d" / "e" / "f.txt").unlink()
    (src / "d" / "e").rmdir()
    eventually(p, "test -e /tmp/app/d/e && echo there || echo gone", "gone\n")

    # ignored and not included files are never sent (a later change is the barrier)
    (src / "x.tmp").write_text("no\n")
    (src / "cache").mkdir()
    (src / "cache" / "c").write_text("no\n")
    (only / "skip.bin").write_text("no\n")
    (only / "keep.txt").write_text("yes\n")
    eventually(p, "cat /tmp/only/keep.txt", "yes\n")
    (src / "barrier").write_text("b\n")
    eventually(p, "cat /tmp/app/barrier", "b\n")
    assert sh(p, "ls -A /tmp/app; ls -A /tmp/only") == "barrier\nd\nkeep.txt\n"

    # a host symlink is sent as a symlink: neither what it points at, nor anything written
    # through it, nor a write through the container's own link outside the target
    (src / "esc").symlink_to(outside)
    eventually(p, "readlink /tmp/app/esc", f"{outside}\n")
    (outside / "through.txt").write_text("via the link\n")
    (src / "esc" / "more.txt").write_text("via the link too\n")
    (src / "barrier").write_text("c\n")
    eventually(p, "cat /tmp/app/barrier", "c\n")
    assert sh(p, f"test -e {outside} && echo there || echo absent") == "absent\n"
    assert sh(p, "ls -A /tmp/app") == "barrier\nd\nesc\n"
    # the link replaced by a real directory: files land in it, not where the link pointed
    (src / "esc").unlink()
    (src / "esc").mkdir()
    (src / "esc" / "in.txt").write_text("inside\n")
    eventually(p, "cat /tmp/app/esc/in.txt", "inside\n")
    assert sh(p, "test -L /tmp/app/esc && echo link || echo dir") == "dir\n"
    assert sh(p, f"test -e {outside} && echo there || echo absent") == "absent\n"
    code, out, err = w.stop()
    assert code == 130, err
    assert "Traceback" not in err
    assert "Watch disabled" in out
    assert p.ps()[0]["State"] == "running"     # `watch` leaves the containers running


def test_restart_exec_and_initial_sync(make_project: Callable[[str], Project],
                                       watching: Callable[..., Watcher]) -> None:
    p = make_project(f"""
services:
  web:
    image: local/busybox:latest
    command: {BOOT}
    develop:
      watch:
        - path: ./conf
          action: sync+restart
          target: /etc/app
        - path: ./hook
          action: sync+exec
          target: /tmp/hook
          exec:
            command: >-
              sh -c 'cat /tmp/hook/in > /tmp/exec-out;
              echo "$$WHO" >> /tmp/exec-out; pwd >> /tmp/exec-out'
            environment: {{WHO: hooked}}
            working_dir: /tmp
            user: app
        - path: ./kick
          action: restart
        - path: ./seed
          action: sync
          target: /tmp/seed
          initial_sync: true
        - path: ./noseed
          action: sync
          target: /tmp/noseed
""")
    for d in ("conf", "hook", "kick", "seed", "noseed"):
        (p.dir / d).mkdir()
    (p.dir / "seed" / "s.txt").write_text("seeded\n")
    (p.dir / "noseed" / "n.txt").write_text("not seeded\n")
    p.run("up", "-d")
    w = watching(p, "watch", "--no-up")
    w.wait_line("Watch enabled")
    assert sh(p, "cat /tmp/seed/s.txt") == "seeded\n"            # initial_sync
    assert sh(p, "test -e /tmp/noseed/n.txt && echo there || echo absent") == "absent\n"

    boot = sh(p, "cat /tmp/boot")
    (p.dir / "conf" / "app.conf").write_text("v=1\n")
    end = w.wait_line("restarted")
    eventually(p, "cat /etc/app/app.conf", "v=1\n")
    assert sh(p, "cat /tmp/boot") != boot                       # a new start
    boot = sh(p, "cat /tmp/boot")

    (p.dir / "hook" / "in").write_text("synced first\n")
    eventually(p, "cat /tmp/exec-out 2>/dev/null", "synced first\nhooked\n/tmp\n")
    assert sh(p, "stat -c %U /tmp/exec-out") == "app\n"          # exec.user
    assert sh(p, "cat /tmp/boot") == boot                       # sync+exec: no restart

    (p.dir / "kick" / "any").write_text("x\n")
    w.wait_line("restarted", after=end)
    assert sh(p, "cat /tmp/boot") != boot
    code, _, err = w.stop()
    assert code == 130 and "Traceback" not in err


def built(make_project: Callable[[str], Project], rule: str, dockerfile: str) -> Project:
    """A one-service stack built from `dockerfile` with one develop.watch rule."""
    p = make_project(f"services:\n  web:\n    build: .\n    command: {BOOT}\n"
                     f"    develop:\n      watch:\n{rule}")
    (p.dir / "Dockerfile").write_text(dockerfile)
    return p


def test_rebuild_recreates_with_the_new_image(make_project: Callable[[str], Project],
                                              watching: Callable[..., Watcher]) -> None:
    p = built(make_project, "        - {path: ./content.txt, action: rebuild}\n",
              "FROM local/busybox:latest\nCOPY content.txt /content\n")
    (p.dir / "content.txt").write_text("first\n")
    w = watching(p, "watch", "--quiet")
    w.wait_line("Watch enabled")
    assert sh(p, "cat /content") == "first\n"
    before = p.ids()
    from pystack.runtime.image.store import ImageStore

    old = ImageStore().get(f"{p.name}-web").id
    (p.dir / "content.txt").write_text("second\n")
    w.wait_line("successfully built")
    eventually(p, "cat /content", "second\n")
    assert p.ids() != before                                    # recreated
    p.wait_for(lambda: not ImageStore().exists(old), timeout=DEADLINE)   # --prune (default)
    code, _, err = w.stop()
    assert code == 130 and "Traceback" not in err


def test_dockerignore_applies_to_sync(make_project: Callable[[str], Project],
                                      watching: Callable[..., Watcher]) -> None:
    p = built(make_project, "        - {path: ., action: sync, target: /tmp/ctx}\n",
              "FROM local/busybox:latest\n")
    (p.dir / ".dockerignore").write_text("secret*\n")
    w = watching(p, "watch", "--quiet")
    w.wait_line("Watch enabled")
    (p.dir / "secret.env").write_text("no\n")
    (p.dir / "public.txt").write_text("yes\n")
    eventually(p, "cat /tmp/ctx/public.txt", "yes\n")
    assert sh(p, "test -e /tmp/ctx/secret.env && echo there || echo absent") == "absent\n"
    w.stop()


def test_up_watch_shows_logs_and_stops_on_sigint(make_project: Callable[[str], Project],
                                                 watching: Callable[..., Watcher]) -> None:
    p = make_project("""
services:
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "echo web-is-up; trap 'echo web-bye; exit 0' TERM; sleep 100000 & wait"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /tmp/src
""")
    (p.dir / "src").mkdir()
    w = watching(p, "up", "--watch")
    w.wait_line("web-1  | web-is-up")
    w.wait_line("Watch enabled")
    (p.dir / "src" / "f").write_text("live\n")
    w.wait_line('Syncing service "web" after 1 changes were detected')
    eventually(p, "cat /tmp/src/f", "live\n")
    code, out, err = w.stop()
    assert code == 130, err
    assert out.splitlines()[0] == "Attaching to web-1"
    assert "Gracefully stopping... (press Ctrl+C again to force)" in err
    assert "Traceback" not in err
    assert "web-1  | web-bye" in out
    assert p.ps()[0]["State"] == "exited"


def test_up_watch_rebuild_follows_the_new_containers_and_syncs_every_replica(
        make_project: Callable[[str], Project], watching: Callable[..., Watcher]) -> None:
    p = make_project("""
services:
  web:
    build: .
    scale: 2
    command: ["sh", "-c", "echo content-$$(cat /content); exec sleep 100000"]
    develop:
      watch:
        - {path: ./content.txt, action: rebuild}
        - {path: ./src, action: sync, target: /tmp/src}
""")
    (p.dir / "Dockerfile").write_text("FROM local/busybox:latest\nCOPY content.txt /content\n")
    (p.dir / "content.txt").write_text("first\n")
    (p.dir / "src").mkdir()
    w = watching(p, "up", "--watch")
    w.wait_line("web-2  | content-first")
    w.wait_line("Watch enabled")
    (p.dir / "src" / "f").write_text("both\n")
    for n in ("1", "2"):
        def synced(n: str = n) -> bool:
            return p.run("exec", "-T", "--index", n, "web", "cat", "/tmp/src/f",
                         check=False).stdout == "both\n"

        p.wait_for(synced, timeout=DEADLINE)
    (p.dir / "content.txt").write_text("second\n")
    w.wait_line("web-1  | content-second")                      # the new container's output
    w.wait_line("web-2  | content-second")
    code, _, err = w.stop()
    assert code == 130 and "Traceback" not in err


def test_watch_refuses_a_stack_without_develop(make_project: Callable[[str], Project]) -> None:
    p = make_project("services:\n  web:\n    image: local/busybox:latest\n")
    r = p.run("up", "--watch", check=False)
    assert r.returncode == 1
    assert "none of the selected services is configured for watch" in r.stderr
    assert p.ps() == []                                         # nothing was started
