"""Attached `up`: stream every container's output with `web-1  | ` prefixes until all of them
have exited (or one has, with --abort-on-container-exit); Ctrl-C stops the stack gracefully,
a second Ctrl-C kills it.  Returns the command's exit code."""

from __future__ import annotations

import threading
import time

import click

from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.stack import Stack
from pystack.runtime.api import LogEntry
from pystack.runtime.errors import ContainerRuntimeError


def attach(stack: Stack, services: tuple[str, ...], *, no_color: bool = False,
           timestamps: bool = False, no_prefix: bool = False, abort_on_exit: bool = False,
           exit_code_from: str | None = None, timeout: float | None = None) -> int:
    from pystack.orchestrator.engine import ops
    from pystack.orchestrator.engine.query import follow_logs
    from pystack.orchestrator.ui.logs import LogPrinter, short_label

    chosen = list(services)
    if chosen and stack.project is not None:
        chosen = stack.with_dependencies(chosen)
    containers = stack.containers(services=chosen)
    width = max((len(short_label(stack.name, e.name)) for e in containers), default=0)
    printer = LogPrinter(no_color=no_color, no_prefix=no_prefix, timestamps=timestamps,
                         width=width)

    def sink(e: Existing, entry: LogEntry) -> None:
        printer.line(short_label(stack.name, e.name), e.service, entry)

    stop = threading.Event()
    pump = threading.Thread(target=follow_logs, args=(stack, containers, sink),
                            kwargs={"follow": True, "stop": stop}, daemon=True)
    announced: set[str] = set()

    def status(e: Existing) -> tuple[str, int]:
        try:
            st = stack.b.runtime.state(e.id)
        except ContainerRuntimeError:
            return "exited", 0
        return st.status, st.exit_code or 0

    try:
        # Started inside the try: the pump prints at once, and a Ctrl-C that follows its
        # first line must be a graceful stop, not an escape to click's "Aborted!".
        pump.start()
        while True:
            states = {e.id: status(e) for e in containers}
            for e in containers:
                s, code = states[e.id]
                if s in ("exited", "dead") and e.id not in announced:
                    announced.add(e.id)
                    time.sleep(0.05)    # let the last lines through first
                    printer.note(short_label(stack.name, e.name), e.service,
                                 f"exited with code {code}")
            exited = [e for e in containers if states[e.id][0] in ("exited", "dead")]
            if containers and len(exited) == len(containers):
                break
            if abort_on_exit and exited:
                click.echo("Aborting on container exit...", err=True)
                ops.stop(stack, chosen, timeout)
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
        try:
            ops.stop(stack, chosen, timeout)
        except KeyboardInterrupt:
            click.echo("Killing...", err=True)
            try:
                ops.kill(stack, chosen, "SIGKILL")
            except Exception:
                pass
        if pump.ident is not None:  # (not when Ctrl-C came before it even started)
            pump.join(2.0)          # the containers' last words (follow_logs ends on exit)
        stop.set()
        return 130
    pump.join(2.0)
    stop.set()
    if exit_code_from:
        for e in containers:
            if e.service == exit_code_from:
                return status(e)[1]
    return 0
