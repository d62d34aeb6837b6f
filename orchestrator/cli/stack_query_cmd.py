"""Project commands that look: ps, logs, port, ls, wait (stats and top: readouts_cmd.py)."""

from __future__ import annotations

import json
import threading

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options
from pystack.orchestrator.cli.stack_cmd import _options, load_stack


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


@click.command(cls=PystackCommand)
@project_options
@click.option("-a", "--all", "all_", is_flag=True, help="Also stopped containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only IDs.")
@click.option("--services", "only_services", is_flag=True, help="Only service names.")
@click.option("--status", multiple=True,
              type=click.Choice(["paused", "restarting", "removing", "running", "dead",
                                 "created", "exited"]))
@click.option("--format", "fmt", default="table", metavar="table|json|TEMPLATE",
              help="table, json (one object per line), or a Go template ('{{.Name}}').")
@click.option("--no-trunc", is_flag=True, help="Don't truncate the command.")
@click.argument("services", nargs=-1)
@click.pass_context
def ps(ctx: click.Context, all_: bool, quiet: bool, only_services: bool, status: tuple[str, ...],
       fmt: str, no_trunc: bool, services: tuple[str, ...]) -> None:
    """List the project's containers."""
    from pystack.orchestrator.engine.query import ps as engine_ps
    from pystack.orchestrator.ui.formats import (
        PS_FIELDS,
        PS_HEADERS,
        PS_TABLE,
        ago,
        command_text,
        go_json,
        go_time,
        publishers,
        template,
    )

    stack = load_stack(ctx, need_file=False)
    if stack.project is not None:
        for s in services:
            stack.project.service(s)            # an unknown service is an error (Compose)
    rows = engine_ps(stack, services, all=all_, status=status)
    if quiet:
        for r in rows:
            click.echo(r.id)
    elif only_services:
        for s in dict.fromkeys(r.service for r in rows):
            click.echo(s)
    else:
        # Compose's ContainerContext: the same fields for tables, templates and json (keys
        # sorted), the ID and the quoted command cut unless --no-trunc.
        objs = []
        for r in sorted(rows, key=lambda r: r.name):
            d = r.as_dict()
            d["ID"] = r.id if no_trunc else r.id[:12]
            d["Command"] = command_text(r.command, trunc=not no_trunc, quote=True)
            d["Publishers"] = publishers(stack.published(r.id))
            d["Ports"] = r.ports
            d["CreatedAt"], d["RunningFor"] = go_time(r.created), ago(r.created)
            objs.append(d)
        if fmt == "json":
            lines = [go_json(d) for d in objs]
        else:
            lines = template(PS_TABLE if fmt == "table" else fmt, objs, PS_HEADERS,
                             fields=PS_FIELDS)
        for line in lines:
            click.echo(line)


@click.command(cls=PystackCommand)
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Lines from the end ('all').")
@click.option("--since", default=None)
@click.option("--until", default=None)
@click.option("-t", "--timestamps", is_flag=True)
@click.option("--no-log-prefix", is_flag=True)
@click.option("--no-color", "no_color_logs", is_flag=True)
@click.option("--index", type=int, default=None)
@click.argument("services", nargs=-1)
@click.pass_context
def logs(ctx: click.Context, follow: bool, tail: str, since: str | None, until: str | None,
         timestamps: bool, no_log_prefix: bool, no_color_logs: bool, index: int | None,
         services: tuple[str, ...]) -> None:
    """Show container output."""
    from pystack.orchestrator.engine.query import follow_logs, log_time
    from pystack.orchestrator.ui.logs import LogPrinter, short_label

    if follow:
        from pystack.orchestrator.cli.stack_cmd import misplaced_file

        misplaced_file("logs", "--follow", services)
    since, until = log_time(since), log_time(until)
    stack = load_stack(ctx, need_file=False)
    if stack.project is not None:
        for s in services:
            stack.project.service(s)
    cs = stack.containers(oneoff=None, services=services)
    if index is not None:
        cs = [c for c in cs if c.number == index]
    n = None if tail == "all" else int(tail) if tail.lstrip("-").isdigit() else None
    width = max((len(short_label(stack.name, c.name)) for c in cs), default=0)
    printer = LogPrinter(no_color=no_color_logs or _options(ctx).no_color,
                         no_prefix=no_log_prefix, timestamps=timestamps, width=width,
                         ansi=_options(ctx).ansi)
    stop = threading.Event()
    try:
        follow_logs(stack, cs, lambda e, entry: printer.line(short_label(stack.name, e.name),
                                                            e.service, entry),
                    follow=follow, tail=n, since=since, until=until, stop=stop)
    except KeyboardInterrupt:
        stop.set()


