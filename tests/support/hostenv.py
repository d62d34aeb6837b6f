"""Per-session isolation knobs and the host-state snapshot behind the leak check.

Every object pystack creates on the host is findable by a knob the tests set per session:
  PYSTACK_ROOT, PYSTACK_RUN      state dirs (mounts, pinned netns live under them)
  PYSTACK_CGROUP_PARENT          cgroup directory under each hierarchy
  PYSTACK_IFPREFIX               first characters of every host link name (bridges, veths)
  PYSTACK_NFT_TABLE              the nftables table (inet family) holding all rules
So a session checks only its own objects, even while other sessions run on the machine.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

CGROUP_BASE = Path("/sys/fs/cgroup")


def session_environment() -> dict[str, str]:
    tag = secrets.token_hex(2)
    base = Path(tempfile.mkdtemp(prefix=f"pystack-test-{tag}-"))
    (base / "root").mkdir()
    (base / "run").mkdir()
    return {
        "PYSTACK_TEST_TAG": tag,
        "PYSTACK_TEST_BASE": str(base),
        "PYSTACK_ROOT": str(base / "root"),
        "PYSTACK_RUN": str(base / "run"),
        "PYSTACK_CGROUP_PARENT": f"pystack-test-{tag}",
        "PYSTACK_IFPREFIX": "t" + tag[:3],
        "PYSTACK_NFT_TABLE": f"pystack_t{tag}",
    }


def _mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(prefix):
                out.append(mp)
    return out


def _links(prefix: str) -> list[str]:
    out = []
    for name in os.listdir("/sys/class/net"):
        if name.startswith(prefix):
            out.append(name)
    return out


def _cgroups(parent: str) -> list[str]:
    """Every directory named `parent` anywhere in the cgroup tree: at the root of a v2 or v1
    hierarchy, under a v1 controller's mount, or nested in a systemd slice or scope."""
    out: list[str] = []
    if not CGROUP_BASE.is_dir():
        return out
    for top, dirs, _files in os.walk(CGROUP_BASE):
        if parent in dirs:
            out.append(os.path.join(top, parent))
            dirs.remove(parent)
    return out


def _nft_rules(table: str) -> list[str]:
    nft = shutil.which("nft")
    if nft is None:
        return []
    r = subprocess.run([nft, "list", "table", "inet", table], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    return [ln.strip() for ln in r.stdout.splitlines()
            if ln.strip() and not ln.strip().startswith(("table", "chain", "}", "type", "policy"))]


def _processes(marker: str) -> list[str]:
    out = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in raw or marker.encode() in environ:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if "State:\tZ" in status:
                continue
            cmd = raw.replace(b"\0", b" ").decode(errors="replace")[:120]
            out.append(f"{pid} {cmd}")
    return out


def leftovers(env: dict[str, str]) -> dict[str, list[str]]:
    """What this session's pystack objects still exist on the host."""
    found = {
        "mounts": _mounts_under(env["PYSTACK_TEST_BASE"]),
        "links": _links(env["PYSTACK_IFPREFIX"]),
        "cgroups": _cgroups(env["PYSTACK_CGROUP_PARENT"]),
        "nft rules": _nft_rules(env["PYSTACK_NFT_TABLE"]),
        "processes": _processes(env["PYSTACK_ROOT"]),
    }
    return {k: v for k, v in found.items() if v}
