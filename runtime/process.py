"""What runs as the container's PID 1: the Docker merge of the spec with the image config.

Entrypoint/Cmd (an explicit entrypoint drops the image's Cmd), Env (image first, spec on top,
PATH and HOME and HOSTNAME filled in), WorkingDir and User (resolved by users.py from the
image's /etc/passwd and /etc/group read as text from the layers, never through NSS).  Pure
functions: unit-tested without root.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pystack.runtime import layerview, users
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ContainerSpec
from pystack.runtime.users import User as User
from pystack.runtime.users import parse_group as parse_group
from pystack.runtime.users import parse_passwd as parse_passwd
from pystack.runtime.users import resolve_user as resolve_user

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def read_rootfs_file(layers: Sequence[Path], rel: str) -> str:
    """`rel` of the image (layers given topmost first) as the container will see it: symlinks,
    whiteouts and opaque dirs resolved inside the layers, never on the host; "" if none."""
    return layerview.read_text(layers, rel)


def hostname_of(spec: ContainerSpec) -> str:
    """Docker's rule: the host's (uts: host), else the given hostname, else the host's (host
    network), else the short id."""
    if spec.hostname and spec.uts_namespace != "host":
        return spec.hostname
    if spec.network_mode == "host" or spec.uts_namespace == "host":
        import socket

        return socket.gethostname()
    return spec.id[:12]


def build(spec: ContainerSpec, layers_top_first: Sequence[Path]) -> Process:
    """The final argv/env/cwd/user of the container's PID 1."""
    argv = merge_argv(spec)
    if spec.init:
        argv = ("/sbin/docker-init", "--", *argv)
    user = users.resolve(layers_top_first, spec.user or spec.image.user, spec.group_add)
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
