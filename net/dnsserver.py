"""The embedded DNS server of one project: `python -m pystack.net.dnsserver PROJECT`.

No daemon: one small process pair per project that has containers on user networks, started
by the first attach (dns.py) and stopped by the teardown that removes its last sandbox.

- the SUPERVISOR binds the control socket ($PYSTACK_RUN/net/dns/<project>.sock, 0600 in a
  0700 dir, root peers only), writes its pid file, says "ready" on stdout, then forks the
  WORKER and forks it again if it dies of anything but a clean exit (at most 5 times a
  minute): a killed or crashed worker comes back with every socket, since it rebuilds all of
  its state from net's records;
- the WORKER holds, for every sandbox of the project whose DnsConfig is `embedded`, a UDP and
  a TCP socket bound to 127.0.0.11:53 INSIDE that sandbox's network namespace (made by
  entering the pinned netns for the socket() call: a socket stays in the namespace it was
  made in).  The socket a query came in on names the asking container; dnsproto.py answers
  it from the names of that container's networks, re-read from the records whenever their
  directory changed.  Other names are forwarded, from a thread, to the container's `dns:`
  servers or else the host's resolvers — from inside the container's namespace (so an
  internal-only container reaches nothing), except a host-loopback server (127.0.0.0/8,
  ::1), which only the host namespace can reach.
- control: "sync" re-reads the records, opens the sockets of new sandboxes and closes those
  of removed ones (so the namespace of a removed sandbox is not kept alive by us), then
  replies "ok"; "stop" closes everything and exits.  The worker also exits by itself when
  the project has no sandbox left (a `down` that died half-way), under the project's lock so
  that no `up` can be handing it a sandbox meanwhile.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pystack.net import dnsproto, dnswire, names, netns
from pystack.net.dns import paths
from pystack.net.state import Knobs, Store

FORWARD_TIMEOUT = 2.0            # per upstream server
TCP_IDLE = 5.0
MAX_THREADS = 64
IDLE_CHECK = 5.0                 # seconds between "has the project any sandbox left?" checks


def _peer_is_root(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return bool(struct.unpack("3i", creds)[1] == 0)


def _host_loopback(server: str) -> bool:
    try:
        return ipaddress.ip_address(server).is_loopback
    except ValueError:
        return False


class Worker:
    def __init__(self, project: str, knobs: Knobs, ctl: socket.socket) -> None:
        self.project = project
        self.store = Store(knobs)
        self.lock_path = paths(knobs, project)[2]
        self.ctl = ctl
        self.sel = selectors.DefaultSelector()
        self.sel.register(ctl, selectors.EVENT_READ, ("ctl", ""))
        self.socks: dict[str, tuple[socket.socket, socket.socket]] = {}
        self.pins: dict[str, Path] = {}
        self.table = dnsproto.Table(())
        self.stamp = -1
        self.slots = threading.BoundedSemaphore(MAX_THREADS)

    # state --------------------------------------------------------------------------------

    def _stamp(self) -> int:
        try:
            return os.stat(self.store.sandboxes).st_mtime_ns
        except FileNotFoundError:
            return 0

    def reload(self) -> list[dict[str, Any]]:
        self.stamp = self._stamp()
        recs = self.store.all(self.store.sandboxes)
        self.table = dnsproto.Table(recs)
        return recs

    def fresh_table(self) -> dnsproto.Table:
        if self._stamp() != self.stamp:
            self.reload()
        return self.table

    def sync(self) -> None:
        recs = self.reload()
        want = {r["id"]: Path(r["pin"]) for r in recs
                if r.get("project") == self.project and (r.get("dns") or {}).get("embedded")
                and r.get("attachments")}
        for cid in [c for c in self.socks if c not in want]:
            self._close(cid)
        for cid, pin in want.items():
            if cid not in self.socks and netns.is_pinned(pin):
                try:
                    self._open(cid, pin)
                except OSError as e:
                    print(f"dns: {cid}: cannot listen in its namespace: {e}", file=sys.stderr)

    def _open(self, cid: str, pin: Path) -> None:
        with netns.entered(pin):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((dnsproto.ADDRESS, dnsproto.PORT))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((dnsproto.ADDRESS, dnsproto.PORT))
            tcp.listen(64)
        except OSError:
            udp.close()
            tcp.close()
            raise
        udp.setblocking(False)
        tcp.setblocking(False)
        self.socks[cid] = (udp, tcp)
        self.pins[cid] = pin
        self.sel.register(udp, selectors.EVENT_READ, ("udp", cid))
        self.sel.register(tcp, selectors.EVENT_READ, ("tcp", cid))

    def _close(self, cid: str) -> None:
        for s in self.socks.pop(cid, ()):
            self.sel.unregister(s)
            s.close()
        self.pins.pop(cid, None)

    def close_all(self) -> None:
        for cid in list(self.socks):
            self._close(cid)

    # the loop -----------------------------------------------------------------------------

    def run(self) -> int:
        self.sync()
        last_check = time.monotonic()
        while True:
            for key, _ in self.sel.select(timeout=IDLE_CHECK):
                kind, cid = key.data
                try:
                    if kind == "ctl":
                        if self.control():
                            return 0
                    elif kind == "udp":
                        self.on_udp(cid, key.fileobj)  # type: ignore[arg-type]
                    else:
                        self.on_tcp(cid, key.fileobj)  # type: ignore[arg-type]
                except Exception as e:      # a query must never take the server down
                    print(f"dns: {kind} {cid}: {e!r}", file=sys.stderr)
            if time.monotonic() - last_check >= IDLE_CHECK:
                last_check = time.monotonic()
                if self.idle_exit():
                    return 0

    def idle_exit(self) -> bool:
        """Exit when the project has no sandbox left, under its lock (see the docstring)."""
        if any(r.get("project") == self.project for r in self.store.all(self.store.sandboxes)):
            return False
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if any(r.get("project") == self.project for r in self.store.all(self.store.sandboxes)):
            os.close(fd)
            return False
        sock, pid, _ = paths(Knobs.from_env(), self.project)
        for p in (sock, pid):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        self.close_all()
        return True                 # the lock goes with the process

    def control(self) -> bool:
        conn, _ = self.ctl.accept()
        with conn:
            conn.settimeout(5.0)
            if not _peer_is_root(conn):
                return False
            cmd = conn.recv(64).decode(errors="replace").strip()
            if cmd == "sync":
                self.sync()
                conn.sendall(b"ok %d\n" % len(self.socks))
            elif cmd == "stop":
                self.close_all()
                conn.sendall(b"ok %d\n" % os.getpid())
                return True
            else:
                conn.sendall(b"error unknown command\n")
        return False

    # queries ------------------------------------------------------------------------------

    def _asker(self, cid: str) -> dnsproto.Asker:
        return self.fresh_table().askers.get(cid) or dnsproto.Asker((), {}, (), False)

    def _local(self, cid: str, data: bytes
               ) -> tuple[dnswire.Query, dnsproto.Asker, bytes | None] | None:
        """(the query, its asker, our answer or None to forward); None for garbage."""
        q = dnswire.parse(data)
        if q is None:
            return None
        asker = self._asker(cid)
        return q, asker, dnsproto.answer(q, self.table, asker)

    def on_udp(self, cid: str, sock: socket.socket) -> None:
        try:
            data, addr = sock.recvfrom(4096)
        except BlockingIOError:
            return
        got = self._local(cid, data)
        if got is None:
            return
        q, asker, reply = got
        if reply is not None:
            sock.sendto(dnswire.truncated(q, reply, dnswire.udp_limit(q)), addr)
            return
        self._thread(self._forward_udp, cid, asker, sock, addr, data, q)

    def on_tcp(self, cid: str, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        self._thread(self._serve_tcp, cid, conn)

    def _thread(self, target: Any, *args: Any) -> None:
        if not self.slots.acquire(blocking=False):
            if isinstance(args[-1], socket.socket):
                args[-1].close()
            return                  # overloaded: the client retries

        def run() -> None:
            try:
                target(*args)
            except Exception as e:  # a query must never take the server down
                print(f"dns: {target.__name__}: {e}", file=sys.stderr)
            finally:
                self.slots.release()

        threading.Thread(target=run, daemon=True).start()

    def _servers(self, asker: dnsproto.Asker) -> list[str]:
        return list(asker.servers) or names.host_resolv()[0] or list(names.FALLBACK_SERVERS)

    def _upstream(self, cid: str, server: str, kind: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        if _host_loopback(server):
            return socket.socket(family, kind)
        pin = self.pins.get(cid)
        if pin is None:
            raise OSError("the container's namespace is gone")
        with netns.entered(pin):
            return socket.socket(family, kind)

    def forward(self, cid: str, asker: dnsproto.Asker, data: bytes, tcp: bool) -> bytes | None:
        """The first upstream reply to `data`, or None."""
        if not asker.outside:
            return None
        qid = data[:2]
        for server in self._servers(asker):
            try:
                s = self._upstream(cid, server, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
            except OSError:
                continue
            with s:
                s.settimeout(FORWARD_TIMEOUT)
                try:
                    s.connect((server, dnsproto.PORT))
                    if tcp:
                        s.sendall(struct.pack("!H", len(data)) + data)
                        reply = dnsproto.read_tcp(s)
                    else:
                        s.send(data)
                        reply = s.recv(65535)
                except OSError:
                    continue
                if reply and reply[:2] == qid:
                    return reply
        return None

    def _forward_udp(self, cid: str, asker: dnsproto.Asker, sock: socket.socket,
                     addr: Any, data: bytes, q: dnswire.Query) -> None:
        reply = self.forward(cid, asker, data, tcp=False)
        sock.sendto(reply if reply is not None else dnswire.failure(q), addr)

    def _serve_tcp(self, cid: str, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TCP_IDLE)
            while True:
                try:
                    data = dnsproto.read_tcp(conn)
                except OSError:
                    return
                if not data:
                    return
                got = self._local(cid, data)
                if got is None:
                    return
                q, asker, reply = got
                if reply is None:
                    reply = self.forward(cid, asker, data, tcp=True) or dnswire.failure(q)
                conn.sendall(struct.pack("!H", len(reply)) + reply)


def supervise(project: str) -> int:
    knobs = Knobs.from_env()
    sock_path, pid_path, _ = paths(knobs, project)
    sock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(sock_path.parent, 0o700)
    try:
        sock_path.unlink()
    except FileNotFoundError:
        pass
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        ctl.bind(str(sock_path))
    finally:
        os.umask(old)
    ctl.listen(64)
    pid_path.write_text(f"{os.getpid()}\n")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    state = {"stopping": False, "child": 0}

    def on_term(*_: Any) -> None:
        state["stopping"] = True
        if state["child"]:
            try:
                os.kill(state["child"], signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    starts: list[float] = []
    status = 0
    while not state["stopping"]:
        starts = [t for t in starts if time.monotonic() - t < 60] + [time.monotonic()]
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                code = Worker(project, knobs, ctl).run()
            finally:
                os._exit(code)
        state["child"] = child
        _, status = os.waitpid(child, 0)
        state["child"] = 0
        if os.waitstatus_to_exitcode(status) == 0 or len(starts) >= 5:
            break
        print(f"dns: worker died ({status}); starting it again", file=sys.stderr)
        time.sleep(0.2)
    try:
        mine = pid_path.read_text().strip() == str(os.getpid())
    except OSError:
        mine = False
    if mine:            # not when an idle worker removed them (a new server may own them)
        for p in (sock_path, pid_path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
    return 0


if __name__ == "__main__":
    if os.fork() > 0:       # the starter reaps this parent at once; the server has no parent
        os._exit(0)
    sys.exit(supervise(sys.argv[1]))
