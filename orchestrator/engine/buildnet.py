"""The default network of RUN steps during a build: a pystack network with NAT, as
BuildKit gives its RUN steps, handed to the builder as its NetProvider hook (the runtime never
imports net).  Nothing is made for a build without a RUN on the default network.

Sandboxes (a network namespace attached to the network, its hosts and resolv.conf files) are
pooled within the build, as BuildKit pools its network namespaces: a RUN takes a free one or
makes one, and gives it back when it ends, with the two files' content as it was made (a RUN
may write /etc/hosts).  A RUN cannot change the namespace itself (no CAP_NET_ADMIN, /proc/sys
read-only) and none of its processes outlives it (its PID namespace dies with its PID 1).
Parallel stages take different sandboxes; all of them go with the network at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pystack.orchestrator.engine.ports import Network
    from pystack.runtime.build.request import NetProvider


@contextmanager
def build_network(runtime: Any = None) -> Iterator[NetProvider]:
    """The default network of RUN steps, as BuildKit's: a pystack network with NAT, made
    on the first RUN that needs it (one per build, its own project) and removed with
    everything it holds when the build ends."""
    import secrets
    import threading

    project = f"pystack-build-{secrets.token_hex(3)}"
    network = f"{project}_default"
    lock = threading.Lock()
    made: list[Network] = []            # the manager, once the first RUN asked for it
    free: list[_Pooled] = []            # sandboxes no RUN uses now

    @contextmanager
    def sandbox(cid: str) -> Iterator[tuple[str, str, str]]:
        from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
        from pystack.orchestrator.engine.backends import real_backends

        with lock:
            if not made:
                mgr = real_backends(project, runtime).network
                mgr.ensure_network(NetworkSpec(name=network, project=project))
                made.append(mgr)
            pooled = free.pop() if free else None
        net = made[0]
        if pooled is None:
            try:
                sb = net.create_sandbox(cid, DnsConfig(hostname="buildkitsandbox"))
                net.attach(cid, AttachSpec(network=network))
                pooled = _Pooled(sb.netns_path, sb.hosts_path, sb.resolv_path)
            except BaseException:
                net.remove_sandbox(cid)
                raise
        try:
            yield pooled.netns, pooled.hosts, pooled.resolv
        finally:
            if pooled.restore():
                with lock:
                    free.append(pooled)

    try:
        yield sandbox
    finally:
        if made:
            made[0].teardown()


class _Pooled:
    """A sandbox between RUN steps: its netns path and files, and the files as made."""

    def __init__(self, netns: str, hosts: str, resolv: str) -> None:
        self.netns, self.hosts, self.resolv = netns, hosts, resolv
        self.made = {p: _read(p) for p in (hosts, resolv)}

    def restore(self) -> bool:
        """The files as they were made (content, mode, owner: the RUN ran as root); False
        when that fails (then the sandbox is not reused: the teardown removes it)."""
        import os

        try:
            for path, made in self.made.items():
                now = _read(path)
                if made is None or now is None:
                    return False
                if now == made:
                    continue
                data, mode, uid, gid = made
                fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    os.fchown(fd, uid, gid)
                    os.fchmod(fd, mode)
                    os.write(fd, data)
                finally:
                    os.close(fd)
        except OSError:
            return False
        return True


def _read(path: str) -> tuple[bytes, int, int, int] | None:
    """A file's content, mode and owner."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        return os.read(fd, 1 << 20), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    except OSError:
        return None
    finally:
        os.close(fd)