@click.command(cls=PystackCommand)
@project_options
@click.option("--index", type=int, default=1)
@click.option("--protocol", type=click.Choice(["tcp", "udp"]), default="tcp")
@click.argument("service")
@click.argument("private_port", type=int)
@click.pass_context
def port(ctx: click.Context, index: int, protocol: str, service: str,
         private_port: int) -> None:
    """Print the public address of a port binding."""
    from pystack.orchestrator.engine.query import pick_container
    from pystack.orchestrator.errors import NotFoundError

    stack = load_stack(ctx, need_file=False)
    e = pick_container(stack, service, index)
    for p in stack.published(e.id):
        if p.target == private_port and p.protocol == protocol:
            click.echo(f"{p.host_ip or '0.0.0.0'}:{p.published}")
            return
    raise NotFoundError(f"no port {private_port}/{protocol} published for {e.name}")


@click.command(cls=PystackCommand)
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def ls(all_: bool, quiet: bool, fmt: str) -> None:
    """List projects."""
    from collections import Counter

    from pystack.orchestrator.engine.plan import LABEL_PROJECT
    from pystack.orchestrator.engine.state import StateStore

    store = StateStore()
    names = store.projects()
    try:
        from pystack.orchestrator.cli import stack_cmd
        from pystack.orchestrator.engine.backends import real_backends

        factory = stack_cmd.BACKENDS or real_backends
        runtime = factory(names[0] if names else "x").runtime
        states = runtime.list_containers()
    except Exception:
        states = []
    running: Counter[str] = Counter()
    exited: Counter[str] = Counter()
    for s in states:
        p = s.labels.get(LABEL_PROJECT)
        if p:
            (running if s.status == "running" else exited)[p] += 1
    rows = []
    for n in sorted(set(names) | set(running) | set(exited)):
        if not all_ and not running[n]:
            continue
        st = store.load(n)
        status = ", ".join(x for x in (f"running({running[n]})" if running[n] else "",
                                       f"exited({exited[n]})" if exited[n] else "") if x)
        rows.append([n, status or "created", ",".join(st.config_files)])
    if quiet:
        for r in rows:
            click.echo(r[0])
    elif fmt == "json":
        click.echo(json.dumps([{"Name": r[0], "Status": r[1], "ConfigFiles": r[2]}
                               for r in rows]))
    else:
        click.echo(_table(rows, ["NAME", "STATUS", "CONFIG FILES"]))


@click.command(cls=PystackCommand)
@project_options
@click.option("--down-project", is_flag=True, help="Tear the project down afterwards.")
@click.argument("services", nargs=-1, required=True)
@click.pass_context
def wait(ctx: click.Context, down_project: bool, services: tuple[str, ...]) -> None:
    """Block until the services' containers stop; print their exit codes."""
    stack = load_stack(ctx, need_file=False)
    code = 0
    for e in stack.containers(services=services):
        st = stack.b.runtime.wait(e.id)
        click.echo(str(st.exit_code))
        code = code or (st.exit_code or 0)
    if down_project:
        from pystack.orchestrator.cli.stack_cmd import locked
        from pystack.orchestrator.engine import ops

        with locked(stack):
            ops.down(stack, ops.DownOptions())
    ctx.exit(code)
