"""Image commands: `images`, `pull`, `push`, `rmi` and the `image` group (load, import,
inspect, prune, ls, rm, tag).

The top-level `images`, `pull` and `push` (in stack_images.py, re-exported here) take image
references, or act on the project's services like `docker compose images/pull/push`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pystack.orchestrator.cli.main import GlobalOptions, PystackCommand

if TYPE_CHECKING:
    from pystack.orchestrator.engine.backends import ImageStore
    from pystack.runtime.image.model import Image, ImageConfig
    from pystack.runtime.image.reference import Reference


def _store() -> ImageStore:
    from pystack.orchestrator.engine.backends import image_store

    return image_store()


def _opts() -> GlobalOptions:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(GlobalOptions) if ctx else None
    return obj or GlobalOptions()


T = TypeVar("T")


def in_use_checker() -> Callable[[str], bool] | None:
    """image id -> used by a container?  (None when no runtime is available here.)"""
    from pystack.orchestrator.engine.backends import linux_runtime

    runtime = linux_runtime()
    used: set[str] | None = None

    def check(image_id: str) -> bool:
        nonlocal used
        if used is None:
            used = {c.image_id for c in runtime.list_containers()}
        return image_id in used

    return check


# -- progress ---------------------------------------------------------------------------------

class _LayerProgress:
    """Store progress callbacks -> Compose's lines for the orchestrator.ui renderers: the
    image (`Image ref  Pulling` ... `Pulled`) with its layers under it (engine/events.py
    LayerFeed: `Downloading 1.5MB / 3MB`, `Pull complete`, `Already exists`)."""

    def __init__(self, mode: str, verb: str, ref: str) -> None:
        from pystack.orchestrator.engine.events import Emitter, LayerFeed
        from pystack.orchestrator.ui.progress import make_renderer

        self.renderer = make_renderer(mode, _opts().no_color, title=verb)
        self.emit = Emitter(self.renderer)
        self.verb, self.ref = verb, ref
        self.feed = LayerFeed(self.emit, ref)
        self.emit("image", ref, verb)

    def __call__(self, digest: str, status: str, done: int, total: int) -> None:
        self.feed(digest, status, done, total)

    def close(self, error: str | None = None) -> None:
        if error is None:
            self.emit("image", self.ref, {"Pulling": "Pulled", "Pushing": "Pushed"}[self.verb])
        else:
            self.emit("image", self.ref, "Error", error)
        self.renderer.close()


def pull_images(refs: Sequence[str], quiet: bool = False, insecure: bool = False,
                store: ImageStore | None = None) -> list[Image]:
    """Pull each reference (the seam for `pystack pull` of a project's services)."""
    st = store or _store()
    return _each_with_progress(refs, "Pulling", quiet,
                               lambda ref, p: st.pull(ref, progress=p, insecure=insecure))


def push_images(refs: Sequence[str], quiet: bool = False, insecure: bool = False,
                store: ImageStore | None = None) -> list[str]:
    """Push each reference; returns the manifest digests."""
    st = store or _store()
    return _each_with_progress(refs, "Pushing", quiet,
                               lambda ref, p: st.push(ref, progress=p, insecure=insecure))


def _each_with_progress(refs: Sequence[str], verb: str, quiet: bool,
                        op: Callable[[str, _LayerProgress | None], T]) -> list[T]:
    """Run `op` on each reference with its own layer-progress display (none when quiet)."""
    from pystack.orchestrator.errors import KNOWN

    mode = "quiet" if quiet else _opts().progress
    out: list[T] = []
    for ref in refs:
        progress = None if mode == "quiet" else _LayerProgress(mode, verb, ref)
        try:
            out.append(op(ref, progress))
        except KNOWN as e:
            if progress:
                progress.close(e.message)
                progress = None
            raise
        finally:
            if progress:
                progress.close()
    return out


# -- listing ----------------------------------------------------------------------------------

def _human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{n}B"
        n /= 1000  # type: ignore[assignment]
    return f"{n}B"


def _ago(created: str) -> str:
    from datetime import UTC, datetime

    try:
        t = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "N/A"
    secs = (datetime.now(UTC) - t).total_seconds()
    for limit, unit in ((60, "second"), (3600, "minute"), (86400, "hour"), (86400 * 30, "day"),
                        (86400 * 365, "month")):
        if secs < limit:
            div = {"second": 1, "minute": 60, "hour": 3600, "day": 86400,
                   "month": 86400 * 30}[unit]
            n = max(1, int(secs // div))
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    n = int(secs // (86400 * 365))
    return f"{n} year{'s' if n != 1 else ''} ago"


def image_rows(store: ImageStore, match: str | None = None) -> list[dict[str, Any]]:
    """One row per (image, tag) like `docker images`; dangling images as <none>:<none>."""
    from pystack.runtime.image.reference import parse

    want = parse(match) if match else None
    tag_given = bool(match) and ":" in (match or "").rsplit("/", 1)[-1]
    rows = []
    for img in store.list():
        refs: list[Reference | None] = [parse(n) for n in img.names]
        for r in refs or [None]:
            if want is not None and (r is None or r.name != want.name
                                     or (tag_given and r.tag != want.tag)):
                continue
            rows.append({"Repository": r.familiar_name if r else "<none>",
                         "Tag": (r.tag or "<none>") if r else "<none>",
                         "ID": img.id, "Created": img.created, "Size": img.size,
                         "Digest": img.digest or ""})
    return rows


def _print_rows(rows: list[dict[str, Any]], fmt: str, quiet: bool, no_trunc: bool) -> None:
    if quiet:
        seen: list[str] = []
        for r in rows:
            short = r["ID"] if no_trunc else r["ID"][7:19]
            if short not in seen:
                seen.append(short)
        for short in seen:
            click.echo(short)
        return
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
        return
    table = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for r in rows:
        table.append((r["Repository"], r["Tag"], r["ID"] if no_trunc else r["ID"][7:19],
                      _ago(r["Created"]), _human_size(r["Size"])))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# -- commands ---------------------------------------------------------------------------------

@click.command(cls=PystackCommand)
@click.argument("refs", nargs=-1, required=True, metavar="IMAGE...")
@click.option("-f", "--force", is_flag=True, help="Remove even if tagged several times or in "
                                                  "use (an image in use is only untagged).")
def rmi(refs: tuple[str, ...], force: bool) -> None:
    """Remove images."""
    store = _store()
    in_use = in_use_checker()
    for ref in refs:
        for line in store.remove(ref, force=force, in_use=in_use):
            click.echo(line)


@click.group(cls=click.Group)
def image() -> None:
    """Manage images."""


image.add_command(rmi, "rm")


@image.command("ls", cls=PystackCommand)
@click.argument("repository", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-q", "--quiet", is_flag=True, help="Only image IDs.")
@click.option("--no-trunc", is_flag=True, help="Full image IDs.")
def ls(repository: str | None, fmt: str, quiet: bool, no_trunc: bool) -> None:
    """List every image: REPOSITORY, TAG, IMAGE ID, CREATED, SIZE."""
    _print_rows(image_rows(_store(), repository), fmt, quiet, no_trunc)


@image.command("pull", cls=PystackCommand)
@click.argument("refs", nargs=-1, required=True, metavar="IMAGE...")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--insecure", is_flag=True, help="Plain HTTP to the registry.")
def image_pull(refs: tuple[str, ...], quiet: bool, insecure: bool) -> None:
    """Pull images from a registry (linux/amd64)."""
    from pystack.runtime.image.reference import parse

    for img, ref in zip(pull_images(refs, quiet, insecure), refs, strict=True):
        if not quiet:
            click.echo(f"Digest: {img.digest}")
            click.echo(f"Image ID: {img.id}")
        click.echo(str(parse(ref)))


@image.command("push", cls=PystackCommand)
@click.argument("refs", nargs=-1, required=True, metavar="IMAGE...")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--insecure", is_flag=True, help="Plain HTTP to the registry.")
def image_push(refs: tuple[str, ...], quiet: bool, insecure: bool) -> None:
    """Push images to their registry."""
    for digest, ref in zip(push_images(refs, quiet, insecure), refs, strict=True):
        click.echo(f"{ref}: digest: {digest}")


@image.command("load", cls=PystackCommand)
@click.option("-i", "--input", "path", type=click.Path(path_type=Path),
              help="A `docker save` tarball, an OCI archive or an OCI layout directory "
                   "(default: standard input).")
@click.option("-q", "--quiet", is_flag=True, help="Accepted (load prints no progress).")
def load(path: Path | None, quiet: bool) -> None:
    """Load images from a docker save tarball or an OCI layout/archive."""
    from pystack.runtime.image.reference import parse

    store = _store()
    if path is None:
        if sys.stdin.isatty():
            raise click.UsageError("give -i FILE, or pipe the tarball to standard input")
        tmp = store.content.new_tmp("-stdin.tar")
        try:
            with open(tmp, "wb") as out:
                while chunk := sys.stdin.buffer.read(1 << 20):
                    out.write(chunk)
            loaded = store.load(tmp)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        loaded = store.load(path)
    for img in loaded:
        for n in img.names:
            click.echo(f"Loaded image: {parse(n).familiar()}")
        if not img.names:
            click.echo(f"Loaded image ID: {img.id}")


@image.command("import", cls=PystackCommand)
@click.argument("tarball", type=click.Path(path_type=Path))
@click.argument("ref", required=False, metavar="[NAME[:TAG]]")
@click.option("-c", "--change", "changes", multiple=True,
              help='Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, '
                   'LABEL, STOPSIGNAL, VOLUME (repeatable).')
def import_(tarball: Path, ref: str | None, changes: tuple[str, ...]) -> None:
    """Create a one-layer image from a root filesystem tarball."""
    img = _store().import_rootfs(tarball, ref, apply_changes(changes))
    click.echo(img.id)


@image.command("inspect", cls=PystackCommand)
@click.argument("refs", nargs=-1, required=True, metavar="IMAGE...")
def inspect(refs: tuple[str, ...]) -> None:
    """Show image details as JSON."""
    store = _store()
    click.echo(json.dumps([store.inspect(r) for r in refs], indent=4))


@image.command("tag", cls=PystackCommand)
@click.argument("source")
@click.argument("target")
def tag(source: str, target: str) -> None:
    """Add the name TARGET to the image SOURCE."""
    _store().tag(source, target)


@image.command("prune", cls=PystackCommand)
@click.option("-a", "--all", "all_", is_flag=True, help="All images no container uses.")
@click.option("-f", "--force", is_flag=True, help="Do not ask (accepted; never asks).")
def prune(all_: bool, force: bool) -> None:
    """Remove dangling images and unreferenced layers."""
    report = _store().prune(all=all_, in_use=in_use_checker())
    if report.images:
        click.echo("Deleted Images:")
        for i in report.images:
            click.echo(f"deleted: {i}")
    click.echo(f"Total reclaimed space: {_human_size(report.reclaimed)}")


def apply_changes(changes: Sequence[str]) -> ImageConfig | None:
    """ImageConfig from `--change` Dockerfile instructions (None if there are none)."""
    from dataclasses import replace

    from pystack.runtime.errors import ImageError
    from pystack.runtime.image.model import ImageConfig

    if not changes:
        return None
    cfg = ImageConfig()
    for change in changes:
        word, _, arg = change.strip().partition(" ")
        word, arg = word.upper(), arg.strip()
        if word in ("CMD", "ENTRYPOINT"):
            argv: tuple[str, ...]
            try:
                parsed = json.loads(arg)
                ok = isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
            except ValueError:
                ok = False
            argv = tuple(parsed) if ok else ("/bin/sh", "-c", arg)
            cfg = replace(cfg, cmd=argv) if word == "CMD" else replace(cfg, entrypoint=argv)
        elif word == "ENV" and "=" in arg:
            cfg = replace(cfg, env=(*cfg.env, *arg.split()))
        elif word == "WORKDIR":
            cfg = replace(cfg, working_dir=arg)
        elif word == "USER":
            cfg = replace(cfg, user=arg)
        elif word == "EXPOSE":
            ports = tuple(p if "/" in p else f"{p}/tcp" for p in arg.split())
            cfg = replace(cfg, exposed_ports=(*cfg.exposed_ports, *ports))
        elif word == "VOLUME":
            cfg = replace(cfg, volumes=(*cfg.volumes, *arg.split()))
        elif word == "LABEL" and "=" in arg:
            k, _, v = arg.partition("=")
            cfg = replace(cfg, labels={**cfg.labels, k.strip(): v.strip().strip('"')})
        elif word == "STOPSIGNAL":
            cfg = replace(cfg, stop_signal=arg)
        else:
            raise ImageError(f"unsupported --change {change!r}",
                             hint="use CMD, ENTRYPOINT, ENV K=V, WORKDIR, USER, EXPOSE, "
                                  "LABEL K=V, STOPSIGNAL or VOLUME")
    return cfg


# The top-level commands that are also project commands (imported last: they use this module).
from pystack.orchestrator.cli.stack_images import images, pull, push  # noqa: E402, F401


def _register_build() -> None:
    from pystack.orchestrator.cli.build_cmd import image_build
    from pystack.orchestrator.cli.builder_cmd import history

    image.add_command(image_build, "build")
    image.add_command(history, "history")


_register_build()
