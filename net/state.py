"""Where net/ keeps its records, how host objects are named, and the host-wide lock.

Layout (the knobs come from the environment, docs/architecture.md):
  $PYSTACK_ROOT/net/networks/<name>.json   one record per pystack network, every project
  $PYSTACK_RUN/net/sandboxes/<id>.json     one record per sandbox: pin, attachments, ports
  $PYSTACK_RUN/net/ns/<id>                 the bind-mounted netns pin
  $PYSTACK_RUN/net/files/<id>/{hosts,resolv.conf}   bind-mounted into the container
  $PYSTACK_RUN/net/sysctl.json             host sysctl values pystack changed, to restore
  $PYSTACK_RUN/net/lock                    flock held by every mutating operation
  /run/pystack-locks/net-ipam.lock         host-wide flock around subnet choice, in a 0700
                                           dir of root's under /run (which only root may
                                           write: /run/lock is world-writable, and a user's
                                           symlink or flock there bent or blocked root's up)
Locks are opened with O_NOFOLLOW relative to their checked directory, and must be regular
files of ours (issue 9 item 9).
Paths and host link names are never taken from a record: a sandbox record's pin, name files
and veth names, and a network record's bridge, are derived again from its (checked) id and
names when it is read, so an edited record cannot make root unmount, delete or unplug anything
outside pystack's own (issue 9 item 8).  A record whose id is not its file's name is ignored.
Records are written atomically (write, rename; plus fsync for the durable ones under
PYSTACK_ROOT — those under PYSTACK_RUN die with the boot anyway) and before the object they
describe is created, so a crash leaves a record that teardown follows to the object.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystack.net.errors import NetConfigError

IFNAMSIZ = 15
HOST_LOCK_DIR = Path("/run/pystack-locks")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")


@dataclass(frozen=True)
class Knobs:
    """net's settings: every PYSTACK_* variable net reads (PYSTACK_ROOT, PYSTACK_RUN,
    PYSTACK_IFPREFIX, PYSTACK_NFT_TABLE), with the one rule for empty values (`setting`)."""

    root: Path
    run: Path
    ifprefix: str
    nft_table: str

    @classmethod
    def from_env(cls, root: Path | None = None, run: Path | None = None) -> Knobs:
        prefix = setting("PYSTACK_IFPREFIX") or "ps"
        if not re.fullmatch(r"[a-z][a-z0-9]{0,5}", prefix):
            raise NetConfigError(f"PYSTACK_IFPREFIX {prefix!r} must be 1-6 lowercase "
                                 "letters/digits starting with a letter")
        return cls(root=root or Path(setting("PYSTACK_ROOT") or "/var/lib/pystack"),
                   run=run or Path(setting("PYSTACK_RUN") or "/run/pystack"),
                   ifprefix=prefix,
                   nft_table=setting("PYSTACK_NFT_TABLE") or "pystack")

    def owner(self) -> str:
        """A short stable name of this state root, for the nft rules it owns."""
        return hashlib.sha256(os.path.abspath(self.root).encode()).hexdigest()[:10]

    def link_name(self, kind: str, key: str) -> str:
        """`<prefix><kind><hash>`, a stable device name of at most 15 characters."""
        room = IFNAMSIZ - len(self.ifprefix) - len(kind)
        return self.ifprefix + kind + hashlib.sha256(key.encode()).hexdigest()[:min(room, 10)]


def setting(name: str) -> str | None:
    """The rule of every package's settings (runtime/settings.py, which net may not import):
    the variable's value, or None when it is unset, empty or blank."""
    return os.environ.get(name, "").strip() or None


def check_name(what: str, name: str) -> None:
    if not _SAFE.match(name):
        raise NetConfigError(f"invalid {what} name {name!r}: use letters, digits, '_', '.', '-'")


