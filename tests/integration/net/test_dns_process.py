"""The embedded DNS server runs as root for as long as the project has sandboxes: it gets
pystack's knobs and a fixed PATH, never the caller's environment (a secret in root's shell
would be readable in /proc/<pid>/environ for the server's life), and its imports never come
from the caller's working directory (`python -m` puts the cwd first on sys.path: a project
directory holding a `pystack/` package would have run as root)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net import dns
from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
from pystack.net.manager import NetworkManager
from tests.integration.net.helpers import project_manager

pytestmark = pytest.mark.root
SECRET = "polish-" + secrets.token_hex(8)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with a hostile `pystack` package and a secret in the environment;
    the package's modules write `marker` when imported."""
    marker = tmp_path / "marker"
    code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for sub in ("pystack", "pystack/net"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "__init__.py").write_text(code)
    (tmp_path / "pystack/net/dnsserver.py").write_text(code)
    monkeypatch.setenv("POLISH_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)
    yield marker


@pytest.fixture
def mgr(planted: Path) -> Iterator[NetworkManager]:
    with project_manager("dp") as m:
        yield m


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def test_the_dns_server_gets_no_caller_environment_and_no_cwd_imports(
        mgr: NetworkManager, planted: Path) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    mgr.create_sandbox(f"{p}-c1", DnsConfig(servers=("127.0.0.1",), hostname="c1",
                                            embedded=True))
    mgr.attach(f"{p}-c1", AttachSpec(f"{p}_a"))        # returns once the server serves it
    supervisor = int(dns.paths(mgr.knobs, p)[1].read_text())
    workers = _children(supervisor)
    assert len(workers) == 1
    for pid in (supervisor, *workers):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"pystack.net.dnsserver" in argv
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        env = dict(e.split(b"=", 1) for e in raw.split(b"\0") if e)
        assert SECRET.encode() not in raw
        assert {k for k in env if not k.startswith(b"PYSTACK_")} == {b"PATH"}
        assert env[b"PATH"] == PATH.encode()
        assert env[b"PYSTACK_RUN"] == str(mgr.knobs.run).encode()
        assert Path(f"/proc/{pid}/cwd").resolve() == Path("/")
    assert not planted.exists(), planted.read_text()
