"""Who may talk to a shim, and what an edited state record can make root do (issue 9 item 8).

An unprivileged local user, made by the test and removed after, tries the shim's control
socket of a container started under umask 000 in a run dir anyone can enter (the default
/run/pystack was 0755): on the old code the socket was 0777 and the shim ran the user's exec
as root.  Then, with the socket's modes loosened by hand, the SO_PEERCRED check alone must
refuse.  And a sandbox record edited to point at a host directory and a host link must not
make root's teardown delete either.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
from pystack.net.manager import NetworkManager
from pystack.runtime.linux_runtime import LinuxRuntime
from pystack.runtime.state import Paths
from tests.integration.runtime.conftest import Make, make, rt  # noqa: F401
from tests.integration.security.intruder import (  # noqa: F401
    intruder,
    public_dir,
    run_as,
)

pytestmark = pytest.mark.root

# Run as the unprivileged user: connect, ask for a privileged exec that writes a file.
CLIENT = r"""
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": e.errno})); sys.exit(0)
null = os.open("/dev/null", os.O_RDWR)
req = {"op": "exec", "spec": {"argv": ["sh", "-c", "echo pwned > /pwned"], "privileged": True}}
socket.send_fds(s, [json.dumps(req).encode()], [null, null, null])
s.settimeout(20)
print(json.dumps({"reply": s.recv(65536).decode()}))
"""


@pytest.fixture
def open_run(public_dir: Path,  # noqa: F811
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PYSTACK_RUN anyone may enter, and umask 000, in force when the shims start."""
    monkeypatch.setenv("PYSTACK_RUN", str(public_dir))
    old = os.umask(0)
    try:
        yield public_dir
    finally:
        os.umask(old)


def test_unprivileged_user_cannot_drive_a_shim(
        intruder: tuple[int, int], open_run: Path, rt: LinuxRuntime,  # noqa: F811
        make: Make) -> None:  # noqa: F811
    spec = make("sleep", "60")
    rt.start(spec.id)
    paths = Paths(dir=rt.containers / spec.id, id=spec.id)
    sock = paths.socket
    pwned = paths.upper / "pwned"
    got = run_as(intruder, CLIENT, str(sock))
    assert not pwned.exists(), f"an unprivileged user ran a privileged exec: {got}"
    assert got.get("connect") == 13, got                # EACCES: the modes stop it
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sock.parent).st_mode) == 0o700
    # Modes loosened by someone: the peer check alone still refuses.
    os.chmod(sock.parent, 0o755)
    os.chmod(sock, 0o666)
    got = run_as(intruder, CLIENT, str(sock))
    assert "permission denied" in str(got.get("reply")), got
    assert not pwned.exists()
    # root still gets its answers
    assert rt.state(spec.id).status == "running"


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("cs" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def test_edited_sandbox_record_cannot_aim_teardown(mgr: NetworkManager, tmp_path: Path) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    mgr.create_sandbox(f"{p}-c", DnsConfig(servers=("127.0.0.1",)))
    mgr.attach(f"{p}-c", AttachSpec(f"{p}_a"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("host data\n")
    link = "vic" + secrets.token_hex(3)        # a host link that is none of pystack's
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        path = mgr.store.sandbox_path(f"{p}-c")
        rec = json.loads(path.read_text())
        rec["hosts"] = str(victim / "hosts")
        rec["resolv"] = str(victim / "resolv.conf")
        rec["pin"] = str(victim / "precious")
        rec["attachments"][0]["host"] = link
        path.write_text(json.dumps(rec))
        files = mgr.store.files / f"{p}-c"
        mgr.teardown()
        assert (victim / "precious").read_text() == "host data\n"
        assert Path(f"/sys/class/net/{link}").exists()
        assert not files.exists() and not path.exists()     # pystack's own are gone
    finally:
        subprocess.run(["ip", "link", "del", link], check=False)
