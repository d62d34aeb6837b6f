"""The attacks: a context whose symlinks point outside it, crafted tarballs through ADD, and
RUN steps (and stages) that try to reach the host's files.  Root, real kernel."""

from __future__ import annotations

import os
import secrets
import tarfile
from pathlib import Path

import pytest

from pystack.runtime.build.errors import BuildError, StepFailedError
from pystack.runtime.image.store import ImageStore
from tests.integration.build.conftest import Ctx, image_file
from tests.support.images import Member, crafted_tar

pytestmark = pytest.mark.root


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    d = tmp_path / "host"
    d.mkdir()
    f = d / "secret"
    f.write_text("HOST-SECRET-" + secrets.token_hex(4))
    return f


def test_context_symlinks_never_lead_out(ctx: Ctx, host_secret: Path) -> None:
    ctx.write("real.txt", "inside\n")
    os.symlink(str(host_secret), ctx.root / "abs_link")
    os.symlink(os.path.relpath(host_secret, ctx.root), ctx.root / "rel_link")
    os.symlink(str(host_secret.parent), ctx.root / "dir_link")
    os.symlink("real.txt", ctx.root / "ok_link")
    for src in ("abs_link", "rel_link", "dir_link/secret"):
        with pytest.raises(BuildError, match="not found in the build context"):
            ctx.build(f"FROM scratch\nCOPY {src} /x\n")
    ctx.build("FROM scratch\nCOPY ok_link /followed\nCOPY . /ctx/\n", tags=("built:links",))
    assert image_file("built:links", "followed") == "inside\n"
    layers = [d.resolve() for d in ImageStore().get("built:links").layer_dirs]
    top = layers[-1]
    assert os.readlink(top / "ctx" / "abs_link") == str(host_secret)    # a link, as it was
    for d in layers:
        for p in d.rglob("*"):
            if p.is_file() and not p.is_symlink():
                assert "HOST-SECRET" not in p.read_text(errors="replace")


def test_missing_source_says_dockerignore(ctx: Ctx) -> None:
    ctx.write("secret.env", "x")
    ctx.write(".dockerignore", "*.env\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: COPY: source 'secret.env' not found "
                                         r"in the build context \(it is excluded by "
                                         r"\.dockerignore\)"):
        ctx.build("FROM scratch\nCOPY secret.env /\n")
    with pytest.raises(BuildError, match="Dockerfile:2: COPY: source 'nope' not found"):
        ctx.build("FROM scratch\nCOPY nope /\n")


@pytest.mark.parametrize("members", [
    [Member("../escape", data=b"x")],
    [Member("evil", tarfile.SYMTYPE, linkname="/"), Member("evil/tmp/pwned", data=b"x")],
    [Member("hl", tarfile.LNKTYPE, linkname="../../etc/passwd")],
], ids=["dotdot", "through-symlink", "hardlink-out"])
def test_add_crafted_tar_is_refused(ctx: Ctx, members: list[Member], tmp_path: Path) -> None:
    (ctx.root / "evil.tar").write_bytes(crafted_tar(members))
    before = sorted(p.name for p in Path("/tmp").iterdir())
    with pytest.raises(BuildError, match="Dockerfile:2: ADD"):
        ctx.build("FROM local/busybox:latest\nADD evil.tar /x/\n", tags=("built:evil",))
    assert not ImageStore().exists("built:evil")
    assert "pwned" not in before and not Path("/tmp/pwned").exists()
    assert not (tmp_path.parent / "escape").exists()


def test_add_local_tar_extracts_and_drops_whiteouts(ctx: Ctx) -> None:
    data = crafted_tar([Member("app/", tarfile.DIRTYPE, mode=0o755),
                        Member("app/run.sh", data=b"echo hi\n", mode=0o755, uid=1000,
                               gid=1000),
                        Member(".wh.etc")])
    import gzip

    (ctx.root / "app.tar.gz").write_bytes(gzip.compress(data))
    ctx.build("FROM local/busybox:latest\nADD app.tar.gz /opt/\n", tags=("built:add",))
    assert image_file("built:add", "opt/app/run.sh") == "echo hi\n"
    assert image_file("built:add", "etc/passwd")                     # /etc was not whited out


def test_run_cannot_reach_host_files(ctx: Ctx, host_secret: Path) -> None:
    with pytest.raises(StepFailedError):
        ctx.build(f"FROM local/busybox:latest\nRUN cat {host_secret}\n")
    ctx.build("FROM local/busybox:latest\n"
              "RUN ls /proc/1/root/ && cat /proc/1/mounts | cut -d' ' -f2 | sort\n")
    out = "\n".join(ctx.output())
    assert "HOST-SECRET" not in out and str(host_secret.parent) not in out
    with pytest.raises(StepFailedError):
        ctx.build("FROM local/busybox:latest\nRUN mount -t tmpfs none /mnt\n")


def test_stage_symlink_to_host_path_is_not_followed(ctx: Ctx, host_secret: Path) -> None:
    df = (f"FROM local/busybox:latest AS s1\nRUN ln -s {host_secret} /leak && "
          f"ln -s {host_secret.parent} /leakdir\n"
          "FROM scratch\nCOPY --from=s1 {src} /got\n")
    for src in ("/leak", "/leakdir/secret"):
        with pytest.raises(BuildError, match="not found in stage"):
            ctx.build(df.replace("{src}", src))
