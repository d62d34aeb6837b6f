"""More project commands: cp (through `tar` inside the container) and events (status changes
of the project's containers, polled)."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options
from pystack.orchestrator.cli.stack_cmd import load_stack


def _split(arg: str) -> tuple[str | None, str]:
    if ":" in arg and not arg.startswith(("/", ".")):
        svc, _, path = arg.partition(":")
        return svc, path
    return None, arg


@click.command(cls=PystackCommand)
@project_options
@click.option("--index", type=int, default=1)
@click.argument("src")
@click.argument("dst")
@click.pass_context
def cp(ctx: click.Context, index: int, src: str, dst: str) -> None:
    """Copy files between a service container and the host (SERVICE:PATH)."""
    from pystack.orchestrator.engine.oneoff import exec_in
    from pystack.orchestrator.errors import OrchestratorError

    (ssvc, spath), (dsvc, dpath) = _split(src), _split(dst)
    if (ssvc is None) == (dsvc is None):
        raise OrchestratorError("cp: exactly one of SRC and DST must be SERVICE:PATH")
    stack = load_stack(ctx, need_file=False)
    if ssvc is not None:
        out = io.BytesIO()
        parent, name = str(Path(spath).parent), Path(spath).name
        code = exec_in(stack, ssvc, ("tar", "-c", "-C", parent, name), index=index,
                       stdout=out, stderr=sys.stderr.buffer)
        if code != 0:
            raise OrchestratorError(f"cp: could not read {spath} in {ssvc} (tar exit {code})")
        out.seek(0)
        target = Path(dpath)
        with tarfile.open(fileobj=out) as tar:
            members = tar.getmembers()
            if target.is_dir():
                tar.extractall(target, filter="data")
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                top = members[0]
                if top.isfile():
                    f = tar.extractfile(top)
                    target.write_bytes(f.read() if f else b"")
                else:
                    for m in members:
                        m.name = str(Path(target.name) / Path(m.name).relative_to(top.name))
                    tar.extractall(target.parent, members=members, filter="data")
        return
    assert dsvc is not None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(spath, arcname=Path(dpath).name if not dpath.endswith("/") else
                Path(spath).name)
    buf.seek(0)
    dest_dir = dpath if dpath.endswith("/") else str(Path(dpath).parent)
    code = exec_in(stack, dsvc, ("tar", "-x", "-C", dest_dir), index=index, stdin=buf,
                   stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)
    if code != 0:
        raise OrchestratorError(f"cp: could not write {dpath} in {dsvc} (tar exit {code})")


@click.command(cls=PystackCommand)
@project_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--until", type=float, default=None, hidden=True,
              help="Stop after this many seconds (tests).")
@click.argument("services", nargs=-1)
@click.pass_context
def events(ctx: click.Context, as_json: bool, until: float | None,
           services: tuple[str, ...]) -> None:
    """Stream the project's container events (create, start, die, destroy, health)."""
    stack = load_stack(ctx, need_file=False)
    seen: dict[str, tuple[str, str]] = {
        e.id: (e.status, "") for e in stack.containers(oneoff=None, services=services)}
    names = {e.id: (e.name, e.service) for e in stack.containers(oneoff=None,
                                                                  services=services)}
    deadline = None if until is None else time.monotonic() + until
    actions = {"running": "start", "exited": "die", "paused": "pause", "created": "create",
               "restarting": "restart", "dead": "die"}

    def emit(cid: str, action: str) -> None:
        name, service = names.get(cid, ("", ""))
        now = datetime.now(UTC)
        if as_json:
            click.echo(json.dumps({"time": now.isoformat(), "type": "container",
                                   "action": action, "id": cid, "service": service,
                                   "attributes": {"name": name}}))
        else:
            click.echo(f"{now.isoformat()} container {action} {cid} (name={name})")
        sys.stdout.flush()

    try:
        while deadline is None or time.monotonic() < deadline:
            now_states: dict[str, tuple[str, str]] = {}
            for e in stack.containers(oneoff=None, services=services):
                names[e.id] = (e.name, e.service)
                try:
                    st = stack.b.runtime.state(e.id)
                except Exception:
                    continue
                health = st.health.status if st.health else ""
                now_states[e.id] = (st.status, health)
                old = seen.get(e.id)
                if old is None:
                    emit(e.id, "create")
                if (old is None or old[0] != st.status) and st.status != "created":
                    emit(e.id, actions.get(st.status, st.status))
                if health and (old is None or old[1] != health):
                    emit(e.id, f"health_status: {health}")
            for cid in set(seen) - set(now_states):
                emit(cid, "destroy")
            seen = now_states
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
