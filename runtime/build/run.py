"""RUN: one container made by pystack's runtime from the stage's layers; its overlay upper
dir becomes the step's layer.

The container has a default container's confinement (namespaces, default capabilities,
seccomp profile, masked paths, its own cgroup): only the stage's layers and the mounts the
step asks for are visible, never the host's files.  `--network=none` is a new network
namespace with only `lo`; the default network is the sandbox the caller's NetProvider gives (a
pystack network with NAT; without a provider, only `lo` too); `--network=host` the host's.
It runs once through the runtime's shim-less path (runtime/oneshot.py: same confinement, no
supervisor, no state or log files); its stdout and stderr are streamed line by line as the
process writes them.  What the runtime itself creates as
mount points (/etc/hosts, /etc/hostname, /etc/resolv.conf, /proc, /sys, /dev) is dropped from
the upper dir when it was not in the image, as BuildKit removes its mount stubs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pystack.runtime import layerview
from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.layers import LayerRef, publish
from pystack.runtime.build.request import NetProvider
from pystack.runtime.image.content import Content
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.spec import ContainerSpec, Mount

_STUBS = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev",
          "sbin/docker-init")
Output = Callable[[str], None]


@dataclass(frozen=True)
class RunSpec:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    user: str
    workdir: str
    network: str                    # "default" | "none" | "host"
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    tail: tuple[str, ...]           # the last output lines
    layer: LayerRef | None


def _drop_stubs(upper: Path, layers: Sequence[Path], targets: Sequence[str] = ()) -> None:
    """Remove the empty mount points the runtime made (and the step's --mount targets) that
    the image did not have."""
    top_first = [p.resolve() for p in reversed(layers)]
    for rel in (*_STUBS, *(t.strip("/") for t in targets)):
        p = upper / rel
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if layerview.resolve(top_first, rel) is not None:
            continue
        empty = (stat.S_ISREG(st.st_mode) and st.st_size == 0) or \
            (stat.S_ISDIR(st.st_mode) and not os.listdir(p))
        if empty:
            shutil.rmtree(p) if stat.S_ISDIR(st.st_mode) else p.unlink()
            parent = p.parent
            while parent != upper and not os.listdir(parent) and \
                    layerview.resolve(top_first, str(parent.relative_to(upper))) is None:
                parent.rmdir()
                parent = parent.parent


def run(runtime: object, content: Content, layers: Sequence[Path], parent_diffs: list[str],
        rs: RunSpec, output: Output, empty_dir: Path, net: NetProvider | None = None
        ) -> RunResult:
    """Run `rs` on `layers` (bottom first); publish its changes as a layer if it exits 0.
    `net` gives the default network's sandbox (see request.NetProvider)."""
    cid = secrets.token_hex(32)
    on_net = rs.network == "default" and net is not None
    with net(cid) if on_net and net is not None else contextlib.nullcontext(None) as sb:
        return _run(runtime, content, layers, parent_diffs, rs, output, empty_dir, cid, sb)


def _run(runtime: object, content: Content, layers: Sequence[Path], parent_diffs: list[str],
         rs: RunSpec, output: Output, empty_dir: Path, cid: str,
         sb: tuple[str, str, str] | None) -> RunResult:
    from pystack.runtime.linux_runtime import LinuxRuntime

    assert isinstance(runtime, LinuxRuntime)
    lowers = tuple(str(d) for d in layers) or (str(empty_dir),)
    spec = ContainerSpec(
        id=cid, name=f"pystack-build-{cid[:12]}", image=ImageConfig(), image_id="",
        lower_dirs=lowers, entrypoint=(), command=rs.argv, env=dict(rs.env),
        working_dir=rs.workdir or "/", user=rs.user or None, hostname="buildkitsandbox",
        mounts=rs.mounts, etc_hostname=False,
        network_mode="host" if rs.network == "host" else ("ns" if sb else "none"),
        netns=sb[0] if sb else None, etc_hosts=sb[1] if sb else None,
        etc_resolv=sb[2] if sb else None, labels={"io.pystack.build": "1"})
    tail: list[str] = []
    partial = [b""]

    def lines(chunk: bytes) -> None:
        *done, partial[0] = (partial[0] + chunk).split(b"\n")
        for raw in done:
            emit(raw)

    def emit(raw: bytes) -> None:
        line = raw.decode(errors="replace")
        tail.append(line)
        del tail[:-20]
        output(line)
    try:
        with runtime.oneshot(spec, content.new_tmp("-run")) as box:
            res = box.run(lines)
            if partial[0]:
                emit(partial[0])
            if res.exit_code != 0:
                if res.error:
                    emit(res.error.encode())
                return RunResult(res.exit_code, tuple(tail), None)
            _drop_stubs(box.paths.upper, layers, [m.target for m in rs.mounts])
            return RunResult(0, tuple(tail), publish(content, box.paths.upper, parent_diffs))
    except OSError as e:
        raise BuildError(f"RUN: {e}") from e
