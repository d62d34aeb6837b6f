"""runtime/statedirs.py: the state roots are made and mended 0700 whatever the umask, a root
of another user (or a user's symlink to one) is refused, private files get exactly the mode
and owner asked."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.statedirs import secure_dir, secure_roots, write_private

NOBODY = 65534


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_roots_are_made_and_mended_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, run = tmp_path / "a" / "root", tmp_path / "run"
    run.mkdir(0o777)
    monkeypatch.setenv("PYSTACK_ROOT", str(root))
    monkeypatch.setenv("PYSTACK_RUN", str(run))
    secure_roots()
    assert mode(root) == mode(run) == 0o700
    os.chmod(root, 0o755)
    secure_roots()
    assert mode(root) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_foreign_roots_are_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(0o755)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(ContainerRuntimeError, match="owned by uid 65534"):
        secure_dir(theirs, "PYSTACK_ROOT")
    assert mode(theirs) == 0o755                          # not touched
    victim = tmp_path / "etc-like"
    victim.mkdir(0o755)
    link = tmp_path / "link"
    os.symlink(victim, link)
    os.lchown(link, NOBODY, NOBODY)                       # a user's symlink to root's dir
    with pytest.raises(ContainerRuntimeError, match="symbolic link owned by uid 65534"):
        secure_dir(link, "PYSTACK_RUN")
    assert mode(victim) == 0o755
    (tmp_path / "file").write_text("")
    with pytest.raises(ContainerRuntimeError, match="PYSTACK_ROOT"):
        secure_dir(tmp_path / "file", "PYSTACK_ROOT")


@pytest.mark.usefixtures("loose_umask")
def test_write_private_sets_exactly_the_mode(tmp_path: Path) -> None:
    p = tmp_path / "secret"
    write_private(p, b"x" * 100_000, 0o400, os.geteuid(), os.getegid())
    assert mode(p) == 0o400 and p.read_bytes() == b"x" * 100_000
    write_private(p, b"again", 0o444, os.geteuid(), os.getegid())
    assert mode(p) == 0o444 and p.read_bytes() == b"again"
    assert sorted(os.listdir(tmp_path)) == ["secret"]     # no temp file left
