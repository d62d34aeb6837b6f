"""What `stats` and `top` read from /proc about a running container, besides its cgroup.

- `net_counters(pid)`: bytes received and sent by the interfaces of the network namespace
  PID 1 lives in (`/proc/PID/net/dev`, the kernel's counters of that netns; `lo` is left
  out, as Docker sums only the container's endpoints);
- `system_cpu()`: the host's CPU time in nanoseconds and its online CPUs, read the way
  Docker's daemon reads them for the "CPU %" formula (the first seven fields of /proc/stat's
  `cpu` line, in clock ticks; one `cpuN` line per online CPU);
- `process(pid, names)`: one process's row for `top` (`ps -ef`'s facts: PPID, UID and its
  user name, start time, CPU time, terminal, command line).  User names come from a table
  the caller read from the CONTAINER's /etc/passwd (`uid_names`, through layerview: never a
  path the container controls, never the host's passwd).

The files read here are made by the kernel; a container can only rename its interfaces or
its command line, which are taken as text.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from pystack.runtime import layerview
from pystack.runtime.api import ProcessInfo
from pystack.runtime.users import parse_passwd

HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _num(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_net_dev(text: str) -> tuple[int, int]:
    """(rx_bytes, tx_bytes) summed over every interface but `lo` of a /proc/net/dev text."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or name.strip() == "lo" or len(fields) < 9:
            continue
        if _num(fields[0]) and _num(fields[8]):
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def net_counters(pid: int) -> tuple[int, int]:
    try:
        return parse_net_dev(Path(f"/proc/{pid}/net/dev").read_text(errors="replace"))
    except OSError:
        return 0, 0


def parse_proc_stat(text: str, hz: int = HZ) -> tuple[int, int]:
    """(host CPU time in ns, online CPUs) of a /proc/stat text, as moby computes them."""
    total = online = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu" and len(parts) >= 8:
            ticks = sum(int(x) for x in parts[1:8] if _num(x))
            total = ticks * 1_000_000_000 // hz
        elif parts[0].startswith("cpu") and _num(parts[0][3:]):
            online += 1
    return total, online


def system_cpu() -> tuple[int, int]:
    try:
        return parse_proc_stat(Path("/proc/stat").read_text())
    except OSError:
        return 0, 0


def boot_time() -> float:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return time.time() - time.monotonic()


def tty_name(tty_nr: int) -> str:
    """procps' name of a controlling terminal number ("?" for none)."""
    major, minor = (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if tty_nr == 0:
        return "?"
    if 136 <= major <= 143:
        return f"pts/{minor + (major - 136) * 256}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    return "?"


def uid_names(layers_top_first: Sequence[Path]) -> dict[int, str]:
    """uid -> name from the container's own /etc/passwd (the first entry of a uid wins, as
    getpwuid); {} when the file is missing or not a regular file."""
    names: dict[int, str] = {}
    for name, uid, _gid, _home in parse_passwd(
            layerview.read_text(layers_top_first, "etc/passwd")):
        names.setdefault(uid, name)
    return names


def process(pid: int, names: dict[int, str], btime: float) -> ProcessInfo | None:
    """One process's `top` row, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text(errors="replace")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    lp, rp = stat.find(b"("), stat.rfind(b")")
    comm = stat[lp + 1:rp].decode(errors="replace")
    f = stat[rp + 2:].split()
    try:
        ppid, tty_nr = int(f[1]), int(f[4])
        ticks, start = int(f[11]) + int(f[12]), int(f[19])
    except (IndexError, ValueError):
        return None
    uid = next((int(ln.split()[1]) for ln in status.splitlines()
                if ln.startswith("Uid:") and _num(ln.split()[1])), 0)
    cmd = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    if not cmd:
        cmd = f"[{comm}]"
    return ProcessInfo(pid=pid, ppid=ppid, uid=uid, cmd=cmd, user=names.get(uid, ""),
                       started=btime + start / HZ, cpu_seconds=ticks / HZ,
                       tty=tty_name(tty_nr))