class Store:
    """The JSON records and the lock."""

    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.networks = knobs.root / "net" / "networks"
        self.base = knobs.run / "net"
        self.sandboxes = self.base / "sandboxes"
        self.pins = self.base / "ns"
        self.files = self.base / "files"
        self.sysctl = self.base / "sysctl.json"

    def ensure_dirs(self) -> None:
        for d in (self.networks, self.sandboxes, self.pins, self.files):
            d.mkdir(parents=True, exist_ok=True)

    def lock(self) -> AbstractContextManager[None]:
        self.base.mkdir(parents=True, exist_ok=True)
        return _flock(self.base / "lock")

    @staticmethod
    def host_lock(folder: Path = HOST_LOCK_DIR) -> AbstractContextManager[None]:
        """A lock shared by every pystack on the host whatever its PYSTACK_RUN: subnet choice
        reads the host's routes, so two state dirs (parallel test sessions) must not choose
        at the same moment.  Held from the choice until the bridge's route exists."""
        return _flock(folder / "net-ipam.lock", private=True)

    # generic records ----------------------------------------------------------------------

    @staticmethod
    def write(path: Path, data: dict[str, Any], durable: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)

    def read(self, path: Path) -> dict[str, Any] | None:
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        if path.parent == self.sandboxes:
            return self._sane_sandbox(path, data)
        if path.parent == self.networks:
            return self._sane_network(path, data)
        return data

    def _sane_sandbox(self, path: Path, rec: dict[str, Any]) -> dict[str, Any] | None:
        cid = rec.get("id")
        if not isinstance(cid, str) or f"{cid}.json" != path.name or not _SAFE.match(cid):
            return None
        rec.update(pin=str(self.pin_path(cid)), hosts=str(self.hosts_path(cid)),
                   resolv=str(self.resolv_path(cid)))
        atts = rec.get("attachments")
        if not isinstance(atts, list) or not isinstance(rec.get("ports"), list):
            return None
        for a in atts:
            net = a.get("network") if isinstance(a, dict) else None
            if not isinstance(net, str) or not _SAFE.match(net):
                return None
            a["host"] = self.knobs.link_name("v", f"{cid}/{net}")
        return rec

    def _sane_network(self, path: Path, rec: dict[str, Any]) -> dict[str, Any] | None:
        name = rec.get("name")
        if not isinstance(name, str) or f"{name}.json" != path.name or not _SAFE.match(name):
            return None
        rec["bridge"] = self.knobs.link_name("b", name)
        return rec

    @staticmethod
    def delete(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def all(self, folder: Path) -> list[dict[str, Any]]:
        out = []
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        for n in names:
            if n.endswith(".json") and not n.startswith("."):
                rec = self.read(folder / n)
                if rec is not None:
                    out.append(rec)
        return out

    # typed paths --------------------------------------------------------------------------

    def network_path(self, name: str) -> Path:
        return self.networks / f"{name}.json"

    def sandbox_path(self, cid: str) -> Path:
        return self.sandboxes / f"{cid}.json"

    def pin_path(self, cid: str) -> Path:
        return self.pins / cid

    def hosts_path(self, cid: str) -> Path:
        return self.files / cid / "hosts"

    def resolv_path(self, cid: str) -> Path:
        return self.files / cid / "resolv.conf"


def _private_dir(path: Path) -> int:
    """An fd of `path`, a directory of ours that nobody else may enter (made 0700 if missing;
    a symlink, or one owned by someone else, is refused: never used, never changed)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise NetConfigError(f"lock directory {path}: {e.strerror}",
                             hint="it must be a directory of root's; remove what is there") from e
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        os.close(fd)
        raise NetConfigError(f"lock directory {path} belongs to uid {st.st_uid}, not to us",
                             hint="someone else made it: remove it, pystack makes it again")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    return fd


def _open_lock(path: Path, private: bool) -> int:
    """The lock file's fd: opened without following a symlink, a regular file of ours."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    dfd = _private_dir(path.parent) if private else -1
    try:
        fd = os.open(path.name if private else path, flags, 0o600,
                     dir_fd=dfd if private else None)
    except OSError as e:
        raise NetConfigError(f"lock {path}: {e.strerror}",
                             hint="it must be a regular file of root's; remove what is "
                                  "there") from e
    finally:
        if dfd >= 0:
            os.close(dfd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise NetConfigError(f"lock {path} is not a regular file of ours",
                             hint="remove it; pystack makes it again")
    return fd


@contextmanager
def _flock(path: Path, private: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing) for the `with` block; with
    `private`, its directory is made (or checked to be) root's and 0700 first."""
    fd = _open_lock(path, private)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
