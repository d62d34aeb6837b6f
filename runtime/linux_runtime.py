"""LinuxRuntime: the Runtime protocol (runtime/api.py) on the real kernel.

No daemon: create writes the container dir; start has this process's shim zygote
(runtime/zygote.py, started on first use, gone with this process or close()) fork a detached
shim (runtime/shim.py) and waits for its one-line ready report; every later request (stop,
kill, pause, wait, exec) is a JSON line on the shim's unix socket (runtime/control.py).
When the shim is gone (it exits with the container, or was killed) the state on disk and
the cgroup are enough: stop/kill/delete act on the cgroup directly, and delete removes
everything (idempotent).
"""

from __future__ import annotations

import json
import os
import shutil
import signal as _signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pystack.runtime import faults, journal, process, procstats, state
from pystack.runtime import logs as _logs
from pystack.runtime.api import (
    ContainerEvent,
    ContainerState,
    Health,
    HealthResult,
    LogEntry,
    ProcessInfo,
    Stats,
)
from pystack.runtime.cgroups import open_cgroup
from pystack.runtime.checks import ID_RE, check_spec, parse_signal
from pystack.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from pystack.runtime.oneshot import OneShot
from pystack.runtime.shimreport import read_report
from pystack.runtime.spec import ContainerSpec, ExecSpec
from pystack.runtime.state import Paths
from pystack.runtime.zygote import Zygote


def _host_resolv() -> str:
    try:
        with open("/etc/resolv.conf", "rb") as f:
            return f.read(1 << 16).decode(errors="replace")
    except OSError:
        return ""


DEFAULT_HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                 "ff02::2\tip6-allrouters\n")


def write_container_files(p: state.Paths, spec: ContainerSpec) -> None:
    """The files of a container dir its rootfs binds: hostname, and the default hosts and
    resolv.conf when the caller gives none."""
    p.hostname.write_text(process.hostname_of(spec) + "\n")
    faults.point("runtime-create:dirs")
    if spec.etc_hosts is None and spec.network_mode != "host":
        p.hosts.write_text(DEFAULT_HOSTS)
    if spec.etc_resolv is None:
        # Docker: network_mode host gets a copy of the host's resolv.conf, none an
        # empty one (a copy: the container may write its own, never the host's).
        (p.dir / "resolv.conf").write_text(_host_resolv()
                                           if spec.network_mode == "host" else "")


STOP_SLACK = 5.0        # seconds a stop waits for the shim beyond the grace period
START_TIMEOUT = 60.0    # seconds a start waits for the shim's ready report


