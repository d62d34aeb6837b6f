"""`pystack watch [SERVICE...]` and the attached `up --watch`: the session of engine/watch.py
with its lines printed, started after `up` as Compose v2 does.

`watch` brings the services up first (unless --no-up; images of services with both `build:`
and `develop:` are built, as Compose sets their pull policy to build), then prints the watch
lines until Ctrl-C or SIGTERM, which ends the session and leaves the containers running.
`up --watch` prints the containers' output and the watch lines together, and on Ctrl-C ends
the session and stops the containers as an attached `up` does.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options
from pystack.orchestrator.cli.stack_cmd import load_stack, locked, rendering

if TYPE_CHECKING:
    from pystack.orchestrator.engine.plan import Existing
    from pystack.orchestrator.engine.stack import Stack
    from pystack.orchestrator.engine.watch import Session

_PRINT = threading.Lock()


def say(line: str) -> None:
    with _PRINT:
        click.echo(line)


def warn(line: str) -> None:
    with _PRINT:
        click.echo(f"WARN[0000] {line}", err=True)


def check_watch(stack: Stack, services: tuple[str, ...]) -> None:
    """Fail before anything starts when no chosen service can be watched."""
    from pystack.orchestrator.engine.watch import watched_rules

    watched_rules(stack, services, lambda line: None)


def _session(ctx: click.Context, stack: Stack, services: tuple[str, ...], *, prune: bool,
             quiet: bool, recreated: Any = None) -> Session:
    from pystack.orchestrator.cli.build_cmd import PlainProgress, progress_mode
    from pystack.orchestrator.engine.watch import Session, WatchOptions, watched_rules

    rules = watched_rules(stack, services, warn)
    progress = None if quiet else PlainProgress(progress_mode(False))
    opts = WatchOptions(services=services, prune=prune, build_progress=progress,
                        stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)
    return Session(stack, rules, opts, say, recreated)


def _until_interrupted(done: threading.Event) -> bool:
    """Block until the session ends or the user interrupts (Ctrl-C, SIGTERM); True when
    interrupted."""
    import signal

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done.wait()
    except KeyboardInterrupt:
        return True
    return False


def _run(session: Session) -> tuple[threading.Event, threading.Event, threading.Thread]:
    stop, done = threading.Event(), threading.Event()

    def body() -> None:
        try:
            session.run(stop)
        except Exception as e:
            message = getattr(e, "message", None)
            if message is None:
                raise
            say(f"Watch disabled with errors: {message}")
        finally:
            done.set()

    t = threading.Thread(target=body, name="watch", daemon=True)
    t.start()
    return stop, done, t


@click.command(cls=PystackCommand)
@project_options
@click.option("--no-up", is_flag=True, help="Do not build & start services before watching.")
@click.option("--prune/--no-prune", default=True, show_default=True,
              help="Prune dangling images on rebuild.")
@click.option("--quiet", is_flag=True, help="Hide build output.")
@click.argument("services", nargs=-1)
@click.pass_context
def watch(ctx: click.Context, no_up: bool, prune: bool, quiet: bool,
          services: tuple[str, ...]) -> None:
    """Watch the build context of services and sync, restart, exec or rebuild them when files
    change (develop.watch)."""
    stack = load_stack(ctx, services, warm=not no_up)
    check_watch(stack, services)
    if not no_up:
        from pystack.orchestrator.cli.build_cmd import PlainProgress, progress_mode
        from pystack.orchestrator.engine.build import build_services
        from pystack.orchestrator.engine.up import UpOptions, selected_services
        from pystack.orchestrator.engine.up import up as engine_up

        opts = UpOptions(services=services, quiet_pull=quiet)
        proj = stack.need_project()
        chosen = selected_services(stack, opts)
        developed = [s for s in chosen if proj.services[s].build and proj.services[s].watch]
        build_services(stack, developed, "always", PlainProgress(progress_mode(quiet)))
        with locked(stack), rendering(ctx, stack):
            engine_up(stack, opts)
    stop, done, thread = _run(_session(ctx, stack, services, prune=prune, quiet=quiet))
    interrupted = _until_interrupted(done)
    stop.set()
    thread.join()
    ctx.exit(130 if interrupted else 0)


class _Logs:
    """The containers' output for `up --watch`, followed again for a service whose containers
    the session restarted or recreated."""

    def __init__(self, stack: Stack, services: tuple[str, ...], *, no_color: bool,
                 timestamps: bool, no_prefix: bool, since: str | None) -> None:
        from pystack.orchestrator.ui.logs import LogPrinter

        self.stack = stack
        self.chosen = stack.with_dependencies(services) if services else sorted(
            stack.need_project().services)
        self.since = since
        containers = stack.containers(services=self.chosen)
        self.width = max((len(self.label(e)) for e in containers), default=0)
        self.printer = LogPrinter(no_color=no_color, no_prefix=no_prefix,
                                  timestamps=timestamps, width=self.width)
        self.stops: dict[str, threading.Event] = {}
        self.threads: list[threading.Thread] = []
        say("Attaching to " + ", ".join(self.label(e) for e in containers))
        for service in self.chosen:
            self.follow(service, since)

    def label(self, e: Existing) -> str:
        from pystack.orchestrator.ui.logs import short_label

        return short_label(self.stack.name, e.name)

    def refollow(self, service: str, began: float) -> None:
        """The session restarted or recreated `service` at `began` (time.time())."""
        secs, frac = divmod(int(began * 1e9), 1_000_000_000)
        self.follow(service, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
                    + f".{frac:09d}Z")

    def follow(self, service: str, since: str | None = None) -> None:
        from pystack.orchestrator.cli.attach import now_rfc3339
        from pystack.orchestrator.engine.query import follow_logs

        old = self.stops.pop(service, None)
        if old is not None:
            old.set()
        stop = self.stops[service] = threading.Event()
        containers = self.stack.containers(services=[service])

        def sink(e: Existing, entry: Any) -> None:
            self.printer.line(self.label(e), e.service, entry)

        t = threading.Thread(target=follow_logs, args=(self.stack, containers, sink),
                             kwargs={"follow": True, "stop": stop,
                                     "since": since or now_rfc3339()}, daemon=True)
        self.threads.append(t)
        t.start()

    def close(self) -> None:
        """After the stop: the followers end once their containers have exited (their last
        lines printed); then every follower is told to stop."""
        for t in self.threads:
            t.join(30.0)
        for stop in self.stops.values():
            stop.set()


def attached_watch(ctx: click.Context, stack: Stack, services: tuple[str, ...], *,
                   since: str | None, no_color: bool, timestamps: bool, no_prefix: bool,
                   timeout: float | None) -> int:
    """`up --watch` after the containers started: logs and watch until Ctrl-C, then the
    containers are stopped gracefully (a second Ctrl-C kills them)."""
    from pystack.orchestrator.engine import ops

    logs = _Logs(stack, services, no_color=no_color, timestamps=timestamps,
                 no_prefix=no_prefix, since=since)
    session = _session(ctx, stack, services, prune=True, quiet=False,
                       recreated=logs.refollow)
    stop, done, thread = _run(session)
    _until_interrupted(done)
    stop.set()
    thread.join()
    click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
    try:
        with locked(stack), rendering(ctx, stack, "Stopping"):
            ops.stop(stack, logs.chosen, timeout)
    except KeyboardInterrupt:
        click.echo("Killing...", err=True)
        with locked(stack), rendering(ctx, stack, "Stopping"):
            ops.kill(stack, logs.chosen, "SIGKILL")
    logs.close()
    return 130
