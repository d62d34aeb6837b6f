"""build(): a Dockerfile and its context -> an image in pystack's store.

    result = build(BuildRequest(context=Path("app"), tags=("app:dev",)), store, progress)

Only the stages the target needs are built (a stage named by FROM, COPY --from or RUN
--mount from=), in dependency order.  Each filesystem step (RUN, COPY, ADD, WORKDIR) is looked
up in the cache first (cache.py); a miss runs it (run.py, copy.py) and records its layer.
Config steps only change the image config (steps.py).  The image is registered (and tagged)
only when every step succeeded: a failed build leaves the tags as they were.  A rebuild that
changes nothing gives the same image id (every timestamp comes from the cache).
"""

from __future__ import annotations

import contextvars
import copy as _copy
import functools
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pystack.runtime.build import cache as C
from pystack.runtime.build import cacheio
from pystack.runtime.build import copy as cp
from pystack.runtime.build import steps
from pystack.runtime.build.context import Tree, dockerignore_for
from pystack.runtime.build.dockerfile import Dockerfile, Instruction, Stage, parse
from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.request import BuildRequest, BuildResult, Event, Progress
from pystack.runtime.build.shell import expand_word
from pystack.runtime.build.stage import StageRunner
from pystack.runtime.errors import ImageError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.image.store import ImageStore

WORKERS = 2                     # stages built at once (each RUN is a container)
PLATFORM_ARGS = {"TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64",
                 "TARGETVARIANT": "", "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux",
                 "BUILDARCH": "amd64", "BUILDVARIANT": ""}


