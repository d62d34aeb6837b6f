"""`Stack`: one project bound to its backends; the container-level building blocks the
operations (up.py, ops.py) are made of: list the project's containers, ensure images and
networks, create / start / stop / remove one container, wait for a dependency's condition.

Every host object is recorded in the state file before it is created, so that `down` can
remove it even if this process dies right after.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from pystack.net.api import DnsConfig, PublishedPort
from pystack.net.errors import NetError
from pystack.orchestrator.config.model import Project, Service
from pystack.orchestrator.engine import specs as S
from pystack.orchestrator.engine.backends import Backends
from pystack.orchestrator.engine.events import Emitter
from pystack.orchestrator.engine.execute import ConditionFailed, Dependency
from pystack.orchestrator.engine.plan import Existing, project_containers
from pystack.orchestrator.engine.state import ContainerRecord
from pystack.orchestrator.engine.volumes import prepare_mounts
from pystack.orchestrator.errors import NotFoundError, OrchestratorError
from pystack.runtime import faults
from pystack.runtime.errors import (
    ContainerNotFoundError,
    ContainerRuntimeError,
    ImageError,
    ImageNotFoundError,
)
from pystack.runtime.image.model import Image
from pystack.runtime.spec import Mount, effective_healthcheck

POLL = 0.05


def unsupervised(name: str) -> str:
    """The error for a container whose shim died: nothing checks its health or exit any more."""
    return (f"container {name} is unsupervised: its shim died, so its health and exit cannot "
            "be known (run `pystack up` again: it recreates the container)")


class Stack:
    def __init__(self, name: str, backends: Backends, project: Project | None = None,
                 emit: Emitter | None = None) -> None:
        self.name = name
        self.project = project
        self.b = backends
        self.emit = emit or Emitter()
        # Set when the user interrupts: no new container is started after that.
        self.cancelled = threading.Event()

    # -- lookups -------------------------------------------------------------------------------
    def need_project(self) -> Project:
        if self.project is None:
            raise OrchestratorError(f"project {self.name}: no compose file loaded",
                                    hint="pass -f FILE or run from the project directory")
        return self.project

    def containers(self, oneoff: bool | None = False,
                   services: Iterable[str] = ()) -> list[Existing]:
        """The project's containers (one-offs: False = without, True = only, None = all)."""
        wanted = set(services)
        out = []
        for e in project_containers(self.b.runtime.list_containers(), self.name):
            if oneoff is not None and e.oneoff != oneoff:
                continue
            if wanted and e.service not in wanted:
                continue
            out.append(e)
        return out

    def dependencies(self, services: Iterable[str] | None = None) -> dict[str, list[Dependency]]:
        proj = self.project
        if proj is None:
            return {}
        out: dict[str, list[Dependency]] = {}
        for name in services if services is not None else proj.services:
            svc = proj.services.get(name)
            if svc is None:
                continue
            deps = [Dependency(k, d.condition, d.required, d.restart)  # type: ignore[arg-type]
                    for k, d in svc.depends_on.items()]
            out[name] = deps
        return out

    def with_dependencies(self, services: Iterable[str]) -> list[str]:
        proj = self.need_project()
        seen: dict[str, None] = {}
        stack = list(services)
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            svc = proj.service(s)
            seen[s] = None
            stack.extend(d for d in svc.dependencies() if d in proj.services
                         and (d not in svc.depends_on or svc.depends_on[d].required))
        return sorted(seen)

    # -- images --------------------------------------------------------------------------------
    def image_ref(self, svc: Service) -> str:
        if svc.build is not None:
            from pystack.orchestrator.engine.build import default_image_name

            return default_image_name(self.need_project(), svc)
        if not svc.image:
            raise OrchestratorError(f"service {svc.name} has no image",
                                    hint="set `image:` or `build:`")
        return svc.image

    def ensure_image(self, svc: Service, pull: str = "missing", quiet: bool = False,
                     build: str = "auto") -> Image:
        """The service's image: built (engine/build.py) or pulled as its policy says."""
        ref = self.image_ref(svc)
        policy = pull if pull != "policy" else (svc.pull_policy or "missing")
        try:
            if svc.build is not None and svc.pull_policy not in ("always", "daily", "weekly"):
                from pystack.orchestrator.engine import build as B

                if B.should_build(svc, build, self.b.images.exists(ref)):
                    return B.build_service(self, svc)
                if build == "never" and not self.b.images.exists(ref):
                    raise NotFoundError(f"service {svc.name}: image {ref} is not built",
                                        hint="run `pystack build` or drop --no-build")
                return self.b.images.get(ref)
            if policy in ("always", "daily", "weekly") or (
                    policy in ("missing", "if_not_present") and not self.b.images.exists(ref)):
                if not quiet:
                    self.emit("image", ref, "Pulling")
                from pystack.orchestrator.engine.events import LayerFeed

                img = self.b.images.pull(ref, None if quiet else LayerFeed(self.emit, ref))
                if not quiet:
                    self.emit("image", ref, "Pulled")
                return img
            return self.b.images.get(ref)
        except ImageError as e:
            # a missing image keeps its kind: exit 4 (cli/exit_codes.py), as `image inspect`
            kind = NotFoundError if isinstance(e, ImageNotFoundError) else OrchestratorError
            raise kind(f"service {svc.name}: image {ref}: {e.message}", hint=e.hint) from e

    # -- networks ------------------------------------------------------------------------------
    def ensure_networks(self, services: Iterable[str]) -> None:
        proj = self.need_project()
        have = {n.name for n in self.b.network.list_networks()}
        seen: set[str] = set()
        for s in services:
            for net, *_ in S.service_networks(proj, proj.service(s)):
                if net.name in seen:
                    continue
                seen.add(net.name)
                if net.external or net.name in have:
                    self.b.network.ensure_network(S.network_spec(proj, net))
                    continue
                self.emit("network", net.name, "Creating")
                self.b.state.add_network(self.name, net.name)
                self.b.network.ensure_network(S.network_spec(proj, net))
                self.emit("network", net.name, "Created")

    # -- one container -------------------------------------------------------------------------
    def _placement(self, svc: Service, cid: str, name: str) -> S.NetPlacement:
        proj = self.need_project()
        mode = svc.network_mode
        if mode == "host":
            return S.NetPlacement("host")
        if mode == "none":
            return S.NetPlacement("none")
        if mode and mode.startswith("service:"):
            other = self.containers(services=[mode[len("service:"):]])
            if not other:
                raise OrchestratorError(f"service {svc.name}: network_mode {mode}: no container")
            sb = self.b.network.sandbox(other[0].id)
            netns = sb.netns_path if sb else self.b.runtime.state(other[0].id).netns
            return S.NetPlacement("ns", netns, sb.hosts_path if sb else None,
                                  sb.resolv_path if sb else None)
        if mode:
            raise OrchestratorError(f"service {svc.name}: network_mode {mode!r} is not "
                                    "supported yet")
        ports = S.port_specs(svc)
        if ports:
            self.b.network.check_ports(ports)
        sb = self.b.network.create_sandbox(cid, self._dns(svc, cid))
        for att in S.attach_specs(proj, svc, name, cid):
            self.b.network.attach(cid, att)
        if ports:
            self.b.network.publish(cid, ports)
        return S.NetPlacement("ns", sb.netns_path, sb.hosts_path, sb.resolv_path)

    def _dns(self, svc: Service, cid: str) -> DnsConfig:
        dns = S.dns_config(svc, cid)
        if any(ip == "host-gateway" for _, ip in dns.extra_hosts):
            dns = replace(dns, extra_hosts=self._host_gateway(svc, dns.extra_hosts))
        return dns

    def _host_gateway(self, svc: Service,
                      hosts: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """`host-gateway` is the host's address on the container's first network."""
        nets = S.service_networks(self.need_project(), svc)
        infos = {n.name: n for n in self.b.network.list_networks()}
        gw = next((infos[n.name].gateway for n, *_ in nets if n.name in infos), "")
        if not gw:
            raise OrchestratorError(f"service {svc.name}: extra_hosts host-gateway needs a "
                                    "network")
        return tuple((h, gw if ip == "host-gateway" else ip) for h, ip in hosts)

    def _namespace(self, svc: Service, value: str | None, kind: str) -> str | None:
        if not value or value in ("private", "shareable"):
            return None                 # a private namespace (any can be joined: shareable)
        if value in ("host", "none"):
            return value
        if value.startswith("service:"):
            other = self.containers(services=[value[len("service:"):]])
            if not other:
                raise OrchestratorError(f"service {svc.name}: {kind} {value}: no container")
            return self.b.runtime.namespace_path(other[0].id, kind)
        return None

    def _shm_mounts(self, svc: Service, cid: str) -> list[Mount]:
        """/dev/shm shared with the IPC namespace, as Docker: a donor (`ipc: shareable`, or
        named by another service's `ipc: service:X`) gets a host-side tmpfs there, and a
        container joining its namespace binds the donor's (runtime/shm.py)."""
        shm, ipc = self.b.shm, svc.ipc or ""
        if shm is None:
            return []
        if ipc.startswith("service:"):
            other = self.containers(services=[ipc[len("service:"):]])
            path = shm.lookup(other[0].id) if other else None
            return [Mount("bind", "/dev/shm", path)] if path else []
        donor = ipc == "shareable" or any(
            s.ipc == f"service:{svc.name}" for s in self.need_project().services.values())
        return [Mount("bind", "/dev/shm", shm.ensure(cid, svc.shm_size))] if donor else []

    def create(self, svc: Service, number: int, name: str, image: Image, config_hash: str,
               *, oneoff: bool = False, override: Service | None = None,
               console_size: tuple[int, int] | None = None) -> str:
        """Create one container (sandbox, mounts, runtime); returns its id."""
        proj = self.need_project()
        use = override or svc
        cid = S.new_container_id()
        self.b.state.add_container(self.name, ContainerRecord(
            id=cid, name=name, service=svc.name, number=number, oneoff=oneoff,
            config_hash=config_hash, image_id=image.id))
        faults.point("create:recorded")
        created_ok = False
        try:
            vols: list[str] = []
            mounts = prepare_mounts(proj, use, number, image, vols, images=self.b.images)
            for v in vols:
                self.b.state.add_volume(self.name, v)
            mounts = (*self._shm_mounts(use, cid), *mounts)   # a user mount there wins
            net = self._placement(use, cid, name)
            faults.point("create:sandbox")
            spec = S.container_spec(
                proj, use, container_id=cid, name=name, number=number, image=image,
                image_ref=self.image_ref(svc), config_hash=config_hash, mounts=mounts, net=net,
                oneoff=oneoff, pid_namespace=self._namespace(use, use.pid, "pid"),
                ipc_namespace=self._namespace(use, use.ipc, "ipc"), console_size=console_size)
            st = self.b.runtime.create(spec)
            for w in getattr(st, "warnings", ()):
                self.emit.warn(f"{name}: {w}")
            created_ok = True
            return cid
        finally:
            if not created_ok:
                self.discard(cid)

    def discard(self, cid: str, sandbox: bool = True) -> None:
        """Remove whatever exists of a container (runtime, sandbox, record); never raises
        for an object that is already gone.  `sandbox=False` leaves its network sandbox to
        a `teardown` that follows (faster in bulk: `down`)."""
        try:
            self.b.runtime.delete(cid, force=True)
        except ContainerNotFoundError:
            pass
        except ContainerRuntimeError:
            pass
        if self.b.shm is not None:
            try:
                self.b.shm.release(cid)
            except ContainerRuntimeError:
                pass
        if sandbox:
            try:
                self.b.network.remove_sandbox(cid)
            except NetError:
                pass
        self.b.state.drop_container(self.name, cid)

    def own_sandbox(self, service: str) -> bool:
        """Whether the service's containers get a network sandbox of their own."""
        svc = self.project.services.get(service) if self.project is not None else None
        return svc is not None and not svc.network_mode

    def sandbox_lost(self, cid: str, service: str) -> bool:
        """The container should have a network sandbox, and it is gone (`up` recreates)."""
        return self.own_sandbox(service) and self.b.network.sandbox(cid) is None

    def _heal_names(self, cid: str, service: str) -> None:
        """Name files deleted behind our back (an admin cleaned PYSTACK_RUN): net writes them
        again (create_sandbox is idempotent), or the start's bind mounts would fail."""
        if not self.own_sandbox(service):
            return
        svc = self.need_project().services[service]
        self.b.network.ensure_name_files(cid, lambda: self._dns(svc, cid))

    def start(self, cid: str, name: str, service: str = "") -> None:
        if self.cancelled.is_set():
            raise OrchestratorError(f"container {name}: not started (interrupted)")
        self.emit("container", name, "Starting", service=service)
        try:
            self._heal_names(cid, service)
            self.b.runtime.start(cid)
        except ContainerRuntimeError as e:
            self.emit("container", name, "Error", e.message, service=service)
            raise OrchestratorError(f"container {name} failed to start: {e.message}"
                                    + self.last_logs(cid), hint=e.hint) from e
        self.emit("container", name, "Started", service=service)

    def stop(self, cid: str, name: str, timeout: float | None, service: str = "") -> None:
        self.emit("container", name, "Stopping", service=service)
        try:
            self.b.runtime.stop(cid, timeout)
        except ContainerNotFoundError:
            pass
        self.emit("container", name, "Stopped", service=service)

    def remove(self, cid: str, name: str, timeout: float | None, service: str = "",
               stop: bool = True, sandbox: bool = True) -> None:
        if stop:
            self.stop(cid, name, timeout, service)
        self.emit("container", name, "Removing", service=service)
        self.discard(cid, sandbox)
        self.emit("container", name, "Removed", service=service)

    def published(self, cid: str) -> list[PublishedPort]:
        try:
            return self.b.network.published(cid)
        except NetError:
            return []

    def last_logs(self, cid: str, lines: int = 5) -> str:
        try:
            entries = list(self.b.runtime.logs(cid, tail=lines))
        except ContainerRuntimeError:
            return ""
        if not entries:
            return ""
        return "\n  last log lines:\n" + "".join(f"    {e.line.rstrip()}\n" for e in entries)

    # -- conditions ----------------------------------------------------------------------------
    def has_healthcheck(self, cid: str) -> bool:
        spec = self.b.runtime.spec(cid)
        return effective_healthcheck(spec.healthcheck, spec.image.healthcheck) is not None

    def wait_healthy(self, e: Existing, timeout: float | None = None) -> None:
        """depends_on service_healthy (engine/waiting.py: an exit, `unhealthy` or a crash
        loop ends the wait at once), in Compose's words."""
        from pystack.orchestrator.engine.waiting import wait_ready

        for f in wait_ready(self, [e], timeout, need_health=True).values():
            if f.kind == "timeout":
                raise ConditionFailed(f"timeout waiting for dependencies: {f.why}")
            if f.kind == "interrupted":
                raise ConditionFailed(f.why)
            raise ConditionFailed(f"dependency failed to start: {f.why}")

    def wait_completed(self, e: Existing, timeout: float | None = None) -> None:
        self.emit("container", e.name, "Waiting", service=e.service)
        try:
            st = self.b.runtime.wait(e.id, timeout)
        except ContainerRuntimeError as err:
            raise ConditionFailed(f"container {e.name}: {err.message}") from err
        if not st.supervised and st.status in ("running", "restarting", "paused"):
            self.emit("container", e.name, "Error", "unsupervised", service=e.service)
            raise ConditionFailed(unsupervised(e.name))
        if st.exit_code != 0:
            self.emit("container", e.name, "Error", f"exited ({st.exit_code})",
                      service=e.service)
            raise ConditionFailed(f"service {e.service} didn't complete successfully: "
                                  f"exit {st.exit_code}" + self.last_logs(e.id))
        self.emit("container", e.name, "Exited", service=e.service)

    def wait_condition(self, dep: Dependency, timeout: float | None = None) -> None:
        targets = self.containers(services=[dep.service])
        if not targets:
            raise NotFoundError(f"service {dep.service} has no container")
        for e in targets:
            if dep.condition == "service_healthy":
                self.wait_healthy(e, timeout)
            elif dep.condition == "service_completed_successfully":
                self.wait_completed(e, timeout)
