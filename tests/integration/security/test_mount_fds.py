"""The fd-to-fd mounts of runtime/safefs.py seen from inside a container: read-only and
propagation as asked, and a target reached through a symlink that a container planted in a
shared directory lands inside the rootfs, never on the host."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.spec import Mount
from tests.integration.runtime.conftest import Make, make, rt, run  # noqa: F401

pytestmark = pytest.mark.root


def test_binds_keep_read_only_and_propagation(rt: LinuxRuntime,  # noqa: F811
                                             make: Make, tmp_path: Path) -> None:  # noqa: F811
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x\n")
    # a shared mount on the host, so that slave and shared binds have a peer group to keep
    subprocess.run(["mount", "--bind", str(src), str(src)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(src)], check=True)
        _check_binds(rt, make, src)
    finally:
        subprocess.run(["umount", "-l", str(src)], check=True)


def _check_binds(rt: LinuxRuntime, make: Make, src: Path) -> None:  # noqa: F811
    script = ("for t in /ro /shared /slave /private; do "
              "grep \" $t \" /proc/self/mountinfo | cut -d' ' -f6- | sed 's/ - .*//'; done; "
              "touch /ro/new 2>/dev/null || echo ro-refused; cat /slave/f")
    spec = make("sh", "-c", script, mounts=(
        Mount(type="bind", source=str(src), target="/ro", read_only=True),
        Mount(type="bind", source=str(src), target="/shared", propagation="rshared"),
        Mount(type="bind", source=str(src), target="/slave", propagation="rslave"),
        Mount(type="bind", source=str(src), target="/private")))
    st, out = run(rt, spec)
    assert st.exit_code == 0, out
    lines = out.splitlines()
    opts = {t: lines[i].split() for i, t in enumerate(("ro", "shared", "slave", "private"))}
    assert opts["ro"][0].startswith("ro,") and opts["shared"][0].startswith("rw,")
    assert opts["shared"][1].startswith("shared:")        # its own peer group...
    assert opts["shared"][2].startswith("master:")        # ...receiving the host's events
    assert [o[:7] for o in opts["slave"][1:]] == ["master:"]
    assert opts["private"][1:] == opts["ro"][1:] == []   # no peer group, no master
    assert lines[4:] == ["ro-refused", "x"]
    assert not (src / "new").exists()


def test_target_through_a_planted_symlink_stays_in_the_rootfs(
        rt: LinuxRuntime, make: Make, tmp_path: Path) -> None:  # noqa: F811
    shared = tmp_path / "shared"
    shared.mkdir()
    name = f"pystack-planted-{secrets.token_hex(4)}"
    os.symlink("/", shared / "evil")                     # what a hostile container leaves
    spec = make("sh", "-c", f"grep ' /{name} ' /proc/self/mountinfo | cut -d' ' -f9", mounts=(
        Mount(type="bind", source=str(shared), target="/shared"),
        Mount(type="tmpfs", target=f"/shared/evil/{name}")))
    st, out = run(rt, spec)
    assert st.exit_code == 0, out
    assert out.split() == ["tmpfs"]                       # inside the container's own /
    assert not Path("/", name).exists()                   # and nothing on the host
    assert os.readlink(shared / "evil") == "/"