def load_dockerfile(req: BuildRequest) -> Dockerfile:
    if req.dockerfile_inline is not None:
        return parse(req.dockerfile_inline, req.dockerfile_name or "Dockerfile")
    path = req.dockerfile or req.context / "Dockerfile"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BuildError(f"failed to read the Dockerfile: {path}: no such file",
                         hint="give its path with -f, or add a Dockerfile to the context"
                         ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise BuildError(f"failed to read the Dockerfile {path}: {e}") from None
    return parse(text, req.dockerfile_name or path.name)


def meta_args(df: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """The global ARGs (before the first FROM) with their values, and the platform args."""
    out = dict(PLATFORM_ARGS)
    for ins in df.global_args:
        for a in ins.args:
            name, eq, default = a.partition("=")
            name = expand_word(name, out, df.escape)
            if name in build_args:
                out[name] = build_args[name]
            elif eq:
                out[name] = expand_word(default, out, df.escape)
    return out


def _find_stage(df: Dockerfile, ref: str, before: int) -> Stage | None:
    ref = ref.lower()
    for s in df.stages[:before]:
        if s.name == ref or (ref.isdigit() and int(ref) == s.index):
            return s
    return None


def needed_stages(df: Dockerfile, target: Stage,
                  meta: Mapping[str, str]) -> list[tuple[Stage, set[int]]]:
    """The stages `target` depends on, and itself, in build order, each with the indexes of
    the stages it needs."""
    order: list[tuple[Stage, set[int]]] = []
    seen: set[int] = set()

    def deps(s: Stage) -> list[Stage]:
        out: list[Stage] = []
        base = expand_word(s.base, meta, df.escape)
        b = _find_stage(df, base, s.index)
        if b is not None:
            out.append(b)
        for ins in s.instructions:
            refs = []
            if ins.cmd in ("COPY", "ADD") and ins.flag("from"):
                refs.append(ins.flag("from") or "")
            if ins.cmd == "RUN":
                for m in ins.flag_all("mount"):
                    for kv in m.split(","):
                        if kv.startswith("from="):
                            refs.append(kv[5:])
            for r in refs:
                d = _find_stage(df, r, s.index)
                if d is not None:
                    out.append(d)
                elif _find_stage(df, r, len(df.stages)) is not None:
                    raise BuildError(f"{ins.cmd}: stage {r!r} is defined after its use",
                                     where=df.where(ins.line))
        return out

    def visit(s: Stage) -> None:
        if s.index in seen:
            return
        seen.add(s.index)
        need = deps(s)
        for d in need:
            visit(d)
        order.append((s, {d.index for d in need}))
    visit(target)
    return order


def pick_target(df: Dockerfile, target: str | None) -> Stage:
    if not target:
        return df.stages[-1]
    for s in df.stages:
        if s.name == target.lower():
            return s
    names = ", ".join(s.name for s in df.stages if s.name) or "none"
    raise BuildError(f"target stage {target!r} could not be found",
                     hint=f"the stages named in the Dockerfile: {names}")


class Build:
    """One build: the parsed file, its context, the store, and the progress sink."""

    def __init__(self, req: BuildRequest, store: ImageStore, progress: Progress) -> None:
        self.req = req
        self.store = store
        self.content = store.content
        self.cache = C.Cache(store.content)
        self.progress = progress
        self.df = load_dockerfile(req)
        self.meta = meta_args(self.df, req.build_args)
        self.used: set[str] = {n for ins in self.df.global_args for a in ins.args
                               for n in [a.partition("=")[0]]} | set(PLATFORM_ARGS) | \
            set(C.PROXY_ARGS)
        dpath = req.dockerfile if req.dockerfile_inline is None else None
        self.context = Tree(req.context, dockerignore_for(req.context, dpath))
        self.states: dict[int, steps.StageState] = {}
        self.number = 0
        self.steps = 0
        self.cached = 0
        self.runtime: Any = None
        self.own_runtime = True
        self.may_run = False            # a needed stage has a RUN: prewarm() starts the runtime
        self.scratch_dir: Path | None = None
        self.lock = threading.RLock()
        from pystack.runtime.build.sshagent import Agents

        self.agents = Agents(req.ssh)
        self.step_keys: list[tuple[int, str]] = []      # (stage index, key) of every step

    def next_number(self) -> int:
        with self.lock:
            self.number += 1
            return self.number

    def count(self, cached: bool) -> None:
        with self.lock:
            self.steps += 1
            self.cached += cached

    def emit(self, kind: str, number: int, name: str, text: str = "",
             seconds: float = 0.0) -> None:
        self.progress(Event(kind, number, name, text, seconds))

    def get_runtime(self) -> Any:
        with self.lock:
            if self.runtime is None:
                from pystack.runtime.linux_runtime import LinuxRuntime

                self.runtime = LinuxRuntime()
            return self.runtime

    def prewarm(self) -> None:
        """Have the runtime's zygote start now, overlapping the build's own work, when a RUN
        may run (a RUN's start otherwise waits for its interpreter start-up and imports)."""
        with self.lock:
            if not self.may_run:
                return
            self.may_run = False
        self.get_runtime().prewarm()

    def empty_dir(self) -> Path:
        with self.lock:
            if self.scratch_dir is None:
                self.scratch_dir = self.content.new_tmp("-build-empty")
                self.scratch_dir.mkdir()
            return self.scratch_dir

    # -- FROM --------------------------------------------------------------------------------

    def base_state(self, stage: Stage) -> steps.StageState:
        df = self.df
        base = expand_word(stage.base, self.meta, df.escape)
        if not base:
            raise BuildError("FROM: base name should not be blank", where=df.where(stage.line))
        named = self.req.contexts.get(base)
        if named is not None:
            if not named.startswith("docker-image://"):
                raise BuildError(f"FROM {base}: the named context is a directory; FROM takes "
                                 "an image or a stage", where=df.where(stage.line))
            base = named.removeprefix("docker-image://")
        parent = _find_stage(df, base, stage.index) if named is None else None
        if parent is not None:
            st = _copy.deepcopy(self.states[parent.index])
            st.args = {}
            st.history = list(st.history)
            return st
        st = steps.StageState()
        if base == "scratch":
            st.doc = {"architecture": ic.PLATFORM_ARCH, "os": ic.PLATFORM_OS, "config": {}}
            st.fs_key = C.key_of("scratch")
            return st
        if stage.platform:
            plat = expand_word(stage.platform, self.meta, df.escape)
            if plat not in ("linux/amd64", "linux/x86_64", "amd64"):
                raise BuildError(f"FROM --platform={plat}: this host builds linux/amd64 only",
                                 where=df.where(stage.line))
        try:
            if self.req.pull or not self.store.exists(base):
                self.store.pull(base)
            image_id = self.store.resolve(base)
        except ImageError as e:
            raise BuildError(f"FROM {base}: {e.message}", hint=e.hint,
                             where=df.where(stage.line)) from None
        rec = self.content.read_record(image_id) or {}
        st.doc = ic.load_json(self.content.read_blob(image_id), "image config")
        st.doc.pop("container_config", None)
        st.history = list(st.doc.get("history") or [])
        for lay in rec.get("layers") or []:
            st.diff_ids.append(lay["diff_id"])
            st.blobs.append(lay["digest"])
            st.chains.append(lay["chain_id"])
        st.fs_key = C.key_of("image", image_id)
        st.created = str(st.doc.get("created") or "")
        return st

    # -- the build ---------------------------------------------------------------------------

    def run(self) -> BuildResult:
        target = pick_target(self.df, self.req.target)
        order = needed_stages(self.df, target, self.meta)
        self.may_run = any(i.cmd == "RUN" for s, _ in order for i in s.instructions)
        if self.req.no_cache:
            self.prewarm()                  # every step runs
        with self.content.adding():
            self.content.clean_tmp()
            try:
                for src in self.req.cache_from:
                    self._cache_io(f"importing cache manifest from local:{src}",
                                   functools.partial(cacheio.import_dir, self.content, src))
                self._stages(order)
                res = self._export(self.states[target.index])
                for dest, mode in self.req.cache_to:
                    keys = [k for i, k in self.step_keys if mode == "max" or i == target.index]
                    self._cache_io(f"exporting cache to local:{dest} (mode={mode})",
                                   functools.partial(cacheio.export, self.content, keys, dest))
                return res
            finally:
                self.agents.close()
                if self.runtime is not None and self.own_runtime:
                    self.runtime.close()
                if self.scratch_dir is not None:
                    shutil.rmtree(self.scratch_dir, ignore_errors=True)

    def _stages(self, order: list[tuple[Stage, set[int]]]) -> None:
        """Build the stages, each as soon as the ones it needs are built: independent stages
        run in parallel (at most WORKERS at once); the first error is raised once the running
        ones have ended, and no new stage starts after it."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        multi = len(self.df.stages) > 1
        todo = list(order)
        running: dict[Future[None], int] = {}
        error: BaseException | None = None

        def one(s: Stage) -> None:
            self.states[s.index] = StageRunner(self, s, multi).run(self.base_state(s))

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            while todo or running:
                ready = [(s, d) for s, d in todo if d <= set(self.states)] if error is None \
                    else []
                for item in ready:
                    todo.remove(item)
                    running[pool.submit(contextvars.copy_context().run, one, item[0])] = \
                        item[0].index
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for f in done:
                    running.pop(f)
                    if f.exception() is not None and error is None:
                        error = f.exception()
        if error is not None:
            raise error

    def _cache_io(self, name: str, work: Callable[[], int]) -> None:
        n = self.next_number()
        t0 = time.monotonic()
        self.emit("start", n, name)
        try:
            count = work()
        except BuildError as e:
            self.emit("error", n, name, e.message)
            raise
        self.emit("info", n, name, f"{count} cache records")
        self.emit("done", n, name, seconds=time.monotonic() - t0)

    def _export(self, st: steps.StageState) -> BuildResult:
        from pystack.runtime.image.reference import parse as parse_ref
        from pystack.runtime.image.sources import Fetched, LayerBlob

        n = self.next_number()
        t0 = time.monotonic()
        name = "exporting to image"
        self.emit("start", n, name)
        doc = _copy.deepcopy(st.doc)
        cfg = doc.setdefault("config", {})
        if self.req.labels:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **self.req.labels}
        for k in [k for k, v in cfg.items() if v is None]:
            del cfg[k]
        doc["rootfs"] = {"type": "layers", "diff_ids": list(st.diff_ids)}
        doc["history"] = st.history
        doc["created"] = st.created or "1970-01-01T00:00:00Z"
        doc.setdefault("architecture", ic.PLATFORM_ARCH)
        doc.setdefault("os", ic.PLATFORM_OS)
        import json

        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        try:
            names = tuple(parse_ref(t) for t in self.req.tags)
        except ImageError as e:
            raise BuildError(f"invalid tag: {e.message}") from None
        sizes = [self.content.blob_path(b).stat().st_size for b in st.blobs]
        layers = tuple(LayerBlob(b, ic.OCI_LAYER if self.content.compression(b) == "" else
                                 ic.LAYER_TYPE_BY_COMPRESSION[self.content.compression(b)], sz)
                       for b, sz in zip(st.blobs, sizes, strict=True))
        image_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        tags = self.content.read_tags()
        if not (self.content.read_record(image_id) and self.content.has_blob(image_id) and
                all(tags.get(str(r)) == image_id for r in names)):
            image_id = self.store.ingest(Fetched(raw, layers, names)).id
        # else: a no-op rebuild: the image and its tags are there already (no write, no fsync)
        self.emit("info", n, name, f"writing image {image_id}")
        for t in self.req.tags:
            self.emit("info", n, name, f"naming to {parse_ref(t)}")
        self.emit("done", n, name, seconds=time.monotonic() - t0)
        unused = sorted(set(self.req.build_args) - self.used)
        warnings = ((f"one or more build-args {unused} were not consumed",) if unused else ())
        return BuildResult(image_id, self.req.tags, self.steps, self.cached, warnings)

    @contextmanager
    def stage_tree(self, ref: str, ins: Instruction, stage_index: int) -> Iterator[Tree]:
        """The root filesystem of a stage (or a local image) as a Tree, mounted read-only."""
        named = self.req.contexts.get(ref)
        if named is not None and not named.startswith("docker-image://"):
            yield Tree(Path(named), None, what=f"context {ref!r}")   # a directory context
            return
        s = _find_stage(self.df, expand_word(ref, self.meta, self.df.escape), stage_index)
        if s is not None and named is None:
            st = self.states[s.index]
        else:
            st = self.base_state(Stage(-1, "", ref, None, ins.line, ()))
        from pystack.runtime import linux as L

        layers = [str(self.content.link_path(c)) for c in st.chains]
        mnt = self.content.new_tmp("-build-from")
        mnt.mkdir()
        mounted = False
        try:
            if layers:
                lowers = ":".join([*reversed(layers), str(self.empty_dir())])
                L.mount("overlay", str(mnt), "overlay", L.MS_RDONLY, f"lowerdir={lowers}")
                mounted = True
            yield Tree(mnt, None, what=f"stage {ref!r}")
        finally:
            if mounted:
                L.umount2(str(mnt), L.MNT_DETACH)
            os.rmdir(mnt)


def build(req: BuildRequest, store: ImageStore | None = None,
          progress: Progress | None = None, runtime: Any = None) -> BuildResult:
    """Build `req`; BuildError (or ImageError) on failure, the store's tags untouched.
    `runtime`: a LinuxRuntime to run RUN steps with (the caller's, maybe already warm; it is
    left open), else one of the build's own."""
    b = Build(req, store or ImageStore(), progress or (lambda e: None))
    if runtime is not None:
        from pystack.runtime.linux_runtime import LinuxRuntime

        if isinstance(runtime, LinuxRuntime):        # (a test's fake: the build's own)
            b.runtime, b.own_runtime = runtime, False
    return b.run()


__all__ = ["BuildRequest", "BuildResult", "Event", "build", "cp"]
