"""develop.watch rules without a kernel: path mapping (fuzzed: never outside the target),
ignore/include/.dockerignore, batches, and the host side of the sync (symlinks never
followed, nothing sent below one)."""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.orchestrator.config.model import Project, Service, VolumeMount, WatchRule
from pystack.orchestrator.engine import watchrules as wr
from pystack.orchestrator.engine import watchsync as ws


def rule(path: str = "/p/src", action: str = "sync", target: str | None = "/app",
         **kw: object) -> wr.Rule:
    spec = WatchRule(path=path, action=action, target=target,
                     ignore=tuple(kw.pop("ignore", ())),          # type: ignore[arg-type]
                     include=tuple(kw.pop("include", ())))        # type: ignore[arg-type]
    svc = Service(name="web", watch=(spec,), build=kw.pop("build", None))  # type: ignore[arg-type]
    proj = Project(name="demo", working_dir="/p", services={"web": svc})
    return wr.compile_rules(proj, ["web"])[0]


def test_container_path() -> None:
    r = rule()
    assert wr.container_path(r, "/p/src") == "/app"
    assert wr.container_path(r, "/p/src/a/b.txt") == "/app/a/b.txt"
    assert wr.container_path(r, "/p/srcx/a") is None           # a sibling, not below
    assert wr.container_path(r, "/p/src/../etc/passwd") is None
    assert wr.container_path(rule(target="/"), "/p/src/etc/x") == "/etc/x"
    assert wr.container_path(rule(target="//app/"), "/p/src/x") == "/app/x"
    assert wr.container_path(rule(action="restart", target=None), "/p/src/x") is None


segment = st.one_of(st.sampled_from(["..", ".", "", "a", "b c", "...", "-x", "\\", "~"]),
                    st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=6))


@settings(max_examples=400, deadline=None)
@given(root=st.lists(segment, max_size=4), rel=st.lists(segment, max_size=8),
       target=st.lists(segment, max_size=4))
def test_fuzz_a_synced_path_never_lands_outside_target(root: list[str], rel: list[str],
                                                       target: list[str]) -> None:
    host_root = "/" + "/".join(root)
    tgt = "/" + "/".join(target)
    r = rule(path=host_root, target=tgt)
    out = wr.container_path(r, host_root + "/" + "/".join(rel))
    if out is None:
        return
    norm = posixpath.normpath(tgt)
    norm = "/" + norm.lstrip("/")
    assert out == posixpath.normpath(out) or out == "/"
    assert ".." not in out.split("/")
    assert out == norm or out.startswith(norm.rstrip("/") + "/")


def test_ignore_include_ephemeral_git_and_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("secret*\n!secret.keep\n")
    r = rule(path=str(tmp_path), ignore=["*.tmp", "cache/"],
             build={"context": str(tmp_path), "dockerfile": "Dockerfile"})
    ok = [str(tmp_path / n) for n in ("a.txt", "d/e.py", "secret.keep")]
    bad = [str(tmp_path / n) for n in ("x.tmp", "cache/y", ".git/HEAD", "sub/.git/x",
                                       ".a.swp", "f~", "4913", "secret.env", "d/.#lock")]
    assert [p for p in ok if wr.matches(r, p)] == ok
    assert [p for p in bad if wr.matches(r, p)] == []
    inc = rule(path=str(tmp_path), include=["*.txt"])
    assert wr.matches(inc, str(tmp_path / "a.txt"))
    assert not wr.matches(inc, str(tmp_path / "a.bin"))
    assert not wr.matches(inc, str(tmp_path / "d" / "a.txt"))   # `*` stays in one directory


def test_batch_groups_actions_per_service() -> None:
    spec = (WatchRule(path="/p/src", action="sync+exec", target="/app"),
            WatchRule(path="/p/conf", action="sync+restart", target="/etc/x"),
            WatchRule(path="/p", action="rebuild", ignore=("src", "conf")))
    proj = Project(name="d", working_dir="/p", services={
        "web": Service(name="web", watch=spec, build={"context": "/nonexistent"})})
    rules = wr.compile_rules(proj, ["web"])
    b = wr.plan(rules, ["/p/src/a", "/p/src/b", "/p/conf/c", "/p/Dockerfile", "/elsewhere"])
    assert b.rebuild == {"web"} and b.restart == {"web"}
    assert [c for _, _, c in b.sync["web"]] == ["/etc/x/c", "/app/a", "/app/b"]
    assert b.exec["web"] == [rules[0]]                          # once per batch
    assert wr.plan(rules, ["/elsewhere/x"]).empty()


def test_bind_mounted() -> None:
    svc = Service(name="w", volumes=(VolumeMount(type="bind", target="/app", source="/p/src"),))
    assert wr.bind_mounted(svc, "/p/src/sub")
    assert not wr.bind_mounted(svc, "/p/other")


def names(members: list[ws.Entry]) -> list[str]:
    buf = io.BytesIO()
    ws.archive(members, buf, 1000, 1000)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        return [f"{m.name}{'@' + m.linkname if m.issym() else ''}:{m.uid}" for m in tar]


def test_host_symlinks_are_sent_as_links_and_never_followed(tmp_path: Path) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    (src / "d").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    (src / "d" / "f").write_text("x")
    (src / "esc").symlink_to(outside)
    (src / "up").symlink_to("..")
    (src / "d" / "sock").symlink_to("/etc/shadow")
    r = rule(path=str(src))
    changes = [(r, str(src), "/app"), (r, str(src / "esc" / "secret"), "/app/esc/secret"),
               (r, str(src / "up" / "outside" / "secret"), "/app/up/outside/secret")]
    copies, deletes = ws.split(changes)
    assert [c for _, _, c in copies] == ["/app"] and deletes == []   # nothing below a link
    got = names(ws.entries(copies))
    assert sorted(got) == sorted([
        "app:1000", "app/d:1000", "app/d/f:1000", "app/d/sock@/etc/shadow:1000",
        f"app/esc@{outside}:1000", "app/up@..:1000"])


def test_deletions_and_setuid_bits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "run").write_text("#!/bin/sh\n")
    os.chmod(src / "run", 0o4755)
    r = rule(path=str(src))
    copies, deletes = ws.split([(r, str(src / "gone"), "/app/gone"),
                                (r, str(src / "gone" / "deeper"), "/app/gone/deeper"),
                                (r, str(src / "run"), "/app/run")])
    assert deletes == ["/app/gone"]
    buf = io.BytesIO()
    ws.archive(ws.entries(copies), buf, 0, 0)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        (m,) = tar.getmembers()
    assert m.name == "app/run" and m.mode == 0o755
