"""`run` (one-off containers) and `exec` (a process in a running container).

One-off containers are named `<project>-<service>-run-<12 hex>`, labelled `oneoff=True`, and
are removed by `down` (unlike Compose: docker/compose#9880).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import IO

from pystack.orchestrator.config.model import PortMapping, VolumeMount
from pystack.orchestrator.engine.plan import Existing, container_hash
from pystack.orchestrator.engine.query import pick_container
from pystack.orchestrator.engine.stack import Stack
from pystack.orchestrator.engine.up import UpOptions, up
from pystack.orchestrator.errors import OrchestratorError
from pystack.runtime.spec import ExecSpec


@dataclass(frozen=True)
class RunOptions:
    service: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    name: str | None = None
    no_deps: bool = False
    service_ports: bool = False
    publish: tuple[str, ...] = ()       # "8080:80", "127.0.0.1:8080:80/udp"
    volumes: tuple[str, ...] = ()       # "SRC:DST[:ro]"
    detach: bool = False
    tty: bool = False
    interactive: bool = False           # stdin attached (Compose's -i, on by default)
    console_size: tuple[int, int] | None = None     # with tty: the caller's (rows, cols)


def _publish(spec: str) -> PortMapping:
    body, _, proto = spec.partition("/")
    parts = body.split(":")
    if len(parts) == 1:
        return PortMapping(target=int(parts[0]), protocol=proto or "tcp")
    if len(parts) == 2:
        return PortMapping(target=int(parts[1]), published=parts[0] or None,
                           protocol=proto or "tcp")
    return PortMapping(target=int(parts[2]), published=parts[1] or None, host_ip=parts[0],
                       protocol=proto or "tcp")


def parse_publish(values: tuple[str, ...]) -> tuple[PortMapping, ...]:
    out = []
    for v in values:
        try:
            out.append(_publish(v))
        except (ValueError, IndexError):
            hint = "expected [[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL], e.g. 8080:80"
            if not any(c.isdigit() for c in v):
                hint = (f"-p after `run` means --publish (as in Compose); a project name goes "
                        f"before the command: pystack -p {v} run ...")
            raise OrchestratorError(f"invalid --publish value {v!r}", hint=hint) from None
    return tuple(out)


def _volume(spec: str, workdir: str) -> VolumeMount:
    import os

    parts = spec.split(":")
    if len(parts) < 2:
        return VolumeMount(type="volume", target=parts[0])
    src, dst = parts[0], parts[1]
    ro = len(parts) > 2 and "ro" in parts[2].split(",")
    if src.startswith((".", "/", "~")):
        return VolumeMount(type="bind", target=dst,
                           source=os.path.abspath(os.path.join(workdir, os.path.expanduser(src))),
                           read_only=ro)
    return VolumeMount(type="volume", target=dst, source=src, read_only=ro)


@dataclass(frozen=True)
class Before:
    """What the project had before `run` (so that a failed run removes only what it made)."""

    networks: frozenset[str]
    volumes: frozenset[str]


def before_run(stack: Stack) -> Before:
    return Before(frozenset(n.name for n in stack.b.network.list_networks()),
                  frozenset(stack.b.state.load(stack.name).volumes))


def undo_run(stack: Stack, before: Before) -> None:
    """After a failed `run`: remove the networks and named volumes it created that no
    remaining container of the project uses (dependencies it started keep theirs)."""
    from pystack.orchestrator.engine.volumes import remove_volume

    left = stack.containers(oneoff=None)
    in_use = {a.network for e in left if (sb := stack.b.network.sandbox(e.id)) is not None
              for a in sb.attachments}
    for n in sorted({x.name for x in stack.b.network.list_networks()} - before.networks):
        if n not in in_use and n in stack.b.state.load(stack.name).networks:
            stack.b.network.remove_network(n)
    st = stack.b.state.load(stack.name)
    made = [v for v in st.volumes if v not in before.volumes]
    if made and not left:
        for v in made:
            remove_volume(v)
        stack.b.state.update(stack.name, volumes=tuple(v for v in st.volumes if v not in made))


def create_oneoff(stack: Stack, opts: RunOptions, pull: str = "policy") -> Existing:
    """Start the service's dependencies (unless --no-deps), the service's own networks (as
    Compose, also when the stack is not up), then create the one-off."""
    proj = stack.need_project()
    svc = proj.service(opts.service)
    ports = parse_publish(opts.publish)     # bad input changes nothing: checked before deps
    if not opts.no_deps:
        deps = [d for d in stack.with_dependencies([svc.name]) if d != svc.name]
        if deps:
            up(stack, UpOptions(services=tuple(deps), pull=pull))
    image = stack.ensure_image(svc, pull)
    if opts.service_ports:
        ports = (*svc.ports, *ports)
    env = {**svc.environment, **opts.env}
    override = replace(
        svc, ports=ports, environment=env,
        command=opts.command if opts.command is not None else svc.command,
        entrypoint=opts.entrypoint if opts.entrypoint is not None else svc.entrypoint,
        user=opts.user or svc.user, working_dir=opts.workdir or svc.working_dir,
        volumes=(*svc.volumes, *(_volume(v, proj.working_dir) for v in opts.volumes)),
        tty=opts.tty, stdin_open=opts.interactive, restart=None, container_name=None)
    slug = secrets.token_hex(6)
    name = opts.name or f"{proj.name}-{svc.name}-run-{slug}"
    h = container_hash(proj.config_hash(svc.name), image.id)
    stack.ensure_networks([svc.name])
    cid = stack.create(svc, 1, name, image, h, oneoff=True, override=override,
                       console_size=opts.console_size)
    return Existing(cid, name, svc.name, 1, "created", h, oneoff=True)


def exec_in(stack: Stack, service: str, argv: tuple[str, ...], *, index: int = 1,
            env: Mapping[str, str] | None = None, user: str | None = None,
            workdir: str | None = None, tty: bool = False, privileged: bool = False,
            detach: bool = False, detach_keys: str | None = None,
            stdin: IO[bytes] | None = None,
            stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> int:
    target = pick_container(stack, service, index)
    if not argv:
        raise OrchestratorError("exec needs a command")
    spec = ExecSpec(argv=argv, env=dict(env or {}), user=user, working_dir=workdir, tty=tty,
                    privileged=privileged, detach=detach, detach_keys=detach_keys)
    return stack.b.runtime.exec(target.id, spec, stdin=stdin, stdout=stdout, stderr=stderr)
