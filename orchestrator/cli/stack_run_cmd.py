"""`exec` (a command in a running service container) and `run` (a one-off container)."""

from __future__ import annotations

import sys
from typing import Any

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options
from pystack.orchestrator.cli.stack_cmd import load_stack, locked, rendering


def _env(values: tuple[str, ...]) -> dict[str, str]:
    import os

    out = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not eq:
            val = os.environ.get(k, "")
        out[k] = val
    return out


def terminal_options(f: Any) -> Any:
    """-T/-t/-i/--detach-keys, the same for exec and run (as Compose)."""
    for opt in reversed([
        click.option("-T", "--no-TTY", "--no-tty", "no_tty", is_flag=True,
                     help="Don't allocate a TTY (default: one when stdin is a terminal)."),
        click.option("-t", "--tty", "tty", is_flag=True,
                     help="Allocate a TTY (the default on one)."),
        click.option("-i", "--interactive", is_flag=True, hidden=True,
                     help="Keep STDIN open (the default)."),
        click.option("--detach-keys", default=None,
                     help="Key sequence that detaches (ctrl-p,ctrl-q)."),
    ]):
        f = opt(f)
    return f


@click.command(cls=PystackCommand, context_settings={"ignore_unknown_options": True,
                                                     "allow_interspersed_args": False})
@project_options
@click.option("-d", "--detach", is_flag=True)
@terminal_options
@click.option("-u", "--user", default=None)
@click.option("-w", "--workdir", default=None)
@click.option("-e", "--env", multiple=True, metavar="KEY=VAL")
@click.option("--index", type=int, default=1)
@click.option("--privileged", is_flag=True)
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def exec_(ctx: click.Context, detach: bool, no_tty: bool, tty: bool, interactive: bool,
          detach_keys: str | None, user: str | None, workdir: str | None,
          env: tuple[str, ...], index: int, privileged: bool, service: str,
          command: tuple[str, ...]) -> None:
    """Run a command in a running service container."""
    from pystack.orchestrator.engine.oneoff import exec_in
    from pystack.runtime.relay import raw_terminal

    stack = load_stack(ctx, need_file=False)
    use_tty = _want_tty(tty, no_tty) and not detach
    environment = _env(env)
    if use_tty:
        environment.setdefault("TERM", _term())
    with raw_terminal(sys.stdin.fileno() if use_tty else None):
        code = exec_in(stack, service, command, index=index, env=environment, user=user,
                       workdir=workdir, tty=use_tty, privileged=privileged, detach=detach,
                       detach_keys=detach_keys,
                       stdin=None if detach else sys.stdin.buffer,
                       stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)
    ctx.exit(code)


def _want_tty(tty: bool, no_tty: bool) -> bool:
    """-T: no terminal; -t: one; neither: one when stdin is a terminal (as Compose)."""
    if no_tty:
        return False
    return tty or sys.stdin.isatty()


def _size() -> tuple[int, int] | None:
    """The caller's terminal size (rows, cols), for a one-off's terminal at its start."""
    import os

    for f in (sys.stdin, sys.stdout):
        try:
            size = os.get_terminal_size(f.fileno())
        except (OSError, ValueError):
            continue
        if size.lines and size.columns:
            return size.lines, size.columns
    return None


def _term() -> str:
    import os

    return os.environ.get("TERM") or "xterm"


