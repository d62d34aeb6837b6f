"""ADD of an http URL and of a git repository, for real: a local http.server on 127.0.0.1
made by the test (it counts the requests it serves), builds FROM the busybox fixture image;
what lands is checked by a RUN inside the image (stat) and from its layers."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pystack.runtime.build.errors import BuildError
from tests.integration.build.conftest import Ctx, image_file

pytestmark = pytest.mark.root
MTIME = 1577934245                       # 2020-01-02T03:04:05Z


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **kw: Any) -> None:
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                super().do_GET()

            def log_message(self, *a: Any) -> None:
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    s = Server(root)
    yield s
    s.close()


def test_add_url_checksum_mtime_mode_and_cache(ctx: Ctx, server: Server) -> None:
    body = b"#!/bin/sh\necho tool\n"
    (server.root / "files").mkdir()
    (server.root / "files" / "tool.sh").write_bytes(body)
    os.utime(server.root / "files" / "tool.sh", (MTIME, MTIME))
    good = "sha256:" + hashlib.sha256(body).hexdigest()
    url = f"{server.url}/files/tool.sh"
    df = (f"FROM local/busybox:latest\nADD --checksum={good} {url} /c/t\nADD {url} /opt/\n"
          f"ADD {server.url}/ /u/\n"
          "RUN stat -c '%a %Y %n' /opt/tool.sh /c/t > /modes\n")
    ctx.build(df, tags=("built:addurl",))
    assert image_file("built:addurl", "opt/tool.sh") == body.decode()
    assert image_file("built:addurl", "c/t") == body.decode()
    assert "Directory listing" in (image_file("built:addurl", "u/__unnamed__") or "")
    assert (image_file("built:addurl", "modes") or "").splitlines() == [
        f"600 {MTIME} /opt/tool.sh", f"600 {MTIME} /c/t"]
    # again: the URLs without a checksum are fetched (and hit: same content), the one with
    # a checksum is a cache hit without any request
    before = len(server.paths)
    ctx.build(df, tags=("built:addurl",))
    assert len(ctx.cached()) == 4 and not ctx.ran()
    assert server.paths[before:].count("/files/tool.sh") == 1
    # the content changes: the checksummed step still hits (no request), the other misses
    (server.root / "files" / "tool.sh").write_bytes(body + b"# changed\n")
    before = len(server.paths)
    ctx.build(df, tags=("built:addurl",))
    assert [n.split("] ")[1] for n in ctx.cached()] == [f"ADD --checksum={good} {url} /c/t"]
    assert server.paths[before:].count("/files/tool.sh") == 1
    assert image_file("built:addurl", "opt/tool.sh") == body.decode() + "# changed\n"


def test_add_url_errors_are_located(ctx: Ctx, server: Server) -> None:
    (server.root / "f").write_text("f\n")
    bad = "sha256:" + "0" * 64
    cases = [
        (f"ADD --checksum={bad} {server.url}/f /f", "checksum mismatch"),
        (f"ADD {server.url}/missing /m", "HTTP 404"),
        (f"COPY {server.url}/f /f", "use ADD"),
        (f"ADD --checksum=md5:abc {server.url}/f /f", "invalid --checksum"),
        (f"ADD --checksum={bad} f /f", "requires one HTTP(S) or git source"),
    ]
    for line, what in cases:
        with pytest.raises(BuildError) as e:
            ctx.build(f"FROM local/busybox:latest\n{line}\n", tags=("built:never",))
        text = f"{e.value} {e.value.hint or ''}"
        assert what in text and e.value.where == "Dockerfile:2", (line, text)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_add_git_repository(ctx: Ctx, server: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "sub").mkdir()
    (src / "sub" / "in-sub.txt").write_text("sub\n")
    (src / "top.txt").write_text("top\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args: str, cwd: Path = src) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    git("clone", "-q", "--bare", str(src), str(server.root / "repo.git"), cwd=tmp_path)
    git("update-server-info", cwd=server.root / "repo.git")      # dumb http
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    (src / "top.txt").write_text("top two\n")
    git("commit", "-q", "-am", "two")
    git("push", "-q", str(server.root / "repo.git"), "main")
    git("update-server-info", cwd=server.root / "repo.git")
    repo = f"{server.url}/repo.git"
    ctx.build(f"FROM local/busybox:latest\nADD {repo} /all/\nADD {repo}#main:sub /sub/\n"
              f"ADD --keep-git-dir {repo} /kept/\nADD {repo}#{first} /first/\n",
              tags=("built:addgit",))
    assert image_file("built:addgit", "all/top.txt") == "top two\n"
    assert image_file("built:addgit", "first/top.txt") == "top\n"        # pinned commit
    assert image_file("built:addgit", "all/sub/in-sub.txt") == "sub\n"
    assert image_file("built:addgit", "all/.git/HEAD") is None
    assert image_file("built:addgit", "sub/in-sub.txt") == "sub\n"
    assert image_file("built:addgit", "sub/top.txt") is None
    assert image_file("built:addgit", "kept/.git/HEAD") is not None
    with pytest.raises(BuildError) as e:
        ctx.build(f"FROM local/busybox:latest\nADD {server.url}/nothere.git /x/\n")
    assert "git clone failed" in e.value.message and e.value.where == "Dockerfile:2"
