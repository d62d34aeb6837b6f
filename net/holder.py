"""Port holders: a published host port is also BOUND, by a tiny process pystack owns, for as
long as it is published (issue 9 item 10; what docker-proxy does for Docker).

Published ports are DNAT rules, which hold nothing: a host program could bind the same port
later and never see its clients (the DNAT sends them to the container).  So publish() binds
each new port itself (TCP: listening; UDP: bound; never SO_REUSEADDR/SO_REUSEPORT, so every
later bind of that port, on any local address, fails with EADDRINUSE) and hands the sockets
to a holder: `sleep infinity` exec'd with the sockets as its only open files besides
/dev/null stdio, in its own session, never a child of the caller (a double fork; init reaps
it), with an empty environment and an argv naming the state root and the container, so an
admin (and the test session's leak check) can see whose it is.  Traffic never reaches the
sockets: the DNAT rules take it first.  The holder's pid and start time go into the sandbox
record; unpublishing kills it only when that pid still has that start time.

One holder per publish() call (usually one per container): ~0.5 MiB RSS, no Python.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import shutil
import signal
import socket
from collections.abc import Iterable

from pystack.net.errors import NetConfigError, PortInUseError

SLEEP = shutil.which("sleep") or "/bin/sleep"
Held = tuple[int, int]              # (pid, start time in clock ticks)


def _bind(proto: str, host_ip: str, port: int) -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((host_ip or "0.0.0.0", port))
        if proto == "tcp":
            s.listen(1)
    except OSError as e:
        s.close()
        if e.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"Bind for {host_ip or '0.0.0.0'}:{port} failed: port is already allocated",
                hint=f"another program holds {port}/{proto}; free it or choose another "
                     "host port") from e
        raise NetConfigError(f"cannot hold host port {port}/{proto}: {e.strerror}") from e
    return s


def start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        return int(raw[raw.rfind(b")") + 2:].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def hold(ports: Iterable[tuple[str, str, int]], label: str) -> Held:
    """Bind every (protocol, host_ip, port) and start their holder; (pid, start ticks).
    PortInUseError when one is taken (nothing is left bound or running then)."""
    socks: list[socket.socket] = []
    try:
        for proto, host_ip, port in ports:
            socks.append(_bind(proto, host_ip, port))
        return _spawn([s.fileno() for s in socks], label)
    finally:
        for s in socks:
            s.close()


def _spawn(fds: list[int], label: str) -> Held:
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:                                     # pragma: no cover - child
        code = 1
        try:
            os.close(r)
            os.setsid()
            # The sockets become fds 3.., the pipe the next one; nothing else of the caller's
            # (pytest's or a CLI's inheritable fds) reaches the holder.
            tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 256) for fd in [*fds, w]]
            for i, fd in enumerate(tmp[:-1]):
                os.dup2(fd, 3 + i)
            w = os.dup2(tmp[-1], 3 + len(fds), inheritable=False)
            os.closerange(4 + len(fds), 1 << 16)
            null = os.open("/dev/null", os.O_RDWR)
            pid = os.posix_spawn(SLEEP, [f"pystack-port-holder {label}", "infinity"], {},
                                 file_actions=[(os.POSIX_SPAWN_DUP2, null, 0),
                                               (os.POSIX_SPAWN_DUP2, null, 1),
                                               (os.POSIX_SPAWN_DUP2, null, 2)],
                                 setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
            os.write(w, str(pid).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        raw = b""
        while chunk := os.read(r, 32):
            raw += chunk
    finally:
        os.close(r)
        os.waitpid(middle, 0)
    if not raw:
        raise NetConfigError("cannot start the port holder")
    pid = int(raw)
    ticks = start_ticks(pid)
    if ticks is None:
        raise NetConfigError("the port holder died at once")
    return pid, ticks


def release(held: Iterable[Held]) -> None:
    """Kill the holders that are still the processes recorded (same pid, same start), and
    wait until each has exited: a SIGKILL is asynchronous, and a port must be free when this
    returns (a `down` then an `up` binds it again at once).  Through a pidfd opened before
    the start-time check, so a pid reused meanwhile is never signalled."""
    for pid, ticks in set(held):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue                        # gone already
        try:
            if start_ticks(pid) != ticks:
                continue
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                continue
            select.select([pidfd], [], [], 10)   # readable once it has exited
        finally:
            os.close(pidfd)


def strays(label: str) -> list[Held]:
    """Holders started for `label` (state root + container id) whatever the records say: a
    publish killed between starting its holder and recording it (the CLI died) leaves one
    that only its argv names; without this it would hold the port until reboot."""
    want = f"pystack-port-holder {label}\0infinity\0".encode()
    out: list[Held] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if f.read(len(want) + 1) != want:
                    continue
        except OSError:
            continue
        ticks = start_ticks(int(name))
        if ticks is not None:
            out.append((int(name), ticks))
    return out


def held_of(rec: dict[str, object]) -> list[Held]:
    """The holders a sandbox record names (malformed entries are ignored: a record is never
    trusted to name a process to kill without the start-time check of release())."""
    out: list[Held] = []
    raw = rec.get("holders")
    for h in raw if isinstance(raw, list) else []:
        if isinstance(h, list) and len(h) == 2 and all(isinstance(x, int) for x in h) \
                and h[0] > 1:
            out.append((h[0], h[1]))
    return out


def running(root: str) -> dict[str, list[Held]]:
    """Every holder alive for the state root `root`, by container id (from their argv)."""
    out: dict[str, list[Held]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0]
        except OSError:
            continue
        if not argv0.startswith(b"pystack-port-holder "):
            continue
        where, _, cid = argv0[len(b"pystack-port-holder "):].decode(errors="replace") \
            .rpartition(" ")
        ticks = start_ticks(int(name))
        if where == root and ticks is not None:
            out.setdefault(cid, []).append((int(name), ticks))
    return out
