"""The host-wide network lock against a local user (issue 9 item 9).

It lived in /run/lock, which anyone may write: a user's symlink there made root create a file
of the user's choosing, and a user holding a flock on it blocked every `up`.  Now it lives in
a 0700 directory of root's under /run, is opened without following links, and must be root's.
The mechanism is attacked here in a world-writable sticky directory of the test's own (what
/run/lock is), by an unprivileged user made by the test.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pystack.net.errors import NetConfigError
from pystack.net.state import HOST_LOCK_DIR, Store
from tests.integration.security.intruder import (  # noqa: F401
    intruder,
    public_dir,
    run_as,
)

pytestmark = pytest.mark.root

PLANT = r"""
import fcntl, json, os, sys, time
pub, kind, target = sys.argv[1:4]
locks = os.path.join(pub, "locks")
if kind == "dir-link":                  # the lock directory itself is a symlink
    os.symlink(target, locks)
else:                                   # the user's own dir, the lock a symlink or held
    os.mkdir(locks, 0o777)
    os.chmod(locks, 0o777)
    if kind == "file-link":
        os.symlink(target, os.path.join(locks, "net-ipam.lock"))
print(json.dumps("planted"))
"""


@pytest.fixture
def pub(public_dir: Path) -> Path:  # noqa: F811
    """A world-writable sticky directory, as /run/lock is."""
    d = public_dir / "pub"
    d.mkdir()
    os.chmod(d, 0o1777)
    return d


@pytest.mark.parametrize("kind", ["dir-link", "file-link", "own-dir"])
def test_planted_lock_is_refused_and_nothing_is_created(
        intruder: tuple[int, int], pub: Path, kind: str) -> None:  # noqa: F811
    victim = pub.parent / "root-only"
    victim.mkdir(mode=0o700)
    target = victim if kind == "dir-link" else victim / "made-by-root"
    assert run_as(intruder, PLANT, str(pub), kind, str(target)) == "planted"
    with pytest.raises(NetConfigError, match="lock"), Store.host_lock(pub / "locks"):
        pass
    assert os.listdir(victim) == []                     # root created nothing for the user
    assert os.lstat(pub / "locks").st_uid == intruder[0]   # nor changed the user's entry


def test_host_lock_lives_where_only_root_can_write() -> None:
    parent = os.stat(HOST_LOCK_DIR.parent)
    assert parent.st_uid == 0 and not parent.st_mode & 0o022
    with Store.host_lock():
        st = os.lstat(HOST_LOCK_DIR)
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0
        assert stat.S_IMODE(st.st_mode) == 0o700
        lock = os.lstat(HOST_LOCK_DIR / "net-ipam.lock")
        assert stat.S_ISREG(lock.st_mode) and lock.st_uid == 0
        assert stat.S_IMODE(lock.st_mode) == 0o600
