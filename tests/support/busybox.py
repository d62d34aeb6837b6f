"""Builds the test image's root filesystem from Debian's busybox-static,
as the peers' build-image.sh does."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = Path(os.environ.get("PYSTACK_TEST_BUSYBOX", "/bin/busybox"))
IMAGE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
IMAGE_CMD = ["/bin/sh"]


def build_rootfs(root: Path) -> Path:
    """Make a busybox rootfs at `root` (created; must not exist) and return it."""
    if not BUSYBOX.exists():
        raise RuntimeError(f"{BUSYBOX} missing: run scripts/install.sh (apt busybox-static)")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "www", "root", "var/run", "usr"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in applets:
        if a != "busybox" and not (root / "bin" / a).exists():
            os.symlink("busybox", root / "bin" / a)
    os.symlink("bin", root / "sbin")
    os.symlink("../bin", root / "usr" / "bin")
    os.symlink("../bin", root / "usr" / "sbin")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "app:x:1000:1000:app:/home/app:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/:/bin/false\n")
    (root / "etc" / "group").write_text(
        "root:x:0:\ndaemon:x:1:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n")
    (root / "www" / "index.html").write_text("hello from pystack\n")
    for f in ("hosts", "resolv.conf"):
        (root / "etc" / f).write_text("")
    (root / "etc" / "hostname").write_text("busybox\n")
    return root


def rootfs_tar(root: Path, dest: Path) -> Path:
    """Pack a rootfs directory into an uncompressed tarball with numeric owners."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name)
    return dest