@click.command(cls=PystackCommand, context_settings={"ignore_unknown_options": True,
                                                     "allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True)
@click.option("--rm", is_flag=True, help="Remove the container when it exits.")
@click.option("-e", "--env", multiple=True, metavar="KEY=VAL")
@click.option("-u", "--user", default=None)
@click.option("-w", "--workdir", default=None)
@click.option("--entrypoint", default=None)
@click.option("--no-deps", is_flag=True)
@terminal_options
@click.option("-v", "--volume", "volumes", multiple=True)
@click.option("-p", "--publish", multiple=True)
@click.option("--service-ports", is_flag=True)
@click.option("--name", default=None)
@click.option("--pull", type=click.Choice(["always", "missing", "never", "policy"]),
              default="policy")
@click.option("--build", "build_", is_flag=True, help="Build the image(s) first.")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, detach: bool, rm: bool, env: tuple[str, ...], user: str | None,
        workdir: str | None, entrypoint: str | None, no_deps: bool, no_tty: bool, tty: bool,
        interactive: bool, detach_keys: str | None, volumes: tuple[str, ...],
        publish: tuple[str, ...], service_ports: bool, name: str | None, pull: str,
        build_: bool, service: str, command: tuple[str, ...]) -> None:
    """Run a one-off command in a new container of a service."""
    import shlex

    from pystack.orchestrator.engine.oneoff import (
        RunOptions,
        before_run,
        create_oneoff,
        undo_run,
    )
    from pystack.orchestrator.engine.stack import Stack
    from pystack.runtime.relay import detach_sequence, raw_terminal

    detach_sequence(detach_keys)                # bad keys: nothing is made
    stack: Stack = load_stack(ctx, (service,), warm=True)
    use_tty = _want_tty(tty, no_tty)
    environment = _env(env)
    if use_tty:
        environment.setdefault("TERM", _term())
    opts = RunOptions(service=service, command=command or None,
                      entrypoint=tuple(shlex.split(entrypoint)) if entrypoint is not None
                      else None, env=environment, user=user, workdir=workdir, name=name,
                      no_deps=no_deps, service_ports=service_ports, publish=publish,
                      volumes=volumes, detach=detach, tty=use_tty, interactive=not detach,
                      console_size=_size() if use_tty else None)
    from pystack.orchestrator.cli.build_cmd import prebuild
    from pystack.orchestrator.engine.up import UpOptions

    prebuild(ctx, stack, UpOptions(services=(service,), no_deps=no_deps), build_, False)
    before = before_run(stack)
    try:
        with locked(stack), rendering(ctx, stack):
            box = create_oneoff(stack, opts, pull)
    except BaseException:
        with locked(stack):
            undo_run(stack, before)
        raise
    if detach:
        _start(stack, box, rm=True, before=before)
        click.echo(box.name)
        return
    code, detached = 1, False
    try:
        with raw_terminal(sys.stdin.fileno() if use_tty else None):
            _start(stack, box, rm, before)
            detached = _attach(stack, box, detach_keys)
        if detached:
            click.echo(f"detached from {box.name}; it goes on (`pystack attach`, "
                       f"`pystack rm -sf`)", err=True)
            code = 0
        else:
            code = stack.b.runtime.wait(box.id).exit_code or 0
    except KeyboardInterrupt:
        stack.b.runtime.stop(box.id, 1)
        code = 130
    finally:
        if rm and not detached:
            stack.discard(box.id)
    ctx.exit(code)


def _start(stack: Any, box: Any, rm: bool, before: Any) -> None:
    """Start the one-off; when it cannot start, remove it with --rm (Compose keeps it
    otherwise) and what this run made for it."""
    from pystack.orchestrator.engine.oneoff import undo_run

    try:
        stack.b.runtime.start(box.id)
    except BaseException:
        if rm:
            stack.discard(box.id)
            with locked(stack):
                undo_run(stack, before)
        raise


def _attach(stack: Any, box: Any, detach_keys: str | None) -> bool:
    """The one-off's console (its output from the start, our stdin to it); when it ended
    before we got there, its output from the log."""
    from pystack.orchestrator.engine.query import follow_logs
    from pystack.runtime.errors import ContainerRuntimeError

    try:
        return bool(stack.b.runtime.attach(box.id, stdin=sys.stdin.buffer,
                                           stdout=sys.stdout.buffer,
                                           stderr=sys.stderr.buffer, detach_keys=detach_keys))
    except ContainerRuntimeError:
        if stack.b.runtime.state(box.id).status in ("running", "paused"):
            raise

    def sink(_e: object, entry: Any) -> None:
        stream = sys.stderr if entry.stream == "stderr" else sys.stdout
        stream.write(entry.line)
        stream.flush()
    follow_logs(stack, [box], sink, follow=False)
    return False


@click.command(cls=PystackCommand)
@project_options
@click.option("--index", type=int, default=1, help="Index of the container (default 1).")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--detach-keys", default=None, help="Key sequence that detaches (ctrl-p,ctrl-q).")
@click.option("--sig-proxy/--no-sig-proxy", default=True,
              help="Pass Ctrl-C to the container (without a TTY).")
@click.argument("service")
@click.pass_context
def attach(ctx: click.Context, index: int, no_stdin: bool, detach_keys: str | None,
           sig_proxy: bool, service: str) -> None:
    """Attach to a running service container's console (its output from now on, your input
    to it); the detach keys leave it running."""
    import signal

    from pystack.orchestrator.engine.query import pick_container
    from pystack.runtime.relay import detach_sequence, raw_terminal

    detach_sequence(detach_keys)
    stack = load_stack(ctx, need_file=False)
    target = pick_container(stack, service, index)
    rt = stack.b.runtime
    tty = rt.spec(target.id).tty
    stdin = None if no_stdin else sys.stdin.buffer
    old = None
    if sig_proxy and not tty:
        old = signal.signal(signal.SIGINT, lambda *_: rt.kill(target.id, "SIGINT"))
    try:
        with raw_terminal(sys.stdin.fileno() if tty and stdin is not None else None):
            detached = rt.attach(target.id, stdin=stdin, stdout=sys.stdout.buffer,
                                 stderr=sys.stderr.buffer, detach_keys=detach_keys)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    ctx.exit(0 if detached else rt.wait(target.id).exit_code or 0)
