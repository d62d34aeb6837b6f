"""runtime/users.py: Docker's user/group resolution, and reading the files from layers kept
as the store keeps them (layers/l/<id> symlinks to the diff dirs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime import users
from pystack.runtime.errors import ContainerRuntimeError

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n  \n# comment\nbroken line\nbad:x:1x:0::/:\n"
          "postgres:x:100:102\n"
          "app:x:1000:1000:app:/home/app:/bin/sh\n42:x:7:7::/n:/bin/sh\n")
GROUP = "root:x:0:\nssl-cert:x:101:postgres, app\npostgres:x:102:\nstaff:x:50:app\nodd:x:60\n"


def test_short_passwd_lines_are_read_as_runc_does() -> None:
    u = users.resolve_user("postgres", PASSWD, GROUP)
    assert (u.uid, u.gid, u.groups, u.home) == (100, 102, (101,), "/")


def test_numeric_user_is_always_a_uid() -> None:
    assert users.resolve_user("42", PASSWD, GROUP).uid == 42       # not the user named "42"
    assert users.resolve_user("7", PASSWD, GROUP).home == "/n"


def test_explicit_group_and_group_add() -> None:
    u = users.resolve_user("app:postgres", PASSWD, GROUP, group_add=("odd", "9"))
    assert (u.uid, u.gid, u.groups) == (1000, 102, (60, 9))
    u = users.resolve_user("1000:5555", PASSWD, GROUP)
    assert (u.gid, u.groups, u.home) == (5555, (), "/home/app")
    with pytest.raises(ContainerRuntimeError, match="unable to find group nope: no matching"):
        users.resolve_user("app", PASSWD, GROUP, group_add=("nope",))
    with pytest.raises(ContainerRuntimeError, match="out of range"):
        users.resolve_user(str(1 << 32), PASSWD, GROUP)
    with pytest.raises(ContainerRuntimeError, match="unable to find user bad"):
        users.resolve_user("bad", PASSWD, GROUP)                    # its uid is not a number


def _store_like(tmp: Path, files: dict[str, str]) -> Path:
    """A layer as the image store keeps it: <root>/l/<id> -> ../<digest>/diff."""
    diff = tmp / "abc" / "diff"
    for rel, text in files.items():
        (diff / rel).parent.mkdir(parents=True, exist_ok=True)
        (diff / rel).write_text(text)
    (tmp / "l").mkdir()
    os.symlink("../abc/diff", tmp / "l" / "SHORTID")
    return tmp / "l" / "SHORTID"


def test_resolve_reads_layers_behind_the_store_symlink(tmp_path: Path) -> None:
    layer = _store_like(tmp_path, {"etc/passwd": PASSWD, "etc/group": GROUP})
    u = users.resolve([layer], "postgres")
    assert (u.uid, u.gid, u.groups) == (100, 102, (101,))
    assert users.resolve([layer], None).uid == 0


def test_resolve_never_follows_a_link_out_of_the_layers(tmp_path: Path) -> None:
    host = tmp_path / "host-passwd"
    host.write_text("evil:x:0:0::/:/bin/sh\n")
    layer = _store_like(tmp_path, {"etc/group": GROUP})
    os.symlink(str(host), Path(os.path.realpath(layer)) / "etc" / "passwd")
    with pytest.raises(ContainerRuntimeError, match="unable to find user evil"):
        users.resolve([layer], "evil")


@settings(max_examples=80)
@given(st.text(max_size=200), st.text(max_size=200),
       st.text(alphabet="ab0123:", max_size=8))
def test_resolver_never_crashes(passwd: str, group: str, user: str) -> None:
    try:
        u = users.resolve_user(user, passwd, group)
    except ContainerRuntimeError:
        return
    assert 0 <= u.uid <= users.MAX_ID and 0 <= u.gid <= users.MAX_ID
    assert u.gid not in u.groups
