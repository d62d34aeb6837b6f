"""A container run to completion without a shim: what a build's RUN step is.

A RUN needs none of what the shim is for (no restart policy, no healthcheck, no json log, no
control socket, nothing that outlives the caller), so the shim zygote forks a short-lived
"runner" instead of a detached shim.  The runner makes the container's cgroup, starts the
container through the very start sequence every container uses (launch.start: the same
namespaces, cgroup and device rules, rootfs, masked and read-only paths, capabilities,
no_new_privs and seccomp filter), waits for its PID 1 on a pidfd, removes the cgroup and
reports `{"exit_code", "error"?, "oom_killed"}` on a pipe.  The container's stdout and stderr
are one pipe of the caller's, read as the process writes.  Nothing is recorded in the
runtime's state (the container is in no `ps`): the container dir is one the caller names (a
fresh path), made by `OneShot.__enter__` and removed by `__exit__`.

If the caller goes away (its end of the report pipe closes: the CLI was interrupted or
killed), the runner kills the container and cleans up: no wait outlives what it waits on.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pystack.runtime import state
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.spec import ContainerSpec

REQUEST = b"run\0"          # the zygote's message prefix for a runner (else: a shim)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    error: str = ""                 # why the start failed (the exit code is the runtime's)
    oom_killed: bool = False


class OneShot:
    """One container run once: `with OneShot(zygote, spec, cdir) as box: box.run(out)`;
    `box.paths.upper` holds its changes until the `with` ends."""

    def __init__(self, zygote: Any, spec: ContainerSpec, cdir: Path) -> None:
        self.zygote = zygote
        self.spec = spec
        self.paths = state.Paths(dir=cdir, id=spec.id)

    def __enter__(self) -> OneShot:
        from pystack.runtime.checks import check_spec
        from pystack.runtime.linux_runtime import write_container_files

        check_spec(self.spec)
        p = self.paths
        try:
            p.dir.mkdir()
            for sub in (p.upper, p.work, p.rootfs):
                sub.mkdir()
            write_container_files(p, self.spec)
            # Read once, by the runner, right after: no crash must find it, so no fsync.
            p.spec.write_text(json.dumps(state.to_json(self.spec), separators=(",", ":")))
        except OSError as e:
            shutil.rmtree(p.dir, ignore_errors=True)
            raise ContainerRuntimeError(f"cannot create container {p.id[:12]}: "
                                        f"{e.strerror}: {e.filename or p.dir}") from e
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        shutil.rmtree(self.paths.dir, ignore_errors=True)

    def run(self, on_output: Callable[[bytes], None]) -> Outcome:
        """Start the container and wait for it; its output goes to `on_output` as written."""
        out_r, out_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            self.zygote.send(REQUEST + str(self.paths.dir).encode(), [rep_w, out_w])
        except BaseException:
            os.close(out_r)
            os.close(rep_r)
            raise
        finally:
            os.close(out_w)
            os.close(rep_w)
        report = b""
        try:
            open_fds = {out_r, rep_r}
            while open_fds:
                ready, _, _ = select.select(list(open_fds), [], [])
                for fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        open_fds.discard(fd)
                    elif fd == out_r:
                        on_output(chunk)
                    else:
                        report += chunk
        finally:
            os.close(out_r)
            os.close(rep_r)
        try:
            rep: dict[str, Any] = json.loads(report)
        except ValueError as e:
            raise ContainerRuntimeError(f"container {self.paths.id[:12]}: the runner died "
                                        "without a report") from e
        return Outcome(int(rep["exit_code"]), str(rep.get("error") or ""),
                       bool(rep.get("oom_killed")))


# -- the runner (a child of the zygote) ------------------------------------------------------

def _wait(pid: int, report_w: int, cg: Any) -> int:
    """PID 1's exit code; the container is killed first when the caller went away."""
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(report_w, 0)            # POLLERR: the caller closed its end
        while True:
            events = dict(poller.poll())
            if pidfd in events:
                break
            if report_w in events:
                cg.kill_all()
                break
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def runner(cdir: str, report_w: int, out_w: int) -> int:
    """In the zygote's forked child: run the container of `cdir` once, report, exit."""
    from pystack.runtime import launch
    from pystack.runtime.cgroups import open_cgroup
    from pystack.runtime.linux import set_name, set_subreaper
    from pystack.runtime.process import build

    set_name("pystack-run")
    set_subreaper()                 # PID 1 is re-parented to us when stage-1 exits
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    paths = state.Paths(dir=Path(cdir), id="")
    result: dict[str, Any] = {"exit_code": launch.EXIT_SETUP}
    cg = None
    try:
        spec = state.load_spec(paths)
        paths = state.Paths(dir=paths.dir, id=spec.id)
        cg = open_cgroup(spec.id)
        cg.create()
        cg.apply(spec.resources, spec.privileged)
        proc = build(spec, [paths.upper, *(Path(d) for d in reversed(spec.lower_dirs))])
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            # volatile: the upper dir is read once, right after, and never survives a crash
            pid, err_r = launch.start(spec, paths, proc, launch.Stdio(null, out_w, out_w),
                                      cg.add_pid, volatile=True)
        finally:
            os.close(null)
            os.close(out_w)
        failure = launch.read_error(err_r)
        if failure is not None:
            os.waitpid(pid, 0)
            result = {"exit_code": failure[0], "error": failure[1]}
        else:
            result = {"exit_code": _wait(pid, report_w, cg)}
            result["oom_killed"] = cg.oom_killed()
    except (ContainerRuntimeError, OSError) as e:
        result["error"] = str(e)
    finally:
        if cg is not None:
            try:
                cg.kill_all()
                cg.remove()
            except ContainerRuntimeError as e:
                result["error"] = result.get("error") or str(e)
        try:
            os.write(report_w, json.dumps(result).encode())
        except OSError:
            pass
    return 0
