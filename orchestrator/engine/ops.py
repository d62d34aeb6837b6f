"""Lifecycle operations on a project's existing containers: down, stop, start, restart, kill,
rm, pause, unpause.  Stops walk the dependency graph in reverse (dependents first), in
parallel.  `down` works from what exists (the runtime's containers with the project's label,
plus the state file's records) and so also cleans up after a CLI or shim that died.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pystack.net.errors import NetError
from pystack.orchestrator.engine.execute import walk
from pystack.orchestrator.engine.parallel import failures, parallel
from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.stack import Stack
from pystack.orchestrator.engine.volumes import remove_file_objects, remove_volume
from pystack.orchestrator.errors import NotFoundError, OrchestratorError
from pystack.runtime.errors import ContainerRuntimeError


@dataclass(frozen=True)
class DownOptions:
    volumes: bool = False
    rmi: str | None = None              # "local" | "all"
    remove_orphans: bool = False
    timeout: float | None = None


def orphans(stack: Stack, containers: Iterable[Existing]) -> list[Existing]:
    """Containers of services the stack file no longer has (not one-offs: `down` removes
    those anyway, docker/compose#9880).  Without a file, nothing is an orphan."""
    if stack.project is None:
        return []
    known = set(stack.project.services) | set(stack.project.disabled)
    return [e for e in containers if not e.oneoff and e.service not in known]


def _parallel(items: Iterable[Existing], fn: Callable[[Existing], None]) -> list[str]:
    """fn on every container at once; "name: message" per pystack error (bugs are raised)."""
    return [f"{e.name}: {x.message}"
            for e, x in failures(parallel(items, fn, name="container")).items()]


def _by_service(stack: Stack, containers: list[Existing],
                fn: Callable[[Existing], None], reverse: bool = True) -> list[str]:
    """Apply fn to every container, service by service along the graph (reverse = dependents
    first), containers of one service in parallel."""
    groups: dict[str, list[Existing]] = {}
    for e in containers:
        groups.setdefault(e.service, []).append(e)
    errs: list[str] = []

    def run(service: str) -> None:
        errs.extend(_parallel(groups[service], fn))

    walk(sorted(groups), stack.dependencies(), run, reverse=reverse)
    return errs


def _raise(errs: list[str]) -> None:
    if errs:
        raise OrchestratorError("\n".join(errs))


def down(stack: Stack, opts: DownOptions) -> None:
    """Like Compose v2: orphan containers stay (with a warning) unless `remove_orphans`, and
    so do the networks they are attached to."""
    live = stack.containers(oneoff=None)
    ids = {e.id for e in live}
    kept = [] if opts.remove_orphans else orphans(stack, live)
    if kept:
        stack.emit.warn("Found orphan containers (" + ", ".join(e.name for e in kept) +
                        ") for this project. If you removed or renamed this service in your "
                        "compose file, you can run this command with the --remove-orphans "
                        "flag to clean it up.")
        live = [e for e in live if e not in kept]
    record = stack.b.state.load(stack.name)
    ghosts = [c for c in record.containers if c.id not in ids]
    # Stop along the graph (dependents first), then remove everything at once; sandboxes
    # go with the teardown below, in bulk.
    errs = _by_service(stack, [e for e in live if e.running],
                       lambda e: stack.stop(e.id, e.name, opts.timeout, e.service))
    errs += _parallel(live, lambda e: stack.remove(e.id, e.name, opts.timeout, e.service,
                                                   stop=False, sandbox=False))
    for g in ghosts:
        # Recorded but not (or no longer) known to the runtime: a create that was interrupted.
        stack.discard(g.id, sandbox=False)
    nets = [n.name for n in stack.b.network.list_networks()]
    if stack.project is not None:
        from pystack.orchestrator.engine import specs as S

        for svc in stack.project.services.values():
            for net, *_ in S.service_networks(stack.project, svc):
                if not net.external and net.name not in nets and net.name in record.networks:
                    nets.append(net.name)
    keep = {e.id for e in kept}
    in_use = {a.network for e in kept if (sb := stack.b.network.sandbox(e.id)) is not None
              for a in sb.attachments}
    for n in nets:
        stack.emit("network", n, "Removing")
    try:
        stack.b.network.teardown(keep) if keep else stack.b.network.teardown()
    except NetError as e:
        errs.append(f"network teardown: {e.message}")
    for n in nets:
        if n in in_use:
            stack.emit("network", n, "Error", "Resource is still in use")
        else:
            stack.emit("network", n, "Removed")
    if opts.volumes:
        names = set(record.volumes)
        if stack.project is not None:
            names |= {v.name for v in stack.project.volumes.values() if not v.external}
            names -= {v.name for v in stack.project.volumes.values() if v.external}
        for v in sorted(names):
            stack.emit("volume", v, "Removing")
            remove_volume(v)
            stack.emit("volume", v, "Removed")
    if opts.rmi and stack.project is not None:
        for svc in stack.project.services.values():
            # local: the images built for services without `image:` (as Compose)
            built = stack.image_ref(svc) if svc.build is not None else None
            ref = (svc.image or built) if opts.rmi == "all" else (
                built if not svc.image else None)
            if ref:
                try:
                    stack.b.images.remove(ref)
                    stack.emit("image", ref, "Removed")
                except ContainerRuntimeError as e:
                    stack.emit("image", ref, "Error", e.message)
    _raise(errs)
    if not kept:
        remove_file_objects(stack.name)         # secrets and configs written for it
    if kept:
        for g in record.containers:
            if g.id not in keep:
                stack.b.state.drop_container(stack.name, g.id)
    elif opts.volumes:
        stack.b.state.remove(stack.name)
    else:
        # The named volumes outlive the project (Compose keeps them): their names stay
        # recorded, so `-p NAME down -v` without the file can still remove them.
        stack.b.state.keep_only_volumes(stack.name)


def _pick(stack: Stack, services: Iterable[str], oneoff: bool | None = False) -> list[Existing]:
    services = list(services)
    if stack.project is not None:
        for s in services:
            stack.project.service(s)
    return stack.containers(oneoff=oneoff, services=services)


def stop(stack: Stack, services: Iterable[str] = (), timeout: float | None = None) -> None:
    cs = [e for e in _pick(stack, services) if e.running]
    _raise(_by_service(stack, cs, lambda e: stack.stop(e.id, e.name, timeout, e.service)))


def start(stack: Stack, services: Iterable[str] = ()) -> None:
    cs = [e for e in _pick(stack, services) if not e.running]
    if not stack.containers() and stack.project is not None:
        raise NotFoundError("no containers to start", hint="run `pystack up` first")
    _raise(_by_service(stack, cs, lambda e: stack.start(e.id, e.name, e.service),
                       reverse=False))


def restart(stack: Stack, services: Iterable[str] = (), timeout: float | None = None) -> None:
    cs = _pick(stack, services)

    def again(e: Existing) -> None:
        stack.emit("container", e.name, "Restarting", service=e.service)
        stack.b.runtime.stop(e.id, timeout)
        stack.b.runtime.start(e.id)
        stack.emit("container", e.name, "Restarted", service=e.service)

    _raise(_parallel(cs, again))


def kill(stack: Stack, services: Iterable[str] = (), signal: str = "SIGKILL") -> None:
    from pystack.orchestrator.config.units import parse_signal

    try:
        sig = parse_signal(signal)       # the one signal rule (stop_signal uses it too)
    except ValueError as e:
        raise OrchestratorError(f"invalid signal {signal}: {e}") from None
    cs = [e for e in _pick(stack, services) if e.running]

    def one(e: Existing) -> None:
        stack.emit("container", e.name, "Killing", service=e.service)
        stack.b.runtime.kill(e.id, int(sig) if sig.isdigit() else sig)
        stack.emit("container", e.name, "Killed", service=e.service)

    _raise(_parallel(cs, one))


def rm(stack: Stack, services: Iterable[str] = (), force: bool = False, stop_first: bool = False,
       volumes: bool = False, timeout: float | None = None,
       only_stopped: bool = False) -> list[str]:
    """Remove the containers of `services`; `only_stopped` (the `rm` command, as Compose)
    leaves running ones alone instead of refusing them."""
    cs = _pick(stack, services)
    if stop_first:
        stop(stack, services, timeout)
        cs = _pick(stack, services)
    if only_stopped:
        cs = [e for e in cs if not e.running]
    running = [e.name for e in cs if e.running]
    if running and not force:
        raise OrchestratorError("cannot remove running containers: " + ", ".join(running),
                                hint="stop them first, or use -s / -f")
    _raise(_parallel(cs, lambda e: stack.remove(e.id, e.name, timeout, e.service,
                                                stop=e.running)))
    if volumes:
        # -v: the anonymous volumes of the removed containers (named ones stay).
        from pystack.orchestrator.engine.volumes import anonymous_prefix, volumes_dir

        vdir = volumes_dir()
        for e in cs:
            prefix = anonymous_prefix(stack.name, e.service, e.number)
            for d in (vdir.iterdir() if vdir.is_dir() else ()):
                if d.name.startswith(prefix):
                    remove_volume(d.name)
    return [e.name for e in cs]


def pause(stack: Stack, services: Iterable[str] = ()) -> None:
    cs = [e for e in _pick(stack, services) if e.status == "running"]

    def one(e: Existing) -> None:
        stack.b.runtime.pause(e.id)
        stack.emit("container", e.name, "Paused", service=e.service)

    _raise(_parallel(cs, one))


def unpause(stack: Stack, services: Iterable[str] = ()) -> None:
    cs = [e for e in _pick(stack, services) if e.status == "paused"]

    def one(e: Existing) -> None:
        stack.b.runtime.unpause(e.id)
        stack.emit("container", e.name, "Unpaused", service=e.service)

    _raise(_parallel(cs, one))
