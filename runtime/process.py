"""What runs as the container's PID 1: the Docker merge of the spec with the image config.

Entrypoint/Cmd (an explicit entrypoint drops the image's Cmd), Env (image first, spec on top,
PATH and HOME and HOSTNAME filled in), WorkingDir and User.  Users and groups are resolved
from the image's /etc/passwd and /etc/group read as TEXT from the rootfs layers, never
through NSS (runtime.md §2.3.2).  Pure functions: unit-tested without root.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pystack.runtime import layerview
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ContainerSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    groups: tuple[int, ...]     # supplementary groups
    home: str


@dataclass(frozen=True)
class Process:
    argv: tuple[str, ...]
    env: tuple[str, ...]        # "KEY=value"
    cwd: str
    user: User


def merge_argv(spec: ContainerSpec) -> tuple[str, ...]:
    img = spec.image
    if spec.entrypoint is not None:
        entry = spec.entrypoint
        cmd = spec.command or ()
    else:
        entry = img.entrypoint or ()
        cmd = spec.command if spec.command is not None else (img.cmd or ())
    argv = tuple(entry) + tuple(cmd)
    if not argv:
        raise ContainerRuntimeError(
            f"no command specified for container {spec.name}",
            hint="give the service a command or entrypoint, or use an image with a CMD")
    return argv


def merge_env(base: Sequence[str], overrides: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in base:
        k, _, v = item.partition("=")
        if k:
            env[k] = v
    env.update(overrides)
    return env


def parse_passwd(text: str) -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, home) rows; malformed lines are skipped as libc does."""
    rows = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or line.startswith("#"):
            continue
        try:
            rows.append((parts[0], int(parts[2]), int(parts[3]), parts[5]))
        except ValueError:
            continue
    return rows


def parse_group(text: str) -> list[tuple[str, int, tuple[str, ...]]]:
    """(name, gid, members) rows."""
    rows = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 4 or line.startswith("#"):
            continue
        try:
            members = tuple(m for m in parts[3].split(",") if m)
            rows.append((parts[0], int(parts[2]), members))
        except ValueError:
            continue
    return rows


def _gid_of(name: str, groups: list[tuple[str, int, tuple[str, ...]]]) -> int:
    if name.isdigit():
        return int(name)
    for gname, gid, _ in groups:
        if gname == name:
            return gid
    raise ContainerRuntimeError(f"unable to find group {name}: no matching entries in group file")


def resolve_user(user: str, passwd: str, group: str, group_add: Sequence[str] = ()) -> User:
    """Docker/runc semantics of `user: name|uid[:group|gid]` against the image's files."""
    users = parse_passwd(passwd)
    groups = parse_group(group)
    uname, _, gpart = (user or "0").partition(":")
    uid, gid, home, name = 0, 0, "/", ""
    found = False
    for n, u, g, h in users:
        if (uname.isdigit() and u == int(uname)) or n == uname:
            uid, gid, home, name, found = u, g, h or "/", n, True
            break
    if not found:
        if not uname.isdigit():
            raise ContainerRuntimeError(
                f"unable to find user {uname}: no matching entries in passwd file")
        uid = int(uname)
    if gpart:
        gid = _gid_of(gpart, groups)
    extra: list[int] = []
    if name and not gpart:
        extra = [g for _, g, members in groups if name in members]
    for name_or_gid in group_add:
        extra.append(_gid_of(name_or_gid, groups))
    supplementary = tuple(dict.fromkeys(x for x in extra if x != gid))
    return User(uid=uid, gid=gid, groups=supplementary, home=home)


def read_rootfs_file(layers: Sequence[Path], rel: str) -> str:
    """`rel` of the image (layers given topmost first) as the container will see it: symlinks,
    whiteouts and opaque dirs resolved inside the layers, never on the host; "" if none."""
    return layerview.read_text(layers, rel)


def hostname_of(spec: ContainerSpec) -> str:
    """Docker's rule: the given hostname, else the host's (host network), else the short id."""
    if spec.hostname:
        return spec.hostname
    if spec.network_mode == "host":
        import socket

        return socket.gethostname()
    return spec.id[:12]


def build(spec: ContainerSpec, layers_top_first: Sequence[Path]) -> Process:
    """The final argv/env/cwd/user of the container's PID 1."""
    argv = merge_argv(spec)
    if spec.init:
        argv = ("/sbin/docker-init", "--", *argv)
    user = resolve_user(spec.user or spec.image.user or "0",
                        read_rootfs_file(layers_top_first, "etc/passwd"),
                        read_rootfs_file(layers_top_first, "etc/group"), spec.group_add)
    env = merge_env(spec.image.env, spec.env)
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOSTNAME", hostname_of(spec))
    env.setdefault("HOME", user.home)
    cwd = spec.working_dir or spec.image.working_dir or "/"
    if not cwd.startswith("/"):
        raise ContainerRuntimeError(f"the working directory '{cwd}' is invalid, it needs to be "
                                    "an absolute path")
    return Process(argv=argv, env=tuple(f"{k}={v}" for k, v in env.items()), cwd=cwd, user=user)


def lookup_path(name: str, env: Sequence[str]) -> str | None:
    """PATH lookup with the CONTAINER's PATH (runtime.md §2.3.9); call it inside the new root."""


    if "/" in name:
        return name
    path = DEFAULT_PATH
    for item in env:
        if item.startswith("PATH="):
            path = item[5:]
    for d in path.split(":"):
        cand = f"{d or '.'}/{name}"
        if os.access(cand, os.X_OK) and not os.path.isdir(cand):
            return cand
    return None
