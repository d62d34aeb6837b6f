"""Who a container's process runs as: `user:` and `group_add` resolved the way Docker (runc's
moby/sys/user) does, against the IMAGE's /etc/passwd and /etc/group read as text, never NSS.

The forms are `name`, `uid`, `name:group`, `uid:gid` (and `name:gid`, `uid:group`).  A numeric
user is always a uid (never a name), a uid missing from passwd is fine (gid 0, HOME /), a name
missing from it is an error.  When the user matched a passwd entry and no group is given, the
primary gid is the entry's and the supplementary groups are every group listing the name as a
member; an explicit group replaces both.  `group_add` entries (names or gids) come after.

`resolve(layers, user)` reads the files through layerview (symlinks resolved inside the image,
no FIFO or device read, nothing followed out of the layers), so it can run on the host, as
root, before the container exists (create, start, run) or beside it (exec, with the
container's upper dir as the topmost layer).  The parsers are pure and fuzzed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pystack.runtime import layerview
from pystack.runtime.errors import ContainerRuntimeError

MAX_ID = (1 << 31) - 1                 # runc's range for a uid or gid


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    groups: tuple[int, ...]     # supplementary groups
    home: str



def _id(text: str) -> int | None:
    """A decimal id, or None (runc's strconv.Atoi: an optional sign is not an id here)."""
    return int(text) if text.isascii() and text.isdigit() else None


def _lines(text: str) -> list[list[str]]:
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(line.split(":"))
    return out


def parse_passwd(text: str) -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, home) rows.  Short lines are read as runc reads them (missing fields
    empty); a line whose uid or gid is not a number is skipped (runc would read it as 0)."""
    rows = []
    for parts in _lines(text):
        if len(parts) < 4:
            continue
        uid, gid = _id(parts[2]), _id(parts[3])
        if uid is None or gid is None or max(uid, gid) > MAX_ID:
            continue
        rows.append((parts[0], uid, gid, parts[5] if len(parts) > 5 else ""))
    return rows


def parse_group(text: str) -> list[tuple[str, int, tuple[str, ...]]]:
    """(name, gid, members) rows; a line without a numeric gid is skipped."""
    rows = []
    for parts in _lines(text):
        if len(parts) < 3:
            continue
        gid = _id(parts[2])
        if gid is None:
            continue
        members = tuple(m.strip() for m in parts[3].split(",") if m.strip()) \
            if len(parts) > 3 else ()
        rows.append((parts[0], gid, members))
    return rows


def _in_range(what: str, value: int) -> int:
    if value > MAX_ID:
        raise ContainerRuntimeError(f"{what} {value} is out of range (0 to {MAX_ID})")
    return value


def _group_id(name: str, groups: list[tuple[str, int, tuple[str, ...]]]) -> int:
    """The gid of `name`: a group of the file by name (or by gid), else a plain gid (which
    need not be in the file); a name that is not there is an error."""
    for gname, gid, _ in groups:
        if gname == name or str(gid) == name:
            return gid
    num = _id(name)
    if num is None:
        raise ContainerRuntimeError(f"unable to find group {name}: no matching entries in "
                                    "group file")
    return _in_range("gid", num)


def resolve_user(user: str, passwd: str, group: str, group_add: Sequence[str] = ()) -> User:
    """Docker/runc semantics of `user: name|uid[:group|gid]` (+ group_add) against the
    image's passwd and group text."""
    uname, _, gpart = (user or "0").partition(":")
    uname = uname or "0"
    users = parse_passwd(passwd)
    uid_arg = _id(uname)
    uid, gid, home, matched = 0, 0, "/", ""
    for name, u, g, h in users:
        if (u == uid_arg) if uid_arg is not None else (name == uname):
            uid, gid, home, matched = u, g, h or "/", name
            break
    else:
        if uid_arg is None:
            raise ContainerRuntimeError(
                f"unable to find user {uname}: no matching entries in passwd file")
        uid = _in_range("uid", uid_arg)
    groups = parse_group(group) if (gpart or matched or group_add) else []
    extra: list[int] = []
    if gpart:
        gid = _group_id(gpart, groups)
    elif matched:
        extra = [g for _, g, members in groups if matched in members]
    for name_or_gid in group_add:
        extra.append(_group_id(name_or_gid, groups))
    supplementary = tuple(dict.fromkeys(x for x in extra if x != gid))
    return User(uid=uid, gid=gid, groups=supplementary, home=home)


def resolve(layers_top_first: Sequence[Path], user: str | None,
            group_add: Sequence[str] = ()) -> User:
    """`user` (None or "": root) resolved against the image whose layer directories are
    given topmost first (for a running container: its upper dir first).  Safe on the host:
    the files are read through layerview, never through a path the image controls."""
    return resolve_user(user or "0", layerview.read_text(layers_top_first, "etc/passwd"),
                        layerview.read_text(layers_top_first, "etc/group"), group_add)
