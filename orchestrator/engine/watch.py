"""A watch session (`pystack watch`, `up --watch`): the file watcher, the debounce, and the
actions of each batch of changes (Compose v2's pkg/compose/watch.go).

Files are watched with watchfiles (Rust `notify`: inotify on Linux, never polling unless
WATCHFILES_FORCE_POLLING is set), imported here only, when a session starts.  Bursts are
batched as Compose batches them: a batch is handed over once no change came for
QUIET_MS (Compose's QuietPeriod, 500 ms), or after at most MAX_BATCH_MS of steady changes.
Between changes the watcher thread sleeps; watchfiles wakes every QUIET_MS to look at the
stop event and its queue of inotify events (no file is read or stat'ed then).

Per batch, in Compose's order: rebuild (the image with pystack's builder, then the service
recreated), sync (watchsync.py), restart, then each sync+exec hook once per container.  A
failing action is reported and the session goes on, as Compose does.  Mutating actions
(restart, rebuild) take the project lock for their own duration only, so other commands keep
working while a session runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from pystack.orchestrator.engine.plan import Existing
from pystack.orchestrator.engine.stack import Stack
from pystack.orchestrator.engine.watchrules import (
    Batch,
    Rule,
    bind_mounted,
    compile_rules,
    plan,
)
from pystack.orchestrator.engine.watchsync import Syncer
from pystack.orchestrator.errors import KNOWN, OrchestratorError

QUIET_MS = 500
MAX_BATCH_MS = 10_000
IDLE_MS = 1_000                         # watchfiles hands back an empty batch when idle


@dataclass(frozen=True)
class WatchOptions:
    services: tuple[str, ...] = ()
    prune: bool = True                  # remove the image a rebuild left dangling
    build_progress: Any = None          # the builder's progress sink for rebuilds
    stdout: IO[bytes] | None = None     # where sync+exec output goes
    stderr: IO[bytes] | None = None


def watched_rules(stack: Stack, services: Iterable[str],
                  warn: Callable[[str], None]) -> list[Rule]:
    """The rules of the chosen services (all when none is named), without the sync rules whose
    path a bind mount already shares with the container (Compose skips them too)."""
    proj = stack.need_project()
    names = list(services) or sorted(proj.services)
    for n in names:
        proj.service(n)
    out = []
    for rule in compile_rules(proj, names):
        svc = proj.services[rule.service]
        if rule.action.startswith("sync") and bind_mounted(svc, rule.spec.path):
            warn(f"path '{rule.spec.path}' also declared by a bind mount volume, this path "
                 "won't be monitored!")
            continue
        out.append(rule)
    if not out:
        raise OrchestratorError(
            "none of the selected services is configured for watch",
            hint="add a develop.watch section to a service (docs/compose-keys.md)")
    for rule in out:
        if not os.path.exists(rule.spec.path):
            raise OrchestratorError(
                f"services.{rule.service}.develop.watch[{rule.index}]: path "
                f"{rule.spec.path} does not exist", hint="create it, or fix the path")
    return out


class Session:
    """One watch session over `rules`; `log` receives every line the user reads."""

    def __init__(self, stack: Stack, rules: list[Rule], opts: WatchOptions,
                 log: Callable[[str], None],
                 recreated: Callable[[str, float], None] | None = None) -> None:
        self.stack = stack
        self.rules = rules
        self.opts = opts
        self.log = log
        # (service, time.time() before the action): its containers were restarted or
        # recreated, their output from then on is theirs
        self.recreated = recreated or (lambda service, since: None)
        self.syncer = Syncer(stack)
        self.batches = 0                # handled so far (tests wait on it through the log)

    def running(self, service: str) -> list[Existing]:
        return [e for e in self.stack.containers(services=[service]) if e.running]

    def initial_sync(self) -> None:
        """`initial_sync: true` sync rules: the whole path, once, before watching."""
        for rule in self.rules:
            if rule.spec.initial_sync and rule.action.startswith("sync"):
                batch = Batch(sync={rule.service: [(rule, rule.spec.path,
                                                    rule.spec.target or "/")]})
                self._sync(batch)

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set (blocks; run it on a thread of its own)."""
        import watchfiles

        paths = sorted({r.spec.path for r in self.rules})
        self.initial_sync()
        try:
            self._watch(watchfiles, paths, stop)
        except OSError as e:            # a watched path vanished, inotify limits, ...
            raise OrchestratorError(f"watching {', '.join(paths)}: {e}",
                                    hint="check the develop.watch paths (and "
                                         "fs.inotify.max_user_watches)") from e
        self.log("Watch disabled")

    def _watch(self, watchfiles: Any, paths: list[str], stop: threading.Event) -> None:
        enabled = False
        # The first (empty) yield comes once the inotify watches are in place: only then is
        # the session "enabled" (a change before that would be missed).
        for changes in watchfiles.watch(
                *paths, watch_filter=None, debounce=MAX_BATCH_MS, step=QUIET_MS,
                stop_event=stop, rust_timeout=IDLE_MS, yield_on_timeout=True,
                raise_interrupt=False, recursive=True, ignore_permission_denied=True):
            if stop.is_set():
                break
            if not enabled:
                enabled = True
                self.log("Watch enabled")
            if changes:
                self.handle({path for _, path in changes})

    def handle(self, paths: Iterable[str]) -> None:
        batch = plan(self.rules, paths)
        if not batch.empty():
            for action in (self._rebuild, self._sync, self._restart, self._exec):
                try:
                    action(batch)
                except KNOWN as e:
                    self.log(f"Error handling changed files: {e.message}")
        self.batches += 1

    def _sync(self, batch: Batch) -> None:
        for service, changes in sorted(batch.sync.items()):
            self.log(f"Syncing service \"{service}\" after {len(changes)} changes were "
                     "detected")
            self.syncer.sync(self.running(service), changes, self.log)

    def _restart(self, batch: Batch) -> None:
        if not batch.restart:
            return
        from pystack.orchestrator.engine import ops

        services = sorted(batch.restart)
        began = time.time()
        with self._locked():
            ops.restart(self.stack, services)
        self.log(f"service(s) {services} restarted")
        for service in services:
            self.recreated(service, began)

    def _exec(self, batch: Batch) -> None:
        from pystack.runtime.spec import ExecSpec

        for service, rules in sorted(batch.exec.items()):
            for rule in rules:
                hook = rule.spec.exec
                if hook is None or not hook.command:
                    continue
                spec = ExecSpec(argv=hook.command, env=dict(hook.environment),
                                user=hook.user, working_dir=hook.working_dir,
                                privileged=hook.privileged)
                for e in self.running(service):
                    code = self.stack.b.runtime.exec(e.id, spec, stdout=self.opts.stdout,
                                                     stderr=self.opts.stderr)
                    if code != 0:
                        self.log(f"exec in {e.name} exited with code {code}")

    def _rebuild(self, batch: Batch) -> None:
        if not batch.rebuild:
            return
        from pystack.orchestrator.engine.build import build_service, default_image_name
        from pystack.orchestrator.engine.up import UpOptions, up

        services = sorted(batch.rebuild)
        proj = self.stack.need_project()
        self.log(f"Rebuilding service(s) {services} after changes were detected...")
        for service in services:
            svc = proj.services[service]
            ref = default_image_name(proj, svc)
            old = self.stack.b.images.get(ref).id if self.stack.b.images.exists(ref) else None
            try:
                new = build_service(self.stack, svc, self.opts.build_progress).id
            except KNOWN as e:
                self.log(f"Build failed. Error: {e.message}")
                continue
            self.log(f"service(s) [{service!r}] successfully built")
            began = time.time()
            with self._locked():
                up(self.stack, UpOptions(services=(service,), no_deps=True,
                                         force_recreate=True, build="never", pull="never"))
            self.recreated(service, began)
            if self.opts.prune and old and old != new:
                self._prune(old)

    def _prune(self, image_id: str) -> None:
        """The image the rebuilt one replaced, once it has no name and no container."""
        images = self.stack.b.images
        try:
            if images.get(image_id).names:
                return
            if any(st.image_id == image_id for st in self.stack.b.runtime.list_containers()):
                return
            images.remove(image_id)
        except KNOWN:
            return

    def _locked(self) -> Any:
        from pystack.orchestrator.engine.state import ProjectLock
        from pystack.orchestrator.settings import settings

        return ProjectLock(self.stack.name, settings().lock_timeout)

