"""The default network of RUN steps during a build: a pystack network with NAT, as
BuildKit gives its RUN steps, handed to the builder as its NetProvider hook (the runtime never
imports net).  Nothing is made for a build without a RUN on the default network."""

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

    @contextmanager
    def sandbox(cid: str) -> Iterator[tuple[str, str, str]]:
        from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
        from pystack.orchestrator.engine.backends import real_backends

        with lock:
            if not made:
                mgr = real_backends(project, runtime).network
                mgr.ensure_network(NetworkSpec(name=network, project=project))
                made.append(mgr)
        net = made[0]
        try:
            sb = net.create_sandbox(cid, DnsConfig(hostname="buildkitsandbox"))
            net.attach(cid, AttachSpec(network=network))
            yield sb.netns_path, sb.hosts_path, sb.resolv_path
        finally:
            net.remove_sandbox(cid)

    try:
        yield sandbox
    finally:
        if made:
            made[0].teardown()
