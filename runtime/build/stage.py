"""One stage: its instructions dispatched in order on a StageState.

Filesystem steps (RUN, COPY, ADD, WORKDIR) are numbered like BuildKit's (`[app 2/5] RUN ...`),
keyed (cache.py), taken from the cache or run, and each adds at most one layer.  Base-image
ONBUILD triggers run first, as BuildKit does.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pystack.runtime.build import cache as C
from pystack.runtime.build import copy as cp
from pystack.runtime.build import steps
from pystack.runtime.build.context import Tree
from pystack.runtime.build.dockerfile import Instruction, Stage, parse
from pystack.runtime.build.errors import BuildError, StepFailedError
from pystack.runtime.build.layers import LayerRef, publish
from pystack.runtime.build.shell import expand_word
from pystack.runtime.errors import ImageError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.spec import Mount

if TYPE_CHECKING:
    from pystack.runtime.build.builder import Build

FS_STEPS = ("RUN", "COPY", "ADD", "WORKDIR")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SIMPLE_HEREDOC = re.compile(r"^<<-?(['\"]?)([A-Za-z0-9_.\-]+)\1$")


def _owner(layers_top: list[Path], spec: str, where: str) -> tuple[int, int]:
    from pystack.runtime import layerview

    user, _, group = spec.partition(":")

    def lookup(name: str, file: str, field: int) -> int:
        if name.isdigit():
            return int(name)
        for line in layerview.read_text(layers_top, file).splitlines():
            parts = line.split(":")
            if len(parts) > field and parts[0] == name and parts[field].isdigit():
                return int(parts[field])
        raise BuildError(f"--chown: unable to find {'user' if field == 2 else 'group'} "
                         f"{name!r} in the image's /{file}", where=where)
    uid = lookup(user, "etc/passwd", 2)
    gid = lookup(group, "etc/group", 2) if group else uid
    return uid, gid


class StageRunner:
    def __init__(self, b: Build, stage: Stage, multi: bool) -> None:
        self.b = b
        self.stage = stage
        self.df = b.df
        fs = sum(1 for i in stage.instructions if i.cmd in FS_STEPS)
        self.total = fs + 1
        self.pos = 0
        prefix = [p for p in (b.req.label, stage.label if multi else "") if p]
        self.prefix = " ".join(prefix)

    def step_name(self, text: str) -> str:
        self.pos += 1
        head = f"{self.prefix} {self.pos}/{self.total}" if self.prefix else \
            f"{self.pos}/{self.total}"
        return f"[{head}] {text}"

    def run(self, st: steps.StageState) -> steps.StageState:
        b = self.b
        n = b.next_number()
        name = self.step_name(f"FROM {expand_word(self.stage.base, b.meta, self.df.escape)}")
        b.emit("start", n, name)
        b.emit("done", n, name)
        if "PATH" not in st.env():
            st.set_env("PATH", DEFAULT_PATH)         # as BuildKit, for an image without one
        triggers = list(st.config.pop("OnBuild", None) or [])
        for trig in triggers:
            sub = parse(f"FROM scratch\n{trig}\n", self.df.name).stages[0].instructions
            for ins in sub:
                self.total += ins.cmd in FS_STEPS
                self.dispatch(st, ins)
        for ins in self.stage.instructions:
            self.dispatch(st, ins)
        return st

    def dispatch(self, st: steps.StageState, ins: Instruction) -> None:
        if ins.cmd not in FS_STEPS:
            text = steps.apply(st, ins, self.df, self.b.req.build_args, self.b.meta, self.b.used)
            st.history.append({"created": st.created, "created_by": f"{text} # buildkit",
                               "empty_layer": True, "comment": "buildkit.dockerfile.v0"})
            return
        getattr(self, f"_{ins.cmd.lower()}")(st, ins)

    # -- helpers -----------------------------------------------------------------------------

    def layers(self, st: steps.StageState) -> list[Path]:
        """The stage's layer dirs, bottom first (real dirs: layerview opens them with
        O_NOFOLLOW)."""
        return [self.b.content.layer_dir(c) / "diff" for c in st.chains]

    def mount_layers(self, st: steps.StageState) -> list[Path]:
        """The same as the store's short links (they keep overlay's mount options short)."""
        return [self.b.content.link_path(c) for c in st.chains]

    def _fs_step(self, st: steps.StageState, ins: Instruction, text: str, key_parts: list[Any],
                 make: Any) -> None:
        """Look `key` up in the cache or call make() -> LayerRef | None; record the layer."""
        b = self.b
        n = b.next_number()
        name = self.step_name(text)
        key = C.key_of(st.fs_key, *key_parts)
        b.step_keys.append((self.stage.index, key))          # for cache_to (cacheio.py)
        b.emit("start", n, name)
        t0 = time.monotonic()
        hit = None if b.req.no_cache else b.cache.get(key, st.diff_ids)
        b.count(cached=hit is not None)
        if hit is not None:
            layer, created = hit.layer, hit.created
            b.emit("cached", n, name)
        else:
            b.prewarm()                     # the first miss: RUN steps may follow
            layer = make(n, name)
            created = ic.now_rfc3339()
            b.cache.put(key, layer, st.diff_ids, st.blobs, created)
            b.emit("done", n, name, seconds=time.monotonic() - t0)
        st.fs_key = key
        st.created = created
        entry: dict[str, Any] = {"created": created, "created_by": f"{text} # buildkit",
                                 "comment": "buildkit.dockerfile.v0"}
        if layer is None:
            entry["empty_layer"] = True
        else:
            from pystack.runtime.image.fsutil import chain_ids

            st.chains.append(chain_ids([*st.diff_ids, layer.diff_id])[-1])
            st.diff_ids.append(layer.diff_id)
            st.blobs.append(layer.digest)
        st.history.append(entry)

    def _staged(self, st: steps.StageState, fill: Any) -> LayerRef | None:
        staging = self.b.content.new_tmp("-build-stage")
        staging.mkdir(mode=0o700)
        try:
            fill(staging)
            staging.chmod(0o755)
            return publish(self.b.content, staging, st.diff_ids)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def x(self, st: steps.StageState, word: str, ins: Instruction) -> str:
        try:
            return expand_word(word, st.lookup(), self.df.escape)
        except BuildError as e:
            raise BuildError(f"{ins.cmd}: {e.message}", where=self.df.where(ins.line)) from None

    # -- WORKDIR -----------------------------------------------------------------------------

    def _workdir(self, st: steps.StageState, ins: Instruction) -> None:
        if len(ins.args) != 1:
            raise BuildError("WORKDIR requires exactly one argument",
                             where=self.df.where(ins.line))
        path = posixpath.normpath(posixpath.join(st.workdir, self.x(st, ins.args[0], ins)))
        path = "/" + path.lstrip("/")
        st.config["WorkingDir"] = path
        top = list(reversed(self.layers(st)))

        def make(_n: int, _name: str) -> LayerRef | None:
            parts, found = cp.image_path(top, path)
            if found is not None or not parts:
                return None
            item = cp.Item(parts, "dir", mode=0o755, mtime=time.time())
            return self._staged(st, lambda d: cp.write([item], d, top))
        self._fs_step(st, ins, f"WORKDIR {path}", ["WORKDIR", path], make)

    # -- COPY / ADD --------------------------------------------------------------------------

    def _copy(self, st: steps.StageState, ins: Instruction) -> None:
        self._copy_add(st, ins, add=False)

    def _add(self, st: steps.StageState, ins: Instruction) -> None:
        self._copy_add(st, ins, add=True)

    def _copy_add(self, st: steps.StageState, ins: Instruction, add: bool) -> None:
        where = self.df.where(ins.line)
        cmd = ins.cmd
        if len(ins.args) < 2:
            raise BuildError(f"{cmd} requires at least two arguments, but only "
                             f"{len(ins.args)} provided", where=where,
                             hint=f"{cmd} SOURCE... DEST")
        from pystack.runtime.build import remote as R

        checksum = ins.flag("checksum")
        keep_git = ins.flag("keep-git-dir") not in (None, "false")
        try:
            want = R.parse_checksum(self.x(st, checksum, ins)) if checksum else None
        except BuildError as e:
            raise BuildError(f"{cmd}: {e.message}", e.hint, where) from None
        remotes = R.Remotes(self.b.content.new_tmp("-add-remote"), want, keep_git)
        words = [self.x(st, a, ins) if not a.startswith("<<") else a for a in ins.args]
        dest = words[-1]
        docs = {h.name: h for h in ins.heredocs}
        inline: list[cp.Inline] = []
        sources: list[str] = []
        for w in words[:-1]:
            m = _SIMPLE_HEREDOC.match(w)
            if m and m.group(2) in docs:
                h = docs[m.group(2)]
                data = expand_word(h.content, st.lookup(), self.df.escape, raw=True) \
                    if h.expand else h.content
                inline.append(cp.Inline(h.name, data.encode()))
            elif R.is_git(w) or R.is_http(w):
                if not add:
                    what = "git ref" if R.is_git(w) else "URL"
                    raise BuildError(f"COPY: source can't be a {what} ({w})", where=where,
                                     hint="use ADD")
                remotes.sources.append(w)
            elif "://" in w:
                raise BuildError(f"{cmd}: remote source {w!r}: only http(s) URLs and git "
                                 "repositories can be added", where=where)
            else:
                sources.append(w)
        if checksum and (len(words) != 2 or not remotes):
            raise BuildError("ADD --checksum requires one HTTP(S) or git source", where=where)
        if checksum and not remotes.lazy():
            raise BuildError("ADD --checksum of a git source (a commit) is not supported yet",
                             where=where, hint="pin the commit in the URL: REPO.git#<sha>")
        chown = ins.flag("chown")
        chmod = ins.flag("chmod")
        mode = None
        if chmod is not None:
            from pystack.runtime.build.chmod import parse as parse_mode

            try:
                mode = parse_mode(self.x(st, chmod, ins))
            except BuildError as e:
                raise BuildError(f"{cmd}: {e.message}", e.hint, where) from None
        parents = ins.flag("parents") is not None and ins.flag("parents") != "false"
        top = list(reversed(self.layers(st)))
        owner = _owner(top, self.x(st, chown, ins), where) if chown else None
        src_from = ins.flag("from")
        text = " ".join([cmd, *(f"--{k}={v}" if v is not None else f"--{k}"
                                for k, v in ins.flags), *ins.args])
        excludes = [self.x(st, e, ins) for e in ins.flag_all("exclude")]

        exclude = None
        if excludes:
            from pystack.runtime.build.patterns import IgnoreMatcher

            exclude = IgnoreMatcher(excludes)

        def planned(tree: Tree, fetch: bool) -> list[cp.Item]:
            try:
                fetched = [(Tree(root, None, f"the remote source {s}"), sub)
                           for (root, sub), s in zip(remotes.fetch(), remotes.sources,
                                                     strict=True)] if fetch else []
                trees = []
                for rt, sub in fetched:
                    parts = rt.resolve(sub) if sub else ()
                    if parts is None:
                        raise BuildError(f"ADD: no {sub!r} in {rt.what}")
                    trees.append((rt, parts))
                return cp.plan(sources, inline, tree, dest, st.workdir, top, owner, mode,
                               add, cmd, parents, exclude, trees, len(remotes))
            except BuildError as e:
                raise BuildError(e.message, e.hint, where) from None

        def with_tree(tree: Tree) -> None:
            items = planned(tree, bool(remotes) and not remotes.lazy())
            digest = cp.digest(items)

            def make(_n: int, _name: str) -> LayerRef | None:
                todo = planned(tree, True) if remotes.lazy() else items
                try:
                    return self._staged(st, lambda d: cp.write(todo, d, top))
                except ImageError as e:         # the unpacker refused an ADDed archive
                    raise BuildError(f"{cmd}: {e.message}", e.hint, where) from None
                except OSError as e:
                    raise BuildError(f"{cmd}: {e}", None, where) from None
            self._fs_step(st, ins, text, [cmd, dest, st.workdir, owner,
                                          mode.text if mode else None, digest, src_from or "",
                                          *remotes.key()], make)

        if remotes:
            with contextlib.closing(remotes):
                with_tree(self.b.context)
        elif src_from:
            with self.b.stage_tree(self.x(st, src_from, ins), ins, self.stage.index) as tree:
                with_tree(tree)
        else:
            with_tree(self.b.context)

    # -- RUN ---------------------------------------------------------------------------------

    def _run(self, st: steps.StageState, ins: Instruction) -> None:
        from pystack.runtime.build.mounts import mount

        where = self.df.where(ins.line)
        argv = self._argv(st, ins, where)
        network = ins.flag("network") or "default"
        if network not in ("default", "none", "host"):
            raise BuildError(f"RUN --network={network}: use default, none or host",
                             where=where)
        if ins.flag("security") not in (None, "sandbox"):
            raise BuildError("RUN --security=insecure is not allowed", where=where)
        with contextlib.ExitStack() as held:        # stage trees mounted, cache locks held
            pairs: list[tuple[Mount | None, str]] = []
            for m in ins.flag_all("mount"):
                pairs.append(mount(self, st, m, ins, held,
                                   sum(k.startswith("ssh:") for _, k in pairs)))
            self._run_step(st, ins, argv, network, pairs, where)

    def _run_step(self, st: steps.StageState, ins: Instruction, argv: list[str], network: str,
                  pairs: list[tuple[Mount | None, str]], where: str) -> None:
        mounts = tuple(m for m, _ in pairs if m is not None)
        env = {**{k: v for k, v in st.args.items()}, **st.env()}
        for k in C.PROXY_ARGS & set(self.b.req.build_args):
            env.setdefault(k, self.b.req.build_args[k])
        ssh = [k.split(":", 2)[2] for _, k in pairs if k.startswith("ssh:")]
        if ssh and "SSH_AUTH_SOCK" not in env:
            env["SSH_AUTH_SOCK"] = ssh[0]           # the first ssh mount's, as BuildKit
        keyed_env = {k: v for k, v in env.items() if k not in C.PROXY_ARGS}
        user = str(st.config.get("User") or "")
        shown = ins.original.split("\n", 1)[0].split(None, 1)
        text = "RUN " + (shown[1] if len(shown) > 1 else "")
        b = self.b

        def make(n: int, name: str) -> LayerRef | None:
            from pystack.runtime.build.run import RunSpec, run

            t0 = time.monotonic()

            def out(line: str) -> None:
                b.emit("output", n, name, line, time.monotonic() - t0)
            rs = RunSpec(tuple(argv), env, user, st.workdir, network, mounts)
            res = run(b.get_runtime(), b.content, self.mount_layers(st), st.diff_ids, rs, out,
                      b.empty_dir(), b.req.net)
            if res.exit_code != 0:
                msg = (f'process "{" ".join(argv)}" did not complete successfully: '
                       f"exit code: {res.exit_code}")
                b.emit("error", n, name, msg)
                raise StepFailedError(msg, res.exit_code, res.tail, where)
            return res.layer
        self._fs_step(st, ins, text.rstrip(), ["RUN", argv, keyed_env, user, st.workdir,
                                               network, [k for _, k in pairs]], make)

    def _argv(self, st: steps.StageState, ins: Instruction, where: str) -> list[str]:
        if not ins.args:
            raise BuildError("RUN requires at least one argument", where=where)
        if ins.json:
            return list(ins.args)
        line = " ".join(ins.args)
        if ins.heredocs:
            m = _SIMPLE_HEREDOC.match(line.strip())
            if m and len(ins.heredocs) == 1:
                return [*st.shell, ins.heredocs[0].content]
            body = "".join(f"{h.content}{h.name}\n" for h in ins.heredocs)
            return [*st.shell, f"{line}\n{body}"]
        return [*st.shell, line]
