"""Attached `up`: `Attaching to web-1, db-1`, then every container's output from the time
`up` began (no replay of earlier runs) with `web-1  | ` prefixes, `web-1 exited with code N`
as each stops, until all of them have exited (or one has, with --abort-on-container-exit).
Ctrl-C (or SIGTERM) stops the stack gracefully with the stop progress shown, a second one
kills it.  Returns the command's exit code: with --abort-on-container-exit the code of the
container that exited first (as Compose), with --exit-code-from that service's."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import click

from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.stack import Stack
from pystack.runtime.api import LogEntry
from pystack.runtime.errors import ContainerRuntimeError


def now_rfc3339() -> str:
    """The runtime's log time format (nanoseconds, UTC): comparable with the entries'."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def attach(stack: Stack, services: tuple[str, ...], *, no_color: bool = False, ansi: str = "auto",
           timestamps: bool = False, no_prefix: bool = False, abort_on_exit: bool = False,
           exit_code_from: str | None = None, timeout: float | None = None,
           since: str | None = None,
           progress: Callable[[], AbstractContextManager[None]] | None = None) -> int:
    from pystack.orchestrator.engine import ops
    from pystack.orchestrator.engine.query import follow_logs
    from pystack.orchestrator.ui.logs import LogPrinter, short_label

    chosen = list(services)
    if chosen and stack.project is not None:
        chosen = stack.with_dependencies(chosen)
    containers = stack.containers(services=chosen)
    labels = {e.id: short_label(stack.name, e.name) for e in containers}
    width = max((len(label) for label in labels.values()), default=0)
    printer = LogPrinter(no_color=no_color, no_prefix=no_prefix, timestamps=timestamps,
                         width=width, ansi=ansi)
    shown = progress or contextlib.nullcontext

    def sink(e: Existing, entry: LogEntry) -> None:
        printer.line(labels[e.id], e.service, entry)

    def status(e: Existing) -> tuple[str, int]:
        try:
            st = stack.b.runtime.state(e.id)
        except ContainerRuntimeError:
            return "exited", 0
        return st.status, st.exit_code or 0

    stop = threading.Event()
    first: list[Existing] = []
    announced: dict[str, int] = {}
    # Ctrl-C from here on unwinds into the graceful stop (never a traceback from the pump).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    pump = threading.Thread(target=follow_logs, args=(stack, containers, sink),
                            kwargs={"follow": True, "stop": stop, "since": since}, daemon=True)
    try:
        click.echo("Attaching to " + ", ".join(labels[e.id] for e in containers))
        pump.start()
        while True:
            states = {e.id: status(e) for e in containers}
            for e in containers:
                s, code = states[e.id]
                if s in ("exited", "dead") and e.id not in announced:
                    announced[e.id] = code
                    first.append(e)
                    time.sleep(0.05)    # let the last lines through first
                    printer.note(labels[e.id], e.service, f"exited with code {code}")
            exited = [e for e in containers if states[e.id][0] in ("exited", "dead")]
            if containers and len(exited) == len(containers):
                break
            if abort_on_exit and exited:
                click.echo("Aborting on container exit...", err=True)
                with shown():
                    ops.stop(stack, chosen, timeout)
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
        try:
            with shown():
                ops.stop(stack, chosen, timeout)
        except KeyboardInterrupt:
            click.echo("Killing...", err=True)
            with contextlib.suppress(Exception), shown():
                ops.kill(stack, chosen, "SIGKILL")
        if pump.ident is not None:
            pump.join(2.0)          # the containers' last words (follow_logs ends on exit)
        stop.set()
        return 130
    pump.join(2.0)
    stop.set()
    if exit_code_from:
        for e in containers:
            if e.service == exit_code_from:
                return announced.get(e.id, status(e)[1])
        return 0
    if abort_on_exit and first:
        return announced[first[0].id]
    return 0
