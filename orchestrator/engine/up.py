"""`up` and `create`: plan, then images, networks, volumes, and the containers of each
service in parallel along the dependency graph (execute.walk).

A service that fails to start, or a dependency that turns unhealthy or fails its job, stops
only the services that need it; what already started stays up, and `UpError` lists what failed
(with the last log lines of the container in question).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pystack.orchestrator.engine.execute import Dependency, Result, walk
from pystack.orchestrator.engine.parallel import failures, parallel, values
from pystack.orchestrator.engine.plan import Desired, Plan, Step, container_hash, make_plan
from pystack.orchestrator.engine.stack import Stack
from pystack.orchestrator.errors import KNOWN, OrchestratorError
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.image.model import Image


class UpError(OrchestratorError):
    """Some services failed; the others are up."""


@dataclass(frozen=True)
class UpOptions:
    services: tuple[str, ...] = ()
    no_deps: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    no_start: bool = False
    scale: Mapping[str, int] = field(default_factory=dict)
    remove_orphans: bool = False
    pull: str = "policy"                # always | missing | never | policy (service pull_policy)
    quiet_pull: bool = False
    build: str = "auto"                 # auto (build if missing) | always | never (engine/build)
    wait: bool = False
    wait_timeout: float | None = None
    timeout: float | None = None        # stop timeout for recreate/remove


@dataclass
class UpResult:
    plan: Plan
    results: dict[str, Result]
    images: dict[str, Image]

    @property
    def failed(self) -> dict[str, Result]:
        return {k: v for k, v in self.results.items() if v.status != "done"}


def selected_services(stack: Stack, opts: UpOptions) -> list[str]:
    proj = stack.need_project()
    for s in opts.services:
        proj.service(s)
    if not opts.services:
        return sorted(proj.services)
    if opts.no_deps:
        return sorted(set(opts.services))
    return stack.with_dependencies(opts.services)


def up(stack: Stack, opts: UpOptions) -> UpResult:
    proj = stack.need_project()
    chosen = selected_services(stack, opts)
    # Images first (in parallel: pulls are network-bound).
    images: dict[str, Image] = values(parallel(
        chosen, lambda s: stack.ensure_image(proj.services[s], opts.pull, opts.quiet_pull,
                                             opts.build),
        name="image"))

    _discard_ghosts(stack)
    desired = {}
    for s, svc in proj.services.items():
        scale = opts.scale.get(s, svc.scale)
        h = container_hash(proj.config_hash(s), images[s].id) if s in images else ""
        desired[s] = Desired(scale, h)
    names = {s: svc.container_name for s, svc in proj.services.items() if svc.container_name}
    plan = make_plan(stack.name, desired, stack.containers(), services=chosen,
                     force_recreate=opts.force_recreate, no_recreate=opts.no_recreate,
                     names=names)

    # A stopped container whose network sandbox is gone (reboot, an admin) cannot start:
    # recreate it (its state on disk is partly gone; `up` must still work).
    steps = tuple(Step("recreate", st.service, st.number, st.name, st.container_id,
                       "network sandbox gone")
                  if st.action == "start" and stack.sandbox_lost(st.container_id, st.service)
                  else st for st in plan.steps)
    # A running container whose shim died is unsupervised (no health, restart, logs or exit
    # code): it cannot be adopted by a new shim (see ContainerState.supervised), so it is
    # recreated instead of being kept and waited on for good.
    steps = tuple(Step("recreate", st.service, st.number, st.name, st.container_id,
                       "supervisor gone")
                  if st.action in ("keep", "start") and not opts.no_recreate
                  and not _supervised(stack, st.container_id) else st for st in steps)
    plan = Plan(steps, plan.orphans)

    from pystack.orchestrator.logging import log

    log("plan", level="info", project=stack.name,
        **{a: plan.count(a) for a in ("create", "recreate", "start", "keep", "remove")},
        orphans=len(plan.orphans))
    # Services left out by profiles (or by naming services) are not orphans.
    orphans = [o for o in plan.orphans if o.service not in proj.disabled]
    if orphans and opts.services and not opts.remove_orphans:
        orphans = []
    if orphans:
        if opts.remove_orphans:
            for o in orphans:
                stack.remove(o.id, o.name, opts.timeout, o.service)
        else:
            stack.emit.warn(
                "Found orphan containers (" + ", ".join(o.name for o in orphans) +
                ") for this project. If you removed or renamed this service in your compose "
                "file, you can run this command with the --remove-orphans flag to clean it up.")

    # Host ports of new containers are checked before anything is created, so a taken port
    # changes nothing on the host.
    from pystack.orchestrator.engine import specs as S

    wanted_ports = [ps for st in plan.steps if st.action == "create"
                    for ps in S.port_specs(proj.services[st.service])]
    if wanted_ports:
        stack.b.network.check_ports(wanted_ports)
    stack.b.state.update(stack.name, working_dir=proj.working_dir,
                         config_files=tuple(proj.files))
    stack.ensure_networks(chosen)
    recreated: set[str] = set()
    made = _NewContainers(stack, plan, images, desired)

    def run(service: str) -> None:
        steps = plan.for_service(service)
        if any(s.action in ("recreate", "create") for s in steps):
            recreated.add(service)
        svc_model = proj.services[service]
        bounce = any(d.restart and dep in recreated
                     for dep, d in svc_model.depends_on.items())
        if bounce and not opts.no_start:
            # `depends_on: {restart: true}`: a dependency was recreated, restart this one.
            steps = [Step("start", s.service, s.number, s.name, s.container_id, "restart")
                     if s.action == "keep" else s for s in steps]
            for s in steps:
                if s.reason == "restart":
                    stack.stop(s.container_id, s.name, opts.timeout, service)

        failed = failures(parallel(
            steps, lambda step: _apply(stack, step, images[service],
                                       desired[service].config_hash, opts, made),
            name=f"walk-{service}"))
        if failed:
            raise OrchestratorError("\n".join(e.message for e in failed.values()))

    def wait(dep: Dependency) -> None:
        stack.wait_condition(dep, opts.wait_timeout)

    def skipped(service: str, why: str) -> None:
        # As Compose: a dependent that is not started because a dependency failed keeps its
        # last line (`Created`); the error at the end says why.  No ✔ for it.
        log("skipped", level="info", project=stack.name, service=service, why=why)

    deps = stack.dependencies(chosen) if not opts.no_deps else {}
    results = walk(chosen, deps, run, wait, on_skip=skipped)
    made.join()

    if opts.wait and not opts.no_start:
        _wait_all(stack, chosen, results, opts.wait_timeout)

    res = UpResult(plan, results, images)
    if res.failed:
        lines = [f"service {s}: {r.error}" for s, r in sorted(res.failed.items())]
        raise UpError("\n".join(lines))
    return res


def _discard_ghosts(stack: Stack) -> None:
    """Containers in the intent log that the runtime does not know are creations that were
    killed half-way (the CLI died; this command holds the project lock, so no other one is
    creating).  What they made goes now, before planning: their sandbox still holds their
    published ports, and their directory is not listed by anyone else."""
    known = {st.id for st in stack.b.runtime.list_containers()}
    for rec in stack.b.state.load(stack.name).containers:
        if rec.id not in known:
            stack.discard(rec.id)


def _supervised(stack: Stack, cid: str) -> bool:
    try:
        return stack.b.runtime.state(cid).supervised
    except ContainerRuntimeError:
        return True                     # gone meanwhile: the step itself will say so


def _shares_namespace(stack: Stack, service: str) -> bool:
    svc = stack.need_project().services[service]
    return any(m and m.startswith("service:") for m in (svc.network_mode, svc.ipc, svc.pid))


class _NewContainers:
    """Every brand-new container is created at once, on its own thread, before or while the
    walk starts the services (as Compose v2 does: create, then start along the graph); a
    service's start waits only for its own containers.  A container that joins another's
    namespaces is created in its turn by the walk instead."""

    def __init__(self, stack: Stack, plan: Plan, images: dict[str, Image],
                 desired: dict[str, Desired]) -> None:
        self.stack = stack
        self.images = images
        self.desired = desired
        self.made: dict[str, str | BaseException] = {}
        self.ready: dict[str, threading.Event] = {}
        todo = [s for s in plan.steps if s.action == "create"
                and not _shares_namespace(stack, s.service)]
        for step in todo:
            self.ready[step.name] = threading.Event()
        self.threads = [threading.Thread(target=self._one, args=(s,), daemon=True,
                                         name=f"walk-create-{s.name}") for s in todo]
        for t in self.threads:
            t.start()

    def _one(self, step: Step) -> None:
        stack = self.stack
        svc = stack.need_project().services[step.service]
        stack.emit("container", step.name, "Creating", service=svc.name)
        try:
            self.made[step.name] = stack.create(svc, step.number, step.name,
                                                self.images[svc.name],
                                                self.desired[svc.name].config_hash)
            stack.emit("container", step.name, "Created", service=svc.name)
        except KNOWN as e:
            self.made[step.name] = e
            stack.emit("container", step.name, "Error", e.message, service=svc.name)
        except BaseException as e:      # a bug: raised again by get(), in the walk
            self.made[step.name] = e
        finally:
            self.ready[step.name].set()

    def get(self, name: str) -> str | None:
        """The new container's id (waiting for its creation), None if not made here."""
        ev = self.ready.get(name)
        if ev is None:
            return None
        ev.wait()
        done = self.made[name]
        if isinstance(done, BaseException):
            raise done
        return done

    def join(self) -> None:
        for t in self.threads:
            t.join()


