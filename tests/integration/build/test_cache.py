"""The layer cache, BuildKit's model: what hits and what misses (root, real builds).

no-op rebuild, touch (hit), edit (miss from that COPY on), changed build arg (miss from the
first RUN that sees it), changed heredoc body (miss: buildah#5656 / podman#24089), change to a
.dockerignore'd file (hit), a LABEL change does not re-run RUNs, --no-cache runs everything,
and the cache is shared by two contexts (projects) with the same content."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration.build.conftest import Ctx

pytestmark = pytest.mark.root

DF = """FROM local/busybox:latest
ARG MODE=dev
COPY src/ /src/
RUN cat /src/*.txt > /all
RUN echo "$MODE" > /mode
RUN <<EOF
echo heredoc-one > /h
EOF
LABEL stage=test
"""


def _ctx(ctx: Ctx) -> Ctx:
    ctx.write("src/a.txt", "a\n")
    ctx.write("src/b.txt", "b\n")
    ctx.write("src/ignored.log", "x\n")
    ctx.write(".dockerignore", "**/*.log\n")
    ctx.write("Dockerfile", DF)
    return ctx


def test_cache_matrix(ctx: Ctx) -> None:
    _ctx(ctx)
    first = ctx.build(tags=("built:cache",))
    assert first.cached == 0 and len(ctx.ran()) == 4

    again = ctx.build(tags=("built:cache",))                      # no-op
    assert again.cached == again.steps == 4 and again.image_id == first.image_id

    os.utime(ctx.root / "src" / "a.txt", (1, 1))                 # touch: mtime only
    assert ctx.build().cached == 4

    ctx.write("src/ignored.log", "changed\n")                     # excluded by .dockerignore
    assert ctx.build().cached == 4

    ctx.write("src/a.txt", "A\n")                                 # edit: COPY and after miss
    r = ctx.build()
    assert r.cached == 0 and r.image_id != first.image_id

    r = ctx.build(build_args={"MODE": "prod"})                    # build arg: RUNs miss
    assert [n.split("] ")[1] for n in ctx.cached()] == ["COPY src/ /src/"]
    assert r.cached == 1

    ctx.write("Dockerfile", DF.replace("heredoc-one", "heredoc-two"))
    r = ctx.build(build_args={"MODE": "prod"})                    # heredoc body: miss
    assert r.cached == 3 and ctx.ran() == [n for n in ctx.ran() if "<<EOF" in n]

    ctx.write("Dockerfile", DF.replace("heredoc-one", "heredoc-two").replace("stage=test", "stage=x"))
    assert ctx.build(build_args={"MODE": "prod"}).cached == 4     # LABEL: no RUN re-runs

    r = ctx.build(no_cache=True)
    assert r.cached == 0


def test_cache_shared_between_contexts(ctx: Ctx, tmp_path: Path) -> None:
    _ctx(ctx)
    ctx.write("src/a.txt", "shared-" + os.urandom(4).hex())
    ctx.build()
    other = Ctx(tmp_path / "other")
    shutil.copytree(ctx.root, other.root)
    r = other.build()
    assert r.cached == r.steps == 4


def test_mode_and_owner_are_in_the_key(ctx: Ctx) -> None:
    _ctx(ctx)
    ctx.write("src/a.txt", "mode-" + os.urandom(4).hex())
    ctx.build()
    os.chmod(ctx.root / "src" / "a.txt", 0o600)
    assert ctx.build().cached == 0