class LinuxRuntime:
    def __init__(self, root: Path | None = None) -> None:
        self.root = state.root_dir(root)
        self.containers = self.root / "containers"
        self._zygote = Zygote(self.root)

    # -- helpers -----------------------------------------------------------------------------
    def _event(self, p: state.Paths, action: str, st: dict[str, Any] | None = None,
               **attributes: object) -> None:
        """Journal one event of this container (its name and labels from its state)."""
        if st is None:
            try:
                st = state.read_json(p.state)
            except ContainerRuntimeError:
                st = {}
        journal.record(self.root, p.id, action, str(st.get("name", "")),
                       st.get("labels") or {}, **attributes)

    def _paths(self, container_id: str) -> state.Paths:
        p = state.Paths(dir=self.containers / container_id, id=container_id)
        if ID_RE.match(container_id) and p.spec.exists():
            return p
        for st in self.list_containers():
            if st.name == container_id or (len(container_id) >= 4 and
                                            st.id.startswith(container_id)):
                return state.Paths(dir=self.containers / st.id, id=st.id)
        raise ContainerNotFoundError(f"no such container: {container_id}")

    def _raw_state(self, p: state.Paths) -> dict[str, Any]:
        st: dict[str, Any] = state.read_json(p.state)
        if st.get("status") in ("running", "paused", "restarting") and not self._shim_alive(p, st):
            if state.pid_alive(int(st.get("pid") or 0), st.get("pid_start")):
                st["unsupervised"] = True    # the shim died; the container still runs
                return st
            st["status"] = "dead" if st.get("exit_code") is None else "exited"
            st["pid"] = 0
        return st

    def _shim_alive(self, p: state.Paths, st: dict[str, Any]) -> bool:
        pid = int(st.get("shim_pid") or 0)
        return pid > 0 and state.pid_alive(pid, st.get("shim_start"))

    def close(self) -> None:
        """Stop the shim template process (containers and their shims keep running)."""
        self._zygote.close()

    def prewarm(self) -> None:
        """Start the shim template now rather than on the first start: `up` calls this before
        it loads the stack file, so the zygote's start-up overlaps with it (another process)."""
        self._zygote.ensure_started()

    def prewarm_runs(self) -> None:
        """prewarm() for one-shot runs only (a build's RUN steps): a zygote that starts
        faster (the shim's modules come at its first shim, if any)."""
        self._zygote.ensure_started(lite=True)

    def oneshot(self, spec: ContainerSpec, cdir: Path) -> OneShot:
        """`spec` run once to completion without a shim, in the new dir `cdir` (a build
        step: runtime/oneshot.py); the same confinement as any container."""
        return OneShot(self._zygote, spec, cdir)

    def _to_state(self, p: state.Paths, st: dict[str, Any]) -> ContainerState:
        spec_labels: dict[str, str] = st.get("labels") or {}
        h = st.get("health")
        health = None
        if h:
            health = Health(status=h["status"], failing_streak=int(h.get("failing_streak", 0)),
                            log=tuple(HealthResult(start=r["start"], end=r["end"],
                                                   exit_code=int(r["exit_code"]),
                                                   output=r["output"]) for r in h.get("log", [])))
        return ContainerState(
            id=p.id, name=st.get("name", ""), status=st.get("status", "created"),
            pid=int(st.get("pid") or 0), exit_code=st.get("exit_code"),
            oom_killed=bool(st.get("oom_killed")), created_at=st.get("created_at", ""),
            started_at=st.get("started_at", ""), finished_at=st.get("finished_at", ""),
            restart_count=int(st.get("restart_count", 0)), health=health,
            labels=spec_labels, image_id=st.get("image_id", ""), netns=st.get("netns"),
            warnings=tuple(str(w) for w in st.get("warnings") or ()),
            supervised=not st.get("unsupervised"))

    def _request(self, p: state.Paths, req: dict[str, Any], fds: tuple[int, ...] = (),
                 timeout: float | None = 30.0) -> dict[str, Any] | None:
        """One request to the shim; None when no shim answers."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            try:
                s.connect(str(p.socket))
            except (FileNotFoundError, ConnectionRefusedError):
                return None
            raw = json.dumps(req).encode()
            if fds:
                socket.send_fds(s, [raw], list(fds))
            else:
                s.sendall(raw)
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
        except TimeoutError as e:
            raise ContainerRuntimeError(f"timed out waiting for container {p.id[:12]}") from e
        except (ConnectionResetError, BrokenPipeError):
            return None                     # the shim exited while we were queued
        except OSError as e:
            raise ContainerRuntimeError(f"cannot talk to the shim of {p.id[:12]}: {e}") from e
        finally:
            s.close()
        reply: dict[str, Any] = json.loads(buf)
        if reply.get("error") and "status" not in reply:
            hint = reply.get("hint")
            raise ContainerRuntimeError(str(reply["error"]), hint=str(hint) if hint else None)
        return reply

    # -- Runtime protocol ----------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> ContainerState:
        warnings = check_spec(spec)
        for st in self.list_containers():
            if st.name == spec.name:
                raise ContainerRuntimeError(
                    f'the container name "{spec.name}" is already in use by {st.id[:12]}',
                    hint="remove that container or pick another name")
        p = state.Paths(dir=self.containers / spec.id, id=spec.id)
        try:
            p.dir.mkdir(parents=True)
        except FileExistsError as e:
            raise ContainerRuntimeError(f"container {spec.id[:12]} already exists") from e
        except OSError as e:
            raise ContainerRuntimeError(f"cannot create container {spec.id[:12]}: "
                                        f"{e.strerror}: {p.dir}") from e
        try:
            for sub in (p.upper, p.work, p.rootfs):
                sub.mkdir()
            write_container_files(p, spec)
            state.save_spec(p, spec)
            p.log.touch(mode=0o640)          # `logs -f` of a created container waits on it
            new: dict[str, Any] = {
                "name": spec.name, "status": "created", "created_at": _logs.now_rfc3339(),
                "labels": spec.labels, "image_id": spec.image_id, "netns": spec.netns,
                "restart_count": 0, "warnings": warnings}
            faults.point("runtime-create:state")
            state.write_json(p.state, new)
            self._event(p, "create", new)
        except OSError as e:
            shutil.rmtree(p.dir, ignore_errors=True)
            raise ContainerRuntimeError(
                f"cannot create container {spec.id[:12]}: {e.strerror}: {e.filename or p.dir}",
                hint="free space on the filesystem of PYSTACK_ROOT" if e.errno == 28
                else None) from e
        except BaseException:
            shutil.rmtree(p.dir, ignore_errors=True)
            raise
        return self._to_state(p, new)

    def start(self, container_id: str) -> ContainerState:
        p = self._paths(container_id)
        st = self._raw_state(p)
        if st.get("status") in ("running", "paused", "restarting"):
            return self._to_state(p, st)
        deadline = time.monotonic() + 10
        while self._shim_alive(p, st) and time.monotonic() < deadline:
            time.sleep(0.005)                # the last run's shim is still cleaning up
        r, w = os.pipe()
        try:
            self._zygote.spawn(p.dir, w)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        try:
            raw = read_report(r, START_TIMEOUT, self._zygote.kill)
        finally:
            os.close(r)
        if raw is None:                      # killed; so is anything it started
            self._kill_shim(p)
            self._kill_orphan(p)
            raise ContainerRuntimeError(f"cannot start container {p.id[:12]}: the shim did "
                                        f"not report within {START_TIMEOUT:.0f} s")
        try:
            report = json.loads(raw) if raw else {"error": "the shim died while starting"}
        except ValueError:
            report = {"error": f"bad report from the shim: {raw[:200]!r}"}
        if "error" in report:
            raise ContainerRuntimeError(f"cannot start container {p.id[:12]}: {report['error']}")
        return self.state(p.id)

    def stop(self, container_id: str, timeout: float | None = None) -> ContainerState:
        p = self._paths(container_id)
        spec = state.load_spec(p)
        grace = spec.stop_grace_period if timeout is None else timeout
        sig = parse_signal(spec.stop_signal or spec.image.stop_signal or "SIGTERM")
        was = state.read_json(p.state)
        live = was.get("status") in ("running", "paused", "restarting")
        if live:
            self._event(p, "kill", was, signal=sig)
        try:
            reply = self._request(p, {"op": "stop", "timeout": grace, "signal": sig},
                                  timeout=grace + STOP_SLACK)
        except ContainerRuntimeError:
            # The shim did not answer within the grace period (plus its own kill and clean-up
            # time): it is hung or stopped.  A stop must stop: kill the shim, then the cgroup.
            self._kill_shim(p)
            self._kill_orphan(p)
            reply = {}
        if reply is None:
            self._stop_orphan(p, sig, grace)
        if live:
            self._event(p, "stop", was)
        return self.state(p.id)

    def _stop_orphan(self, p: state.Paths, sig: int, grace: float) -> None:
        """No shim: the stop signal to PID 1, then the cgroup's SIGKILL after the grace."""
        try:
            st = state.read_json(p.state)
        except ContainerRuntimeError:
            st = {}
        pid, start = int(st.get("pid") or 0), st.get("pid_start")
        if st.get("status") in ("running", "restarting") and state.pid_alive(pid, start):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace
            while state.pid_alive(pid, start) and time.monotonic() < deadline:
                time.sleep(0.02)
        self._kill_orphan(p)

    def _kill_shim(self, p: state.Paths) -> None:
        try:
            st = state.read_json(p.state)
        except ContainerRuntimeError:
            return
        pid = int(st.get("shim_pid") or 0)
        if not self._shim_alive(p, st):
            return
        try:
            os.kill(pid, _signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 2
        while state.pid_alive(pid, st.get("shim_start")) and time.monotonic() < deadline:
            time.sleep(0.005)            # gone (or a zombie) at once: SIGKILL is not caught

    def _kill_orphan(self, p: state.Paths) -> None:
        cg = open_cgroup(p.id)
        try:
            cg.kill_all()
        except ContainerRuntimeError:
            pass
        st = state.read_json(p.state)
        if st.get("status") in ("running", "paused", "restarting"):
            st.update(status="exited", pid=0, finished_at=_logs.now_rfc3339())
            if st.get("exit_code") is None:
                st["exit_code"] = 137
            try:
                state.write_json(p.state, st)
            except OSError:
                pass                     # a full disk: _raw_state sees the dead PID 1 anyway

    def kill(self, container_id: str, signal: int | str = "SIGKILL") -> None:
        p = self._paths(container_id)
        sig = parse_signal(signal)
        if self._request(p, {"op": "kill", "signal": sig}) is None:
            st = self._raw_state(p)
            if st.get("status") not in ("running", "paused"):
                raise ContainerRuntimeError(f"container {p.id[:12]} is not running")
            os.kill(int(st["pid"]), sig)
        self._event(p, "kill", signal=sig)

    def pause(self, container_id: str) -> None:
        p = self._paths(container_id)
        if self._request(p, {"op": "pause"}) is None:
            raise ContainerRuntimeError(f"container {p.id[:12]} is not running")

    def unpause(self, container_id: str) -> None:
        p = self._paths(container_id)
        if self._request(p, {"op": "unpause"}) is None:
            raise ContainerRuntimeError(f"container {p.id[:12]} is not running")

    def delete(self, container_id: str, force: bool = False) -> None:
        try:
            p = self._paths(container_id)
        except ContainerNotFoundError:
            if not force:
                raise
            # A create that was killed half-way leaves a directory without spec or state
            # (upper/, work/, rootfs/, hostname, a .spec.json.*.tmp): nobody lists it, but the
            # caller's intent log knows its id: remove what there is.
            p = state.Paths(dir=self.containers / container_id, id=container_id)
            if not (ID_RE.match(container_id) and p.dir.is_dir()):
                return
        try:
            st = self._raw_state(p)
        except ContainerRuntimeError:
            st = {}
        live = st.get("status") in ("running", "paused", "restarting")
        if live and not force:
            raise ContainerRuntimeError(
                f"cannot remove container {p.id[:12]}: it is running",
                hint="stop it first, or force the removal")
        cg = open_cgroup(p.id)
        shim = int(st.get("shim_pid") or 0)
        if shim and self._shim_alive(p, st):
            try:
                os.kill(shim, _signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            cg.thaw()
        except ContainerRuntimeError:
            pass
        cg.kill_all()
        pid = int(st.get("pid") or 0)
        if pid and state.pid_alive(pid, st.get("pid_start")):
            try:
                os.kill(pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
        cg.remove()
        self._unmount_under(p.dir)
        p.socket.unlink(missing_ok=True)
        shutil.rmtree(p.dir, ignore_errors=True)
        if p.dir.exists():
            raise ContainerRuntimeError(f"cannot remove {p.dir}")
        if live:                # the shim was killed first: the exit is told from here
            self._event(p, "kill", st, signal=int(_signal.SIGKILL))
            self._event(p, "die", st, exitCode=137)
        if st:
            self._event(p, "destroy", st)

    @staticmethod
    def _unmount_under(d: Path) -> None:
        from pystack.runtime import linux as L

        prefix = str(d) + "/"
        with open("/proc/self/mountinfo") as f:
            mps = [ln.split()[4] for ln in f]
        for mp in sorted((m for m in mps if m.startswith(prefix)), key=len, reverse=True):
            try:
                L.umount2(mp, L.MNT_DETACH)
            except ContainerRuntimeError:
                pass

    def state(self, container_id: str) -> ContainerState:
        p = self._paths(container_id)
        return self._to_state(p, self._raw_state(p))

    def namespace_path(self, container_id: str, kind: str) -> str:
        return f"/proc/{self.state(container_id).pid}/ns/{kind}"

    def spec(self, container_id: str) -> ContainerSpec:
        return state.load_spec(self._paths(container_id))

    def list_containers(self) -> list[ContainerState]:
        out = []
        try:
            names = sorted(os.listdir(self.containers))
        except FileNotFoundError:
            return []
        for name in names:
            p = state.Paths(dir=self.containers / name, id=name)
            try:
                out.append(self._to_state(p, self._raw_state(p)))
            except ContainerRuntimeError:
                continue
        return out

    def wait(self, container_id: str, timeout: float | None = None) -> ContainerState:
        p = self._paths(container_id)
        self._request(p, {"op": "wait"}, timeout=timeout)
        return self.state(p.id)

    def exec(self, container_id: str, spec: ExecSpec, stdin: IO[bytes] | None = None,
             stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None) -> int:
        from pystack.runtime.exec_client import run_exec

        p = self._paths(container_id)

        def request(fds: tuple[int, ...]) -> dict[str, Any] | None:
            reply = self._request(p, {"op": "exec", "spec": state.to_json(spec)}, fds=fds,
                                  timeout=None)
            return reply if reply is not None else self._exec_without_shim(p, spec, fds)
        return run_exec(request, spec, stdin, stdout, stderr)

    def attach(self, container_id: str, stdin: IO[bytes] | None = None,
               stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None,
               detach_keys: str | None = None) -> bool:
        import struct

        from pystack.runtime.exec_client import run_attach

        p = self._paths(container_id)

        def resize(ws: bytes) -> None:
            rows, cols = struct.unpack("HHHH", ws)[:2]
            try:
                self._request(p, {"op": "resize", "rows": rows, "cols": cols}, timeout=5.0)
            except ContainerRuntimeError:
                pass                    # exiting: the stream ends next

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                s.connect(str(p.socket))
            except (FileNotFoundError, ConnectionRefusedError) as e:
                raise ContainerRuntimeError(f"container {p.id[:12]} is not running") from e
            return run_attach(s, stdin, stdout, stderr, detach_keys, resize)
        finally:
            s.close()

    def _exec_without_shim(self, p: Paths, xs: ExecSpec,
                           fds: tuple[int, ...]) -> dict[str, Any] | None:
        """The shim is gone but the container may still run: exec through its PID 1."""
        from pystack.runtime.exec import run_direct
        from pystack.runtime.launch import Stdio

        st = self._raw_state(p)
        pid = int(st.get("pid") or 0)
        if st.get("status") == "paused":
            raise ContainerRuntimeError(f"container {p.id[:12]} is paused",
                                        hint="unpause the container before exec")
        if st.get("status") != "running" or not state.pid_alive(pid, st.get("pid_start")):
            return None
        spec = state.load_spec(p)
        layers = [p.upper, *(Path(d) for d in reversed(spec.lower_dirs))]
        code = run_direct(lambda: spec, pid, st.get("pid_start"), open_cgroup(p.id).procs_files(),
                          xs, Stdio(fds[0], fds[1], fds[2], tty=xs.tty,
                                    console=fds[3] if len(fds) > 3 else -1), layers)
        return {"exit_code": code}

    def logs(self, container_id: str, follow: bool = False, tail: int | None = None,
             since: str | None = None, until: str | None = None) -> Iterator[LogEntry]:
        p = self._paths(container_id)
        if not follow:
            return iter(_logs.read(p.log, tail, since, until))

        def running() -> bool:
            try:
                return self.state(p.id).status in ("running", "paused", "restarting")
            except ContainerRuntimeError:
                return False
        return _logs.follow(p.log, running, tail, since, until)

    def stats(self, container_id: str) -> Stats:
        from dataclasses import replace

        p = self._paths(container_id)
        st = self.state(p.id)
        if st.status not in ("running", "paused"):
            return Stats()
        cpu_ns, online = procstats.system_cpu()
        s = replace(open_cgroup(p.id).stats(), system_cpu_ns=cpu_ns, online_cpus=online)
        if st.pid and state.load_spec(p).network_mode == "ns":
            rx, tx = procstats.net_counters(st.pid)
            s = replace(s, net_rx_bytes=rx, net_tx_bytes=tx)
        return s

    def events(self, since: float | None = None, until: float | None = None,
               follow: bool = False) -> Iterator[ContainerEvent]:
        return journal.read(self.root, None if since is None else int(since * 1e9),
                            None if until is None else int(until * 1e9), follow)

    def processes(self, container_id: str) -> list[ProcessInfo]:
        p = self._paths(container_id)
        if self.state(p.id).status not in ("running", "paused"):
            return []
        spec = state.load_spec(p)
        names = procstats.uid_names([p.upper, *(Path(d) for d in reversed(spec.lower_dirs))])
        btime = procstats.boot_time()
        return [info for pid in open_cgroup(p.id).pids()
                if (info := procstats.process(pid, names, btime)) is not None]

