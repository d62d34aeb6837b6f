"""Copying changed host files into a service's running containers, and deleting there what was
deleted here: the sync of `develop.watch` (Compose v2's tar syncer, internal/sync/tar.go).

The copy goes the way `pystack cp` copies in: a tar stream fed to the container's own `tar`,
run by exec inside the container (its mount namespace and root), so nothing is ever written
on the host side and no host path is resolved through container content.  Deletions run
`rm -rf` there, as Compose does.  Like Docker's CopyToContainer with CopyUIDGID (what Compose
asks for), the files are written as root and owned by the container's user (its `id`, asked
once per container).

The host side is read without following symlinks: a symlink is sent as a symlink, never as
what it points to (so a link to /etc/shadow copies no secret, and a link to `..` copies
nothing twice); a change below a symlinked directory of the watched tree is skipped (the link
itself was sent), so no entry of the stream ever passes through a link the stream made; every
entry name is a container path under the rule's target (watchrules.container_path).  Where a
directory replaces what was a symlink in the container, the link is removed first, so the new
files land in the directory and not where the old link pointed.  setuid/setgid bits are not
copied.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.stack import Stack
from pystack.orchestrator.engine.watchrules import Rule, below, ignored
from pystack.orchestrator.errors import OrchestratorError
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ExecSpec

ROOT = "0:0"


@dataclass(frozen=True)
class Entry:
    """One member of the stream: a host path (lstat'ed, not followed) and its name there."""

    host: str
    name: str                           # container path, absolute
    st: os.stat_result


def _parents_are_dirs(root: str, path: str) -> bool:
    """Is every component between the rule's path and `path` (both excluded) a real
    directory, not a symlink?  A missing one is fine (the deletion of a whole tree)."""
    rel = below(root, path)
    if rel is None:
        return False
    parts = [p for p in rel.split("/") if p][:-1]
    cur = os.path.normpath(root)
    for part in parts:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return True
        if not stat.S_ISDIR(st.st_mode):
            return False
    return True


def split(changes: Iterable[tuple[Rule, str, str]]) -> tuple[list[tuple[Rule, str, str]],
                                                             list[str]]:
    """(what to copy, container paths to delete): a path that exists (as anything, a dangling
    link too) is copied, one that does not is deleted; changes below a host symlink are
    dropped."""
    copies: dict[str, tuple[Rule, str, str]] = {}
    deletes: list[str] = []
    for rule, host, ctr in changes:
        if not _parents_are_dirs(rule.spec.path, host):
            continue
        try:
            os.lstat(host)
        except FileNotFoundError:
            deletes.append(ctr)
            continue
        copies[ctr] = (rule, host, ctr)     # the last change of a name wins
    # A deleted directory takes what was below it.
    deletes = sorted(set(deletes))
    pruned = [d for d in deletes
              if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in deletes)]
    return list(copies.values()), pruned


def entries(copies: Iterable[tuple[Rule, str, str]]) -> list[Entry]:
    """Every member for these copies: a directory with what is below it (walked without
    following links, the rule's ignores applied), de-duplicated (the last one wins)."""
    out: dict[str, Entry] = {}

    def add(rule: Rule, host: str, name: str) -> None:
        try:
            st = os.lstat(host)
        except OSError:
            return
        mode = st.st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            return                      # sockets, fifos, devices: not sent (as Compose)
        out[name] = Entry(host, name, st)
        if not stat.S_ISDIR(mode):
            return
        try:
            children = sorted(os.listdir(host))
        except OSError:
            return
        for child in children:
            sub = os.path.join(host, child)
            if not ignored(rule, sub):
                add(rule, sub, name.rstrip("/") + "/" + child)

    for rule, host, name in copies:
        add(rule, host, name)
    links = {n for n, e in out.items() if stat.S_ISLNK(e.st.st_mode)}
    return [e for n, e in out.items()
            if not any(n.startswith(link + "/") for link in links)]


def archive(members: Iterable[Entry], f: IO[bytes], uid: int, gid: int) -> int:
    """Write the tar stream (names relative to /); returns how many members it holds."""
    count = 0
    with tarfile.open(fileobj=f, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for e in members:
            name = e.name.lstrip("/")
            if not name:
                continue                # the root itself
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
            info.mtime = int(e.st.st_mtime)
            info.mode = stat.S_IMODE(e.st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID)
            mode = e.st.st_mode
            if stat.S_ISLNK(mode):
                try:
                    info.type, info.linkname = tarfile.SYMTYPE, os.readlink(e.host)
                except OSError:
                    continue
                tar.addfile(info)
            elif stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = _read(e.host)
                if data is None:
                    continue            # gone, or no longer a file: the next batch says so
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            count += 1
    return count


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


_ID = re.compile(rb"uid=(\d+).*?gid=(\d+)", re.S)


class Syncer:
    """Sync for one watch session (remembers each container's user)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.owners: dict[str, tuple[int, int]] = {}

    def _run(self, cid: str, argv: tuple[str, ...], stdin: IO[bytes] | None = None,
             user: str | None = ROOT) -> tuple[int, bytes, bytes]:
        out, err = io.BytesIO(), io.BytesIO()
        spec = ExecSpec(argv=argv, user=user)
        code = self.stack.b.runtime.exec(cid, spec, stdin=stdin, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    def owner(self, cid: str) -> tuple[int, int]:
        if cid not in self.owners:
            code, out, _ = self._run(cid, ("id",), user=None)
            m = _ID.search(out) if code == 0 else None
            self.owners[cid] = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        return self.owners[cid]

    def sync(self, containers: Iterable[Existing], changes: Iterable[tuple[Rule, str, str]],
             warn: Callable[[str], None]) -> int:
        """Apply the changes to every given container; returns how many paths were sent or
        deleted.  A container that fails is reported through `warn`; the others go on."""
        copies, deletes = split(changes)
        members = entries(copies)
        targets = {os.path.normpath(r.spec.target or "/") for r, _, _ in copies}
        replace = [e.name for e in members if stat.S_ISLNK(e.st.st_mode)]
        unlink = [name for _, host, name in copies
                  if name not in targets and os.path.isdir(host) and not os.path.islink(host)]
        for e in containers:
            try:
                self._one(e, members, sorted(set(deletes) | set(replace)), unlink)
            except (OrchestratorError, ContainerRuntimeError) as err:
                warn(f"sync to {e.name} failed: {err.message}")
        return len(members) + len(deletes)

    def _one(self, e: Existing, members: list[Entry], remove: list[str],
             unlink: list[str]) -> None:
        if remove:
            code, _, err = self._run(e.id, ("rm", "-rf", *remove))
            if code != 0:
                raise OrchestratorError(f"rm exited {code}: {_text(err)}")
        if unlink:
            # a symlink (or file) where a directory now is: removed, never followed; `rm -f`
            # leaves a real directory alone (and says so: not an error here)
            self._run(e.id, ("rm", "-f", *unlink))
        if not members:
            return
        uid, gid = self.owner(e.id)
        with tempfile.TemporaryFile() as f:
            if archive(members, f, uid, gid) == 0:
                return
            f.seek(0)
            code, _, err = self._run(e.id, ("tar", "-x", "-f", "-", "-C", "/"), stdin=f)
        if code != 0:
            raise OrchestratorError(f"tar exited {code}: {_text(err)}",
                                    hint="sync needs tar in the container's image")


def _text(err: bytes) -> str:
    return err.decode(errors="replace").strip().splitlines()[-1] if err.strip() else "no output"
