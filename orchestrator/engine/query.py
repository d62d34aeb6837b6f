"""Read-only views of a project: ps rows, ports, processes (top), stats samples, images, and
log streams (one thread per container, merged for the printer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pystack.orchestrator.engine import specs as S
from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.stack import Stack
from pystack.runtime.api import ContainerEvent, ContainerState, LogEntry, ProcessInfo, Stats
from pystack.runtime.errors import ContainerRuntimeError


def _parse(ts: str) -> datetime | None:
    if not ts:
        return None
    t = ts.rstrip("Z")
    if "." in t:
        head, frac = t.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())[:6]
        t = f"{head}.{digits}" if digits else head
    try:
        d = datetime.fromisoformat(t)
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    return f"{h // 24} days"


def status_text(st: ContainerState, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if st.status in ("running", "paused", "restarting"):
        started = _parse(st.started_at)
        up = human_duration((now - started).total_seconds()) if started else ""
        text = f"Up {up}".rstrip()
        if st.status == "paused":
            text += " (Paused)"
        elif st.status == "restarting":
            text = f"Restarting ({st.exit_code or 0})"
        if st.health:
            h = st.health.status
            text += f" ({'health: starting' if h == 'starting' else h})"
        if not st.supervised:
            text += " (unsupervised: its shim died; `up` recreates it)"
        return text
    if st.status == "exited":
        fin = _parse(st.finished_at)
        ago = f" {human_duration((now - fin).total_seconds())} ago" if fin else ""
        return f"Exited ({st.exit_code}){ago}"
    return st.status.capitalize()


@dataclass(frozen=True)
class PsRow:
    id: str
    name: str
    image: str
    command: str
    service: str
    created: str
    state: str
    status: str
    health: str
    exit_code: int
    ports: str
    project: str

    def as_dict(self) -> dict[str, object]:
        return {"ID": self.id[:12], "Name": self.name, "Image": self.image,
                "Command": self.command, "Project": self.project, "Service": self.service,
                "Created": self.created, "State": self.state, "Status": self.status,
                "Health": self.health, "ExitCode": self.exit_code, "Publishers": self.ports}


def format_ports(stack: Stack, cid: str) -> str:
    out = []
    for p in stack.published(cid):
        out.append(f"{p.host_ip or '0.0.0.0'}:{p.published}->{p.target}/{p.protocol}")
    return ", ".join(out)


def ps(stack: Stack, services: Iterable[str] = (), all: bool = False,
       status: Iterable[str] = ()) -> list[PsRow]:
    rows = []
    wanted = set(status)
    for e in stack.containers(oneoff=None, services=services):
        try:
            st = stack.b.runtime.state(e.id)
            spec = stack.b.runtime.spec(e.id)
        except ContainerRuntimeError:
            continue
        if not all and not wanted and st.status not in ("running", "paused", "restarting"):
            continue
        if wanted and st.status not in wanted:
            continue
        rows.append(PsRow(
            id=e.id, name=e.name, image=st.labels.get("com.docker.compose.image", ""),
            command=S.describe_command(spec), service=e.service, created=st.created_at,
            state=st.status, status=status_text(st),
            health=st.health.status if st.health else "", exit_code=st.exit_code or 0,
            ports=format_ports(stack, e.id), project=stack.name))
    return rows


def log_time(value: str | None, now: datetime | None = None) -> str | None:
    """`--since`/`--until` as Docker takes them: RFC 3339, a Unix time, or a duration before
    now ("10m", "1h30m", "45s") -> RFC 3339 (UTC, with nanoseconds like the log lines)."""
    import re
    from datetime import timedelta

    if not value:
        return None
    now = now or datetime.now(UTC)
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?",
                         value)
    from pystack.orchestrator.errors import UsageError

    bad = UsageError(f"invalid time {value!r}",
                            hint="use RFC 3339, a Unix time, or a duration like 10m")
    try:
        if parts and any(parts.groups()):
            h, m, s = (float(x) if x else 0.0 for x in parts.groups())
            t = now - timedelta(hours=h, minutes=m, seconds=s)
        elif re.fullmatch(r"\d+(\.\d+)?", value):
            t = datetime.fromtimestamp(float(value), UTC)
        else:
            parsed = _parse(value)
            if parsed is None:
                raise bad
            t = parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise bad from None
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def pick_container(stack: Stack, service: str, index: int = 1) -> Existing:
    from pystack.orchestrator.errors import NotFoundError

    if stack.project is not None:
        stack.project.service(service)
    cs = [e for e in stack.containers(services=[service]) if e.number == index]
    if not cs:
        raise NotFoundError(f"service {service} has no container {index}",
                            hint="is the project up? see `pystack ps -a`")
    return cs[0]


def follow_logs(stack: Stack, containers: list[Existing],
                sink: Callable[[Existing, LogEntry], None], *, follow: bool = False,
                tail: int | None = None, since: str | None = None, until: str | None = None,
                stop: threading.Event | None = None) -> None:
    """Stream every container's log to `sink` (one thread each).  Without `follow` returns
    when all are read; with it, when `stop` is set or all containers have exited."""
    stop = stop or threading.Event()

    def pump(e: Existing) -> None:
        try:
            for entry in stack.b.runtime.logs(e.id, follow=follow, tail=tail, since=since,
                                              until=until):
                if stop.is_set():
                    return
                sink(e, entry)
        except ContainerRuntimeError:
            return

    threads = [threading.Thread(target=pump, args=(e,), daemon=True) for e in containers]
    for t in threads:
        t.start()
    if not follow:
        for t in threads:
            t.join()
        return
    exited_at: float | None = None
    while not stop.is_set():
        if all(not t.is_alive() for t in threads):
            return
        if exited_at is None:
            if all_exited(stack, containers):
                exited_at = time.monotonic()
        elif time.monotonic() - exited_at > 0.3:
            return          # every container stopped; the last lines had time to arrive
        time.sleep(0.1)


def all_exited(stack: Stack, containers: list[Existing]) -> bool:
    for e in containers:
        try:
            if stack.b.runtime.state(e.id).status in ("running", "paused", "restarting",
                                                      "created"):
                return False
        except ContainerRuntimeError:
            continue
    return True


def stats_sample(stack: Stack, services: Iterable[str] = (),
                 all: bool = False) -> list[tuple[Existing, Stats]]:
    """One `stats` sample of the project's containers, one-offs included as Compose's
    project-label filter includes them (running ones, or every one with `all`; a stopped
    container reads as zeros).  A container removed meanwhile is left out."""
    out = []
    for e in stack.containers(oneoff=None, services=services):
        if not all and not e.running:
            continue
        try:
            out.append((e, stack.b.runtime.stats(e.id)))
        except ContainerRuntimeError:
            continue
    return out


def top_processes(stack: Stack,
                  services: Iterable[str] = ()) -> list[tuple[Existing, list[ProcessInfo]]]:
    """The processes of each running container of the project, one-offs included (Compose's
    oneOffInclude), by container name; a container gone meanwhile is left out."""
    out = []
    for e in sorted(stack.containers(oneoff=None, services=services), key=lambda e: e.name):
        if not e.running:
            continue
        try:
            out.append((e, stack.b.runtime.processes(e.id)))
        except ContainerRuntimeError:
            continue
    return out


def project_events(stack: Stack, services: Iterable[str] = (), since: float | None = None,
                   until: float | None = None,
                   follow: bool = True) -> Iterator[ContainerEvent]:
    """The runtime's container events of this project's service containers, as Compose
    streams them (one-offs left out), since/until Unix times."""
    from pystack.orchestrator.engine.plan import LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE

    wanted = set(services)
    for ev in stack.b.runtime.events(since, until, follow):
        if ev.labels.get(LABEL_PROJECT) != stack.name or ev.labels.get(LABEL_ONEOFF) == "True":
            continue
        if wanted and ev.labels.get(LABEL_SERVICE) not in wanted:
            continue
        yield ev


def event_time(value: str | None, now: datetime | None = None) -> float | None:
    """`events --since/--until`: what `logs` takes (RFC 3339, Unix time, a duration before
    now), as a Unix time."""
    text = log_time(value, now)
    parsed = _parse(text) if text else None
    return parsed.timestamp() if parsed else None
