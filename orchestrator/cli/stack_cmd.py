"""Project commands that change things: up, down, create, start, stop, restart, kill, rm,
pause, unpause.  Each loads the project (orchestrator/config), binds it to the backends
(engine/backends.py), takes the project lock and drives the engine with a renderer.

Heavy modules (yaml, rich, pyroute2...) are imported inside the commands only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from pystack.orchestrator.cli.main import GlobalOptions, PystackCommand, project_options

if TYPE_CHECKING:
    from pystack.orchestrator.engine.stack import Stack

# Tests replace this with a factory of fakes (name -> Backends).
BACKENDS: Any = None


def _options(ctx: click.Context) -> GlobalOptions:
    return ctx.find_object(GlobalOptions) or GlobalOptions(environ=dict(os.environ))


def load_stack(ctx: click.Context, services: tuple[str, ...] = (), *,
               need_file: bool = True, warm: bool = False) -> Stack:
    """The project (from the files, or only its name with -p when no file is found and
    `need_file` is False) bound to its backends, with an Emitter and no sink yet.  `warm`:
    commands that will start containers let the runtime get ready while the file loads."""
    from pystack.orchestrator import logging as plog
    from pystack.orchestrator.config.project import load_project
    from pystack.orchestrator.engine.backends import linux_runtime, real_backends
    from pystack.orchestrator.engine.events import Emitter
    from pystack.orchestrator.engine.stack import Stack
    from pystack.orchestrator.errors import ConfigError, NoConfigFileError

    opts = _options(ctx)
    plog.configure(opts.log_level, opts.log_format)
    runtime = linux_runtime(warm=True) if warm and BACKENDS is None else None
    project = None
    try:
        project = load_project(opts, services)
    except ConfigError as e:
        # With -p, commands that act on what exists (down, ps, logs...) work from the state
        # on disk when no usable file is there, as `down` must after any crash.
        if need_file or not opts.project_name:
            raise
        if not isinstance(e, NoConfigFileError):
            click.echo(f"WARN[0000] ignoring the stack file ({e.problems[0]}); acting on "
                       f"project {opts.project_name} as recorded", err=True)
    if project is not None:
        for w in project.warnings:
            click.echo(f"WARN[0000] {w}", err=True)
    name = project.name if project is not None else str(opts.project_name)
    if BACKENDS is not None:
        return Stack(name, BACKENDS(name), project, Emitter())
    return Stack(name, real_backends(name, runtime), project, Emitter())


@contextmanager
def rendering(ctx: click.Context, stack: Stack, title: str = "Running") -> Iterator[None]:
    from pystack.orchestrator.ui.progress import make_renderer

    opts = _options(ctx)
    renderer = make_renderer(opts.progress, opts.no_color, title=title)
    stack.emit._sink = renderer
    try:
        yield
    finally:
        renderer.close()
        from pystack.orchestrator.engine.events import discard

        stack.emit._sink = discard


@contextmanager
def locked(stack: Stack) -> Iterator[None]:
    from pystack.orchestrator.engine.state import ProjectLock
    from pystack.orchestrator.settings import settings

    with ProjectLock(stack.name, settings().lock_timeout):
        yield


def misplaced_file(command: str, flag: str, services: tuple[str, ...]) -> None:
    """`pystack logs -f stack.yml`: after `logs` -f is --follow, after `rm` --force (as in
    Compose), so the file became a service name: say so instead of "no such service"."""
    for s in services:
        if s.endswith((".yml", ".yaml", ".json")) or os.path.isfile(s):
            raise click.UsageError(
                f"{s!r} is not a service: after `{command}`, -f means {flag} (as in Compose); "
                f"give the stack file before the command: pystack -f {s} {command} ...")


def _scale(values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for v in values:
        name, _, n = v.partition("=")
        if not n.isdigit():
            raise click.BadParameter(f"{v!r}: expected SERVICE=NUM", param_hint="--scale")
        out[name] = int(n)
    return out


@click.command(cls=PystackCommand)
@project_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background.")
@click.option("--wait", "wait_", is_flag=True, help="Wait for services to be running|healthy.")
@click.option("--wait-timeout", type=float, default=None, help="Seconds to wait (--wait).")
@click.option("--no-deps", is_flag=True, help="Don't start linked services.")
@click.option("--force-recreate", is_flag=True, help="Recreate even if unchanged.")
@click.option("--no-recreate", is_flag=True, help="Never recreate existing containers.")
@click.option("--no-start", is_flag=True, help="Create but don't start.")
@click.option("--scale", multiple=True, metavar="SERVICE=NUM", help="Replicas of a service.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of removed services.")
@click.option("--abort-on-container-exit", is_flag=True,
              help="Stop everything when any container stops.")
@click.option("--exit-code-from", default=None, metavar="SERVICE",
              help="Exit with this service's exit code (implies --abort-on-container-exit).")
@click.option("-t", "--timeout", type=float, default=None, help="Stop timeout, seconds.")
@click.option("--pull", type=click.Choice(["always", "missing", "never", "policy"]),
              default="policy", help="Pull images before running.")
@click.option("--quiet-pull", is_flag=True, help="Pull without progress.")
@click.option("--build", "build_", is_flag=True, help="Build images before starting.")
@click.option("--no-build", is_flag=True, help="Don't build an image, even if missing.")
@click.option("--no-color", "no_color_logs", is_flag=True, help="Monochrome log output.")
@click.option("--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--no-log-prefix", is_flag=True, help="No prefix in logs.")
@click.option("-w", "--watch", "watch_", is_flag=True,
              help="Watch source code and rebuild/refresh containers when files are updated.")
@click.argument("services", nargs=-1)
@click.pass_context
def up(ctx: click.Context, detach: bool, wait_: bool, wait_timeout: float | None,
       no_deps: bool, force_recreate: bool, no_recreate: bool, no_start: bool,
       scale: tuple[str, ...], remove_orphans: bool, abort_on_container_exit: bool,
       exit_code_from: str | None, timeout: float | None, pull: str, quiet_pull: bool,
       build_: bool, no_build: bool, no_color_logs: bool, timestamps: bool,
       no_log_prefix: bool, watch_: bool, services: tuple[str, ...]) -> None:
    """Create and start the project's containers."""
    from pystack.orchestrator.engine.up import UpOptions
    from pystack.orchestrator.engine.up import up as engine_up

    if force_recreate and no_recreate:
        raise click.UsageError("--force-recreate and --no-recreate are incompatible")
    if watch_ and (detach or no_start):
        raise click.UsageError("--watch cannot be combined with --detach or --no-start")
    stack = load_stack(ctx, services, warm=not no_start)
    if watch_:
        from pystack.orchestrator.cli.watch_cmd import check_watch

        check_watch(stack, services)
    opts = UpOptions(services=services, no_deps=no_deps, force_recreate=force_recreate,
                     no_recreate=no_recreate, no_start=no_start, scale=_scale(scale),
                     remove_orphans=remove_orphans, pull=pull, quiet_pull=quiet_pull,
                     wait=wait_, wait_timeout=wait_timeout, timeout=timeout,
                     build="never" if no_build else "auto")
    from pystack.orchestrator.cli.build_cmd import prebuild

    prebuild(ctx, stack, opts, build_, no_build)
    if not detach:
        import signal

        def interrupted(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        # SIGTERM stops an attached `up` the way Ctrl-C does (Compose does the same).
        signal.signal(signal.SIGTERM, interrupted)
    from pystack.orchestrator.cli.attach import now_rfc3339

    began = now_rfc3339()
    try:
        with locked(stack), rendering(ctx, stack):
            engine_up(stack, opts)
    except KeyboardInterrupt:
        if detach:
            raise
        # Attached: Ctrl-C while the stack comes up stops what already started.
        stack.cancelled.set()
        from pystack.orchestrator.engine import ops
        from pystack.orchestrator.engine.execute import wait_workers

        wait_workers()

        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
        with locked(stack):
            ops.stop(stack, services, timeout)
        ctx.exit(130)
    if detach or wait_ or no_start:
        return
    if watch_:
        from pystack.orchestrator.cli.watch_cmd import attached_watch

        ctx.exit(attached_watch(ctx, stack, services, since=began, timeout=timeout,
                                no_color=no_color_logs or _options(ctx).no_color,
                                timestamps=timestamps, no_prefix=no_log_prefix))
    from pystack.orchestrator.cli.attach import attach

    code = attach(stack, services, no_color=no_color_logs or _options(ctx).no_color,
                  ansi=_options(ctx).ansi,
                  timestamps=timestamps, no_prefix=no_log_prefix,
                  abort_on_exit=abort_on_container_exit or bool(exit_code_from),
                  exit_code_from=exit_code_from, timeout=timeout, since=began,
                  progress=lambda: rendering(ctx, stack, "Stopping"))
    ctx.exit(code)


@click.command(cls=PystackCommand)
@project_options
@click.option("-v", "--volumes", is_flag=True, help="Remove named and anonymous volumes.")
@click.option("--rmi", type=click.Choice(["local", "all"]), default=None,
              help="Remove images used by services.")
@click.option("--remove-orphans", is_flag=True,
              help="Remove containers of services not in the stack file.")
@click.option("-t", "--timeout", type=float, default=None, help="Stop timeout, seconds.")
@click.argument("services", nargs=-1)
@click.pass_context
def down(ctx: click.Context, volumes: bool, rmi: str | None, remove_orphans: bool,
         timeout: float | None, services: tuple[str, ...]) -> None:
    """Stop and remove containers, networks (and volumes with -v)."""
    from pystack.orchestrator.engine import ops

    stack = load_stack(ctx, need_file=False)
    before = len(stack.emit.history)
    with locked(stack), rendering(ctx, stack, "Running"):
        if services:
            ops.rm(stack, services, force=True, stop_first=True, timeout=timeout)
        else:
            ops.down(stack, ops.DownOptions(volumes=volumes, rmi=rmi, timeout=timeout,
                                            remove_orphans=remove_orphans))
        if nothing_done(stack, before):
            # Compose's words (a warning: each --progress mode prints it its way).
            stack.emit.warn(f'Warning: No resource found to remove for project "{stack.name}".')


def nothing_done(stack: Stack, since: int) -> bool:
    """No object had an event since history[since] (an empty operation)."""
    return all(e.kind == "warning" for e in stack.emit.history[since:])


@click.command(cls=PystackCommand)
@project_options
@click.option("--force-recreate", is_flag=True)
@click.option("--no-recreate", is_flag=True)
@click.option("--pull", type=click.Choice(["always", "missing", "never", "policy"]),
              default="policy")
@click.option("--remove-orphans", is_flag=True)
@click.option("--scale", multiple=True, metavar="SERVICE=NUM")
@click.option("--build", "build_", is_flag=True, help="Build images before creating.")
@click.option("--no-build", is_flag=True, help="Don't build an image, even if missing.")
@click.argument("services", nargs=-1)
@click.pass_context
def create(ctx: click.Context, force_recreate: bool, no_recreate: bool, pull: str,
           remove_orphans: bool, scale: tuple[str, ...], build_: bool, no_build: bool,
           services: tuple[str, ...]) -> None:
    """Create the project's containers without starting them."""
    from pystack.orchestrator.cli.build_cmd import prebuild
    from pystack.orchestrator.engine.up import UpOptions
    from pystack.orchestrator.engine.up import up as engine_up

    stack = load_stack(ctx, services)
    opts = UpOptions(services=services, force_recreate=force_recreate,
                     no_recreate=no_recreate, no_start=True, pull=pull,
                     remove_orphans=remove_orphans, scale=_scale(scale),
                     build="never" if no_build else "auto")
    prebuild(ctx, stack, opts, build_, no_build)
    with locked(stack), rendering(ctx, stack):
        engine_up(stack, opts)


def _simple(name: str, doc: str, with_timeout: bool = False) -> click.Command:
    @click.pass_context
    def cmd(ctx: click.Context, services: tuple[str, ...], timeout: float | None = None,
            signal: str = "SIGKILL") -> None:
        from pystack.orchestrator.engine import ops

        stack = load_stack(ctx, need_file=False)
        before = len(stack.emit.history)
        with locked(stack), rendering(ctx, stack):
            if name == "stop":
                ops.stop(stack, services, timeout)
            elif name == "start":
                ops.start(stack, services)
            elif name == "restart":
                ops.restart(stack, services, timeout)
            elif name == "pause":
                ops.pause(stack, services)
            elif name == "unpause":
                ops.unpause(stack, services)
            elif name == "kill":
                ops.kill(stack, services, signal)
        if name == "kill" and nothing_done(stack, before):
            click.echo("no container to kill", err=True)       # as Compose

    cmd.__doc__ = doc
    params: list[click.Parameter] = [click.Argument(["services"], nargs=-1)]
    if with_timeout:
        params.append(click.Option(["-t", "--timeout"], type=float, default=None,
                                   help="Stop timeout, seconds."))
    if name == "kill":
        params.append(click.Option(["-s", "--signal"], default="SIGKILL",
                                   help="Signal to send."))
    command = PystackCommand(name, callback=cmd, params=params, help=doc)
    return project_options(command)  # type: ignore[no-any-return]


stop = _simple("stop", "Stop services.", True)
start = _simple("start", "Start existing containers.")
restart = _simple("restart", "Restart services.", True)
pause = _simple("pause", "Pause services.")
unpause = _simple("unpause", "Unpause services.")
kill = _simple("kill", "Kill containers.")


@click.command(cls=PystackCommand)
@click.option("-f", "--force", is_flag=True, help="Don't ask to confirm removal.")
@click.option("-s", "--stop", "stop_", is_flag=True,
              help="Stop the containers, if required, before removing.")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes.")
@click.argument("services", nargs=-1)
@click.pass_context
def rm(ctx: click.Context, force: bool, stop_: bool, volumes: bool,
       services: tuple[str, ...]) -> None:
    """Remove stopped service containers (running ones stay, unless -s stops them first)."""
    from pystack.orchestrator.engine import ops

    if force:
        misplaced_file("rm", "--force", services)
    stack = load_stack(ctx, need_file=False)
    if stack.project is not None:
        for s in services:
            stack.project.service(s)            # an unknown service is an error (Compose)
    # As Compose (pkg/compose/remove.go): only stopped containers go; none: say so, exit 0;
    # say what goes, and ask unless -f (no answer, e.g. stdin at its end, is no).
    going = [e.name for e in stack.containers(services=services) if stop_ or not e.running]
    if not going:
        click.echo("No stopped containers", err=True)
        return
    message = f"Going to remove {', '.join(going)}"
    if force:
        click.echo(message)
    else:
        try:
            yes = click.confirm(message, default=False, err=True)
        except click.Abort:
            yes = False
        if not yes:
            return
    with locked(stack), rendering(ctx, stack):
        ops.rm(stack, services, stop_first=stop_, volumes=volumes, only_stopped=True)
