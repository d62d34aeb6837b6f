"""What `stats` and `top` print, field for field as `docker compose` prints them.

- stats (docker/cli formatter_stats.go + stats_helpers.go): one entry per container with the
  fields Container, Name, ID, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs; "CPU %" from
  two samples as docker computes it (container CPU time delta / host CPU time delta x online
  CPUs x 100); the live display redraws in place on a terminal (cursor home, each line
  followed by erase-to-end-of-line, erase below), and prints plain blocks otherwise;
- events (Compose's cmd/compose/events.go and api.Event.String()): one line per event,
  `2026-12-03 13:00:00.000000 container start ID (image=..., name=...)`, or with `--json`
  {"action", "attributes", "id", "service", "time", "type"}; the attributes are the
  container's name and image, its labels but Compose's own, and the action's (exitCode,
  signal, execID), sorted;
- top (Compose's per-container form): the container's name, then `ps -ef`'s columns
  UID PID PPID C STIME TTY TIME CMD aligned by a tabwriter (minwidth 5, padding 3), then a
  blank line.  UID is the user's name in the container's own /etc/passwd, else the number.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pystack.orchestrator.ui.formats import bytes_size, go_json, human_size, percent, tabwrite
from pystack.runtime.api import ContainerEvent, ProcessInfo, Stats

STATS_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
               "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
STATS_HEADERS = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID",
                 "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                 "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
TOP_TITLES = ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")

HOME, ERASE_LINE, ERASE_BELOW = "\033[H", "\033[K", "\033[J"


def cpu_percent(prev: Stats | None, cur: Stats) -> float:
    """docker's calculateCPUPercentUnix; 0 without a previous sample."""
    if prev is None:
        return 0.0
    cpu_delta = cur.cpu_usage_ns - prev.cpu_usage_ns
    system_delta = cur.system_cpu_ns - prev.system_cpu_ns
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * (cur.online_cpus or 1) * 100.0
    return 0.0


@dataclass(frozen=True)
class StatsEntry:
    container_id: str
    name: str
    cpu: float = 0.0
    memory: int = 0
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0

    @classmethod
    def of(cls, container_id: str, name: str, prev: Stats | None,
           cur: Stats | None) -> StatsEntry:
        if cur is None:
            return cls(container_id, name)
        return cls(container_id, name, cpu=cpu_percent(prev, cur), memory=cur.memory_usage,
                   memory_limit=cur.memory_limit, net_rx=cur.net_rx_bytes,
                   net_tx=cur.net_tx_bytes, block_read=cur.io_read_bytes,
                   block_write=cur.io_write_bytes, pids=cur.pids)

    def fields(self, trunc: bool = True) -> dict[str, object]:
        mem_perc = self.memory / self.memory_limit * 100.0 if self.memory_limit else 0.0
        return {
            "Container": self.container_id,
            "Name": self.name or "--",
            "ID": self.container_id[:12] if trunc else self.container_id,
            "CPUPerc": percent(self.cpu),
            "MemUsage": f"{bytes_size(self.memory)} / {bytes_size(self.memory_limit)}",
            "MemPerc": percent(mem_perc),
            "NetIO": f"{human_size(self.net_rx)} / {human_size(self.net_tx)}",
            "BlockIO": f"{human_size(self.block_read)} / {human_size(self.block_write)}",
            "PIDs": str(self.pids),
        }


def live_frame(lines: Sequence[str]) -> str:
    """One redraw of the live table on a terminal, as docker stats writes it."""
    return HOME + "".join(f"{ln}{ERASE_LINE}\n" for ln in lines) + ERASE_BELOW


# --- top ---------------------------------------------------------------------------------------


def stime(started: float, now: float) -> str:
    """procps' STIME: HH:MM today, MonDD this year, else the year (local time)."""
    t, n = time.localtime(started), time.localtime(now)
    if t.tm_year != n.tm_year:
        return time.strftime("%Y", t)
    if t.tm_yday != n.tm_yday:
        return time.strftime("%b%d", t)
    return time.strftime("%H:%M", t)


def cputime(seconds: float) -> str:
    """procps' TIME: [DD-]HH:MM:SS."""
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}-{text}" if days else text


def cpu_column(p: ProcessInfo, now: float) -> str:
    """procps' C: integer CPU use over the process's life, at most 99."""
    elapsed = now - p.started
    return str(min(99, int(p.cpu_seconds * 100 / elapsed)) if elapsed > 0 else 0)


def user_column(p: ProcessInfo) -> str:
    """ps -f's UID: the name (cut to 7 characters and "+" past 8), else the number."""
    if not p.user:
        return str(p.uid)
    return p.user if len(p.user) <= 8 else p.user[:7] + "+"


def top_rows(procs: Sequence[ProcessInfo], now: float) -> list[list[str]]:
    return [[user_column(p), str(p.pid), str(p.ppid), cpu_column(p, now),
             stime(p.started, now), p.tty, cputime(p.cpu_seconds), p.cmd]
            for p in sorted(procs, key=lambda p: p.pid)]


def top_block(name: str, procs: Sequence[ProcessInfo], now: float | None = None) -> str:
    """Compose's `top` text for one container (ends with its blank line)."""
    now = time.time() if now is None else now
    text = "\t".join(TOP_TITLES) + "\n"
    text += "".join("".join(f"{c}\t" for c in row) + "\n" for row in top_rows(procs, now))
    return f"{name}\n" + tabwrite(text + "\n", minwidth=5, padding=3)


# --- events ------------------------------------------------------------------------------------

COMPOSE_LABELS = "com.docker.compose."


def event_attributes(ev: ContainerEvent) -> dict[str, str]:
    attrs = {k: v for k, v in ev.labels.items() if not k.startswith(COMPOSE_LABELS)}
    attrs["name"] = ev.name
    attrs["image"] = ev.labels.get("com.docker.compose.image", "")
    attrs.update(ev.attributes)
    return {k: attrs[k] for k in sorted(attrs)}


def go_rfc3339nano(time_ns: int) -> str:
    """Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros cut), local time."""
    secs, frac = divmod(time_ns, 1_000_000_000)
    t = time.localtime(secs)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    off = t.tm_gmtoff // 60
    if off == 0:
        return text + "Z"
    sign, off = ("+", off) if off > 0 else ("-", -off)
    return f"{text}{sign}{off // 60:02d}:{off % 60:02d}"


def event_text(ev: ContainerEvent) -> str:
    """api.Event.String(): the local time to the microsecond (cut, not rounded)."""
    secs, frac = divmod(ev.time_ns, 1_000_000_000)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(secs)) + f".{frac // 1000:06d}"
    attrs = ", ".join(f"{k}={v}" for k, v in event_attributes(ev).items())
    return f"{when} container {ev.action} {ev.id} ({attrs})"


def event_json(ev: ContainerEvent) -> str:
    return go_json({"time": go_rfc3339nano(ev.time_ns), "type": "container",
                    "service": ev.labels.get("com.docker.compose.service", ""), "id": ev.id,
                    "action": ev.action, "attributes": event_attributes(ev)})
