"""RUN --mount: cache, bind (from the context or a stage), tmpfs, secret and ssh (an agent
socket forwarded for the step, sshagent.py).

Each mount also says what of it goes into the step's cache key, never a temporary path: a
bind mount's key is the digest of what it shows (names, modes, owners, content), a cache
mount's its target.  Cache dirs live under $PYSTACK_ROOT/buildmounts, made once with their
`mode`/`uid`/`gid`; `sharing=locked` holds the dir's lock for the step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import secrets
from typing import TYPE_CHECKING

from pystack.runtime.build import copy as cp
from pystack.runtime.build.dockerfile import Instruction
from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.steps import StageState
from pystack.runtime.spec import Mount

if TYPE_CHECKING:
    from pystack.runtime.build.stage import StageRunner


def mount(self: StageRunner, st: StageState, spec: str, ins: Instruction,
          held: contextlib.ExitStack, ssh_index: int = 0) -> tuple[Mount | None, str]:
    """One --mount: the Mount, and what of it goes into the step's cache key (never a
    temporary path: for a bind, the digest of what it shows).  `ssh_index`: how many ssh
    mounts this RUN has before this one (the default target's N)."""
    where = self.df.where(ins.line)
    opts: dict[str, str] = {}
    for kv in spec.split(","):
        k, eq, v = kv.partition("=")
        opts[k.strip().lower()] = self.x(st, v, ins) if eq else "true"
    kind = opts.get("type", "bind")
    target = opts.get("target") or opts.get("dst") or opts.get("destination")
    if kind == "secret":
        return _secret(self, opts, target, held, where)
    if kind == "ssh":
        return _ssh(self, opts, target, held, where, ssh_index)
    if not target:
        raise BuildError(f"RUN --mount={spec}: target is required", where=where)
    target = posixpath.join(st.workdir, target)
    ro = opts.get("ro") == "true" or opts.get("readonly") == "true"
    if kind == "tmpfs":
        size = opts.get("size")
        return Mount("tmpfs", target, tmpfs_size=int(size) if size and size.isdigit()
                     else None), f"tmpfs:{target}:{size}"
    if kind == "cache":
        return _cache_mount(self, opts, target, ro, held), f"cache:{target}:{ro}"
    if kind == "bind":
        ref = opts.get("from")
        tree = self.b.context if not ref else held.enter_context(
            self.b.stage_tree(ref, ins, self.stage.index))
        src = tree.resolve(opts.get("source", opts.get("src", ".")))
        if src is None:
            raise BuildError(f"RUN --mount: source {opts.get('source')!r} not found in "
                             f"{tree.what}", where=where)
        rw = opts.get("rw") == "true" or opts.get("readwrite") == "true"
        if rw:
            raise BuildError("RUN --mount=type=bind,rw is not supported yet", where=where)
        items = cp.plan([opts.get("source", ".")], [], tree, "/m/", "/", [], None, None,
                        False, "RUN --mount")
        return (Mount("bind", target, source=str(tree.path(src)), read_only=True),
                f"bind:{target}:{cp.digest(items)}")
    raise BuildError(f"RUN --mount: unknown type {kind!r}", where=where,
                     hint="use bind, cache, tmpfs, secret or ssh")

def _cache_mount(self: StageRunner, opts: dict[str, str], target: str, ro: bool,
                 held: contextlib.ExitStack) -> Mount:
    """A cache dir under $PYSTACK_ROOT/buildmounts, made once (id, mode, uid, gid);
    sharing=locked holds its lock for the step."""
    cid = opts.get("id") or target
    root = self.b.content.root.parent / "buildmounts"
    d = root / hashlib.sha256(cid.encode()).hexdigest()[:32]
    if not d.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{secrets.token_hex(6)}"
        tmp.mkdir(mode=int(opts.get("mode", "755"), 8))
        os.chown(tmp, int(opts.get("uid", "0")), int(opts.get("gid", "0")))
        try:
            tmp.rename(d)
        except OSError:
            tmp.rmdir()
    if opts.get("sharing") == "locked":
        import fcntl

        fd = os.open(root / f"{d.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        held.callback(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return Mount("bind", target, source=str(d), read_only=ro)


def _secret(self: StageRunner, opts: dict[str, str], target: str | None,
            held: contextlib.ExitStack, where: str) -> tuple[Mount | None, str]:
    """A build secret as a read-only file (mode 0400 unless `mode`), at `target` or
    /run/secrets/<id>; never in a layer nor in the cache key (as BuildKit)."""
    sid = opts.get("id") or (posixpath.basename(target) if target else "")
    data = self.b.req.secrets.get(sid)
    if data is None:
        if opts.get("required") in ("true", "1"):
            raise BuildError(f"RUN --mount=type=secret: secret {sid!r} was not given to this "
                             "build", where=where,
                             hint="pass it with --secret id=ID,src=FILE or build.secrets")
        return None, f"secret:{sid}:absent"
    dest = target or f"/run/secrets/{sid}"
    tmp = self.b.content.new_tmp("-secret")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
    held.callback(tmp.unlink, missing_ok=True)
    try:
        os.write(fd, data)
        os.fchown(fd, int(opts.get("uid", "0")), int(opts.get("gid", "0")))
        os.fchmod(fd, int(opts.get("mode", "0400"), 8))
    finally:
        os.close(fd)
    return Mount("bind", dest, source=str(tmp), read_only=True), f"secret:{sid}:{dest}"


def _ssh(self: StageRunner, opts: dict[str, str], target: str | None,
         held: contextlib.ExitStack, where: str, index: int) -> tuple[Mount | None, str]:
    """An SSH agent socket at `target` (default /run/buildkit/ssh_agent.N): a proxy socket of
    the step's own (mode 0600, uid/gid 0 unless given) forwarding to the build's agent for
    `id` (default "default"); never in a layer nor in the cache key.  A missing agent leaves
    an optional mount out and fails a `required` one."""
    from pystack.runtime.build.sshagent import AgentProxy

    if opts.get("source") or opts.get("src"):
        raise BuildError("RUN --mount=type=ssh: ssh does not support source", where=where)
    sid = opts.get("id") or "default"
    dest = target or f"/run/buildkit/ssh_agent.{index}"
    key = f"ssh:{sid}:{dest}"
    try:
        upstream = self.b.agents.socket_for(sid)
    except BuildError as e:
        raise BuildError(f"RUN --mount=type=ssh: {e.message}", e.hint, where) from None
    if upstream is None:
        if opts.get("required") in ("true", "1"):
            raise BuildError(f"RUN --mount=type=ssh: no SSH agent was given to this build for "
                             f"id {sid!r}", where=where,
                             hint="start an agent (eval $(ssh-agent) && ssh-add) and pass it: "
                                  f"image build --ssh {sid}[=SOCKET|KEY], or build.ssh: "
                                  f"[{sid}] in the compose file")
        return None, key
    try:
        proxy = AgentProxy(upstream, int(opts.get("uid", "0")), int(opts.get("gid", "0")),
                           int(opts.get("mode", "0600"), 8))
    except (OSError, ValueError) as e:
        raise BuildError(f"RUN --mount=type=ssh: {e}", where=where) from None
    held.callback(proxy.close)
    return Mount("bind", dest, source=str(proxy.path), read_only=True), key