def _apply(stack: Stack, step: Step, image: Image, config_hash: str, opts: UpOptions,
           made: _NewContainers) -> None:
    proj = stack.need_project()
    svc = proj.services[step.service]
    if step.action == "remove":
        stack.remove(step.container_id, step.name, opts.timeout, svc.name)
        return
    if step.action == "keep":
        stack.emit("container", step.name, "Running", service=svc.name)
        return
    if step.action == "start":
        if not opts.no_start:
            stack.start(step.container_id, step.name, svc.name)
        return
    if step.action == "recreate":
        stack.emit("container", step.name, "Recreate", step.reason, service=svc.name)
        stack.stop(step.container_id, step.name, opts.timeout, svc.name)
        stack.discard(step.container_id)
        cid = stack.create(svc, step.number, step.name, image, config_hash)
        stack.emit("container", step.name, "Recreated", service=svc.name)
    elif (early := made.get(step.name)) is not None:
        cid = early
    else:
        stack.emit("container", step.name, "Creating", service=svc.name)
        try:
            cid = stack.create(svc, step.number, step.name, image, config_hash)
        except KNOWN as e:
            stack.emit("container", step.name, "Error", e.message, service=svc.name)
            raise
        stack.emit("container", step.name, "Created", service=svc.name)
    if not opts.no_start:
        stack.start(cid, step.name, svc.name)


def _wait_all(stack: Stack, services: Iterable[str], results: dict[str, Result],
              timeout: float | None) -> None:
    """--wait: every started container running, and healthy where it has a healthcheck
    (engine/waiting.py: an exit, `unhealthy` or a crash loop fails at once, with the last log
    lines; `--wait-timeout` bounds the whole wait: `application not healthy after 2s`)."""
    from pystack.orchestrator.engine.waiting import go_duration, wait_ready

    targets = [e for e in stack.containers(services=services)
               if results.get(e.service, Result("done")).status == "done"]
    for name, f in sorted(wait_ready(stack, targets, timeout).items()):
        service = next(e.service for e in targets if e.name == name)
        why = f.why
        if f.kind == "timeout" and timeout is not None:
            why = f"application not healthy after {go_duration(timeout)}: {why}"
        results[service] = Result("failed", why)

