"""An unprivileged local user for the attack tests: made with useradd, removed after, and a
way to run a small Python program as that user (the system interpreter, isolated mode)."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def intruder() -> Iterator[tuple[int, int]]:
    """(uid, gid) of a fresh system user without a home or a shell."""
    name = "pst" + secrets.token_hex(4)
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True)
    try:
        pw = pwd.getpwnam(name)
        yield pw.pw_uid, pw.pw_gid
    finally:
        subprocess.run(["userdel", name], check=True)


def run_as(user: tuple[int, int], program: str, *args: str, timeout: float = 30) -> Any:
    """Run `program` as `user`; it prints one JSON value, which is returned."""
    out = subprocess.run(["/usr/bin/python3", "-I", "-c", program, *args], user=user[0],
                         group=user[1], extra_groups=[], capture_output=True, text=True,
                         timeout=timeout, check=True).stdout
    return json.loads(out)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A fresh 0755 directory of root's right under /tmp, which anyone may walk into (pytest's
    own tmp dirs are 0700, and loosening those would race with other sessions)."""
    d = Path(tempfile.mkdtemp(prefix="pystack-sec-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
