"""COPY --parents (BuildKit's semantics, `/./` pivot included), symbolic --chmod and
--exclude, built for real FROM the busybox fixture image; what lands in the image is read
back by a RUN inside it (stat) and from its layers."""

from __future__ import annotations

import os

import pytest

from pystack.runtime.build.errors import BuildError
from tests.integration.build.conftest import Ctx, image_file

pytestmark = pytest.mark.root


def modes(ctx: Ctx) -> dict[str, str]:
    text = image_file("built:copyfeat", "modes") or ""
    return {path: mode for mode, path in (ln.split() for ln in text.splitlines())}


def test_copy_parents_pivot_and_patterns(ctx: Ctx) -> None:
    for rel in ("x/a.txt", "y/a.txt", "x/y/b.txt", "x/y/c.md", "pkg/one/package.json",
                "pkg/two/deep/package.json", "pkg/two/other.txt", "tree/sub/f"):
        ctx.write(rel, rel + "\n")
    os.chmod(ctx.root / "pkg" / "two", 0o750)
    os.symlink("/etc", ctx.root / "hostlink")
    ctx.build("FROM local/busybox:latest\n"
              "COPY --parents ./x/a.txt ./y/a.txt /parents/\n"
              "COPY x/a.txt y/a.txt /flat/\n"
              "COPY --parents ./x/./y/*.txt /pivot/\n"
              "COPY --parents pkg/**/package.json /app/\n"
              "COPY --parents tree /whole/\n"
              "COPY --parents nothing*.txt hostlink/*.conf /none/\n"
              "RUN cd / && stat -c '%a %n' app/pkg/two app/pkg/one/package.json > /modes\n",
              tags=("built:copyfeat",))
    f = image_file
    assert f("built:copyfeat", "parents/x/a.txt") == "x/a.txt\n"
    assert f("built:copyfeat", "parents/y/a.txt") == "y/a.txt\n"
    assert f("built:copyfeat", "flat/a.txt") == "y/a.txt\n"         # no parents: flattened
    assert f("built:copyfeat", "pivot/y/b.txt") == "x/y/b.txt\n"     # kept below the pivot
    assert f("built:copyfeat", "pivot/y/c.md") is None
    assert f("built:copyfeat", "pivot/x/y/b.txt") is None
    assert f("built:copyfeat", "app/pkg/one/package.json") == "pkg/one/package.json\n"
    assert f("built:copyfeat", "app/pkg/two/deep/package.json") == "pkg/two/deep/package.json\n"
    assert f("built:copyfeat", "app/pkg/two/other.txt") is None
    assert f("built:copyfeat", "whole/tree/sub/f") == "tree/sub/f\n"
    assert f("built:copyfeat", "none/etc") is None and f("built:copyfeat", "none") is None
    assert modes(ctx) == {"app/pkg/two": "750", "app/pkg/one/package.json": "644"}
    with pytest.raises(BuildError) as e:
        ctx.build("FROM local/busybox:latest\nCOPY --parents ./x/missing.txt /p/\n")
    assert "missing.txt" in e.value.message and e.value.where == "Dockerfile:2"


def test_symbolic_chmod_and_exclude(ctx: Ctx) -> None:
    """--exclude is matched below each source (as BuildKit's copier: a source named
    itself is never excluded)."""
    ctx.write("m/run.sh", "echo\n")
    ctx.write("m/data", "d\n")
    ctx.write("m/skip.log", "no\n")
    os.chmod(ctx.root / "m" / "run.sh", 0o664)
    os.chmod(ctx.root / "m" / "data", 0o600)
    ctx.build("FROM local/busybox:latest\n"
              "COPY --chmod=u+x,g-w m/run.sh /s/run.sh\n"
              "COPY --chmod=a=rX --exclude=*.log m/ /x/\n"
              "COPY --chmod=go=u m/data /copy\n"
              "COPY --chmod=0750 m/data /oct\n"
              "RUN cd / && stat -c '%a %n' s/run.sh x x/run.sh x/data copy oct > /modes\n"
              "COPY --exclude=m/*.log . /all/\n"
              "COPY --exclude=*.log m/skip.log /kept.log\n"
              "RUN test ! -e /x/skip.log && test ! -e /all/m/skip.log && test -f /all/m/data\n"
              "RUN test -f /kept.log\n", tags=("built:copyfeat",))
    assert modes(ctx) == {"s/run.sh": "744", "x": "555", "x/run.sh": "444",
                          "x/data": "444", "copy": "666", "oct": "750"}
    for bad in ("u+q", "9", "a=rwx,"):
        with pytest.raises(BuildError) as e:
            ctx.build(f"FROM local/busybox:latest\nCOPY --chmod={bad} m/data /d\n")
        assert "invalid chmod parameter" in e.value.message and e.value.where == "Dockerfile:2"
