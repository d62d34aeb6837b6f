"""The commands people read while a project runs: `stats` (live, redrawn in place on a
terminal, streamed blocks otherwise, `--no-stream` once), `top` and `events` (the runtime's
journal of container events, as Compose streams them).  They end quietly on
Ctrl-C and when the reader of their output goes away (`pystack stats | head`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options
from pystack.orchestrator.cli.stack_cmd import load_stack

INTERVAL = 1.0          # seconds between two stats samples (docker's daemon collects each 1 s)


@contextmanager
def quiet_end() -> Iterator[None]:
    """Ctrl-C and a closed output pipe end the command with no traceback (and no "Exception
    ignored" when Python flushes stdout at exit)."""
    try:
        yield
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _check_services(stack: object, services: tuple[str, ...]) -> None:
    project = getattr(stack, "project", None)
    if project is not None:
        for s in services:
            project.service(s)          # an unknown service is an error (Compose)


@click.command(cls=PystackCommand)
@project_options
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all containers (default shows just running).")
@click.option("--no-stream", is_flag=True, help="Print one sample and exit.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output (full IDs).")
@click.option("--format", "fmt", default="table", metavar="table|json|TEMPLATE",
              help="table, json (one object per line), or a Go template ('{{.Name}} "
                   "{{.CPUPerc}}', 'table {{.Name}}\\t{{.MemUsage}}').")
@click.argument("services", nargs=-1)
@click.pass_context
def stats(ctx: click.Context, all_: bool, no_stream: bool, no_trunc: bool, fmt: str,
          services: tuple[str, ...]) -> None:
    """Display a live stream of the containers' resource usage (CPU %, MEM USAGE / LIMIT,
    MEM %, NET I/O, BLOCK I/O, PIDS)."""
    from pystack.orchestrator.engine.query import stats_sample
    from pystack.orchestrator.ui.formats import render
    from pystack.orchestrator.ui.readouts import (
        STATS_HEADERS,
        STATS_TABLE,
        StatsEntry,
        live_frame,
    )
    from pystack.runtime.api import Stats

    stack = load_stack(ctx, need_file=False)
    _check_services(stack, services)
    render(fmt, [], STATS_TABLE, STATS_HEADERS)             # a bad template fails now
    tty = sys.stdout.isatty()
    previous: dict[str, Stats] = {}

    def lines() -> list[str]:
        rows = []
        for e, cur in stats_sample(stack, services, all=all_):
            rows.append(StatsEntry.of(e.id, e.name, previous.get(e.id), cur)
                        .fields(trunc=not no_trunc))
            previous[e.id] = cur
        if not rows and (no_stream or not fmt.startswith("table")):
            return []           # docker: nothing at all once; the bare header when live
        return render(fmt, rows, STATS_TABLE, STATS_HEADERS)

    with quiet_end():
        for e, cur in stats_sample(stack, services, all=all_):
            previous[e.id] = cur
        while True:
            time.sleep(INTERVAL)
            out = lines()
            if no_stream:
                _write("".join(f"{ln}\n" for ln in out))
                return
            _write(live_frame(out) if tty else "".join(f"{ln}\n" for ln in out))


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@click.command(cls=PystackCommand)
@project_options
@click.argument("services", nargs=-1)
@click.pass_context
def top(ctx: click.Context, services: tuple[str, ...]) -> None:
    """Display the running processes of each container (user names from the container's
    own /etc/passwd)."""
    from pystack.orchestrator.engine.query import top_processes
    from pystack.orchestrator.ui.readouts import top_block

    stack = load_stack(ctx, need_file=False)
    _check_services(stack, services)
    with quiet_end():
        for e, procs in top_processes(stack, services):
            _write(top_block(e.name, procs))


@click.command(cls=PystackCommand)
@project_options
@click.option("--json", "as_json", is_flag=True, help="Output events as a stream of json objects.")
@click.option("--since", default=None, help="Show all events created since timestamp.")
@click.option("--until", default=None, help="Stream events until this timestamp.")
@click.argument("services", nargs=-1)
@click.pass_context
def events(ctx: click.Context, as_json: bool, since: str | None, until: str | None,
           services: tuple[str, ...]) -> None:
    """Stream the containers' events: create, start, die, kill, stop, restart, pause,
    unpause, destroy, health_status, exec_create/exec_start/exec_die."""
    from pystack.orchestrator.engine.query import event_time, project_events
    from pystack.orchestrator.ui.readouts import event_json, event_text

    stack = load_stack(ctx, need_file=False)
    _check_services(stack, services)
    start, end = event_time(since), event_time(until)
    with quiet_end():
        for ev in project_events(stack, services, since=start, until=end, follow=True):
            _write((event_json(ev) if as_json else event_text(ev)) + "\n")
