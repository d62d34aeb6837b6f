"""Attack: an unprivileged local user reaches into pystack's state (issue 9 item 3).  With
PYSTACK_ROOT 0755 a container's upper dir is open to every user: a setuid-root binary or a
0666 device node written by the container is theirs to run or open, and a secret written
for a service (0444) is theirs to read, and stays after `down`.

The roots here already exist with mode 0755 (an install from before the fix) and `up` runs
under umask 000: pystack must narrow the roots to 0700 itself and never rely on the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.security.fsattack import BUSYBOX, SLEEP, Projects
from tests.integration.security.intruder import (  # noqa: F401
    intruder,
    public_dir,
    run_as,
)
from tests.support.busybox import IMAGE_CMD, IMAGE_ENV

pytestmark = pytest.mark.root

# Run as the intruder: how far it gets with each host path given.
PROBE = r"""
import json, os, sys
out = {}
for p in sys.argv[1:]:
    try:
        if p.endswith("secret"):
            with open(p) as f:
                out[p] = f.read()
        else:
            fd = os.open(p, os.O_RDONLY if p.endswith("suid") else os.O_WRONLY)
            st = os.fstat(fd)
            os.close(fd)
            out[p] = "opened mode %o" % st.st_mode
    except OSError as e:
        out[p] = e.errno
print(json.dumps(out))
"""

STACK = f"""
services:
  app:
    image: {BUSYBOX}
    command: {SLEEP}
    secrets: [token]
secrets:
  token:
    environment: PS_SEC_TOKEN
"""


@pytest.fixture
def old_roots(public_dir: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
              busybox_tar: Path) -> Iterator[tuple[Path, Path]]:
    """PYSTACK_ROOT and PYSTACK_RUN under a dir anyone may walk, made 0755 as before."""
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.image.store import ImageStore

    root, run = public_dir / "root", public_dir / "run"
    for d in (root, run):
        d.mkdir()
        d.chmod(0o755)
    monkeypatch.setenv("PYSTACK_ROOT", str(root))
    monkeypatch.setenv("PYSTACK_RUN", str(run))
    monkeypatch.setenv("PS_SEC_TOKEN", "TOPSECRET")
    ImageStore().import_rootfs(busybox_tar, BUSYBOX,
                               ImageConfig(env=tuple(IMAGE_ENV), cmd=tuple(IMAGE_CMD)))
    yield root, run
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(public_dir) not in mounts                   # nothing left mounted


def test_a_local_user_reaches_nothing_in_the_state_dirs(
        tmp_path: Path, old_roots: tuple[Path, Path],
        intruder: tuple[int, int]) -> None:  # noqa: F811
    root, run = old_roots
    ps = Projects(tmp_path)
    old = os.umask(0)
    try:
        p = ps.make(STACK)
        p.run("up", "-d")
        p.run("exec", "-T", "app", "sh", "-c",
              "cp /bin/busybox /suid && chmod 4755 /suid && mknod -m 666 /dev-node c 1 3")
        (upper,) = root.glob("containers/*/upper")
        secret = next(root.glob(f"projects/{p.name}/secrets/*"))
        suid, node = upper / "suid", upper / "dev-node"
        assert os.lstat(suid).st_mode & stat.S_ISUID          # the bait is there
        assert secret.read_text() == "TOPSECRET"
        got = run_as(intruder, PROBE, f"{suid}", f"{node}", f"{secret}")
        assert got == {str(suid): 13, str(node): 13, str(secret): 13}, got   # EACCES
        for d in (root, run):
            assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
        # the container still reads its secret (Compose's default mode 0444)
        assert p.run("exec", "-T", "app", "cat", "/run/secrets/token").stdout == "TOPSECRET"
        p.run("down")
        assert not secret.exists()
        assert not (root / "projects" / p.name / "secrets").exists()
    finally:
        os.umask(old)
        ps.close()
