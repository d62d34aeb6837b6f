"""`pystack image build` (docker build habits) and `pystack build [SERVICE...]` (Compose), and
the BuildKit-style plain progress they print on stderr:

    #3 [app 2/4] COPY src/ /app/
    #3 CACHED
    #4 [app 3/4] RUN make
    #4 0.212 cc -o app main.c
    #4 DONE 0.4s

A failing RUN prints `#4 ERROR: ...` and the command exits non-zero with the Dockerfile line;
nothing is tagged.  `-q` prints only the image id (and, on failure, the step's last lines).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options

if TYPE_CHECKING:
    from pystack.runtime.build.request import Event


class PlainProgress:
    """Events -> BuildKit's plain progress lines (or JSON lines), on stderr."""

    def __init__(self, mode: str = "plain", out: Any = None) -> None:
        self.mode = mode
        self.out = out or sys.stderr
        self.lock = threading.Lock()
        self.last = 0
        from pystack.orchestrator.ui.buildjson import RawJson

        self.raw = RawJson()

    def __call__(self, e: Event) -> None:
        if self.mode == "quiet":
            return
        with self.lock:
            if self.mode == "json":         # BuildKit's rawjson (ui/buildjson.py)
                self.out.write(json.dumps(self.raw(e)) + "\n")
                self.out.flush()
                return
            n = f"#{e.number}"
            if e.kind == "start":
                if self.last:
                    self.out.write("\n")
                self.out.write(f"{n} {e.name}\n")
            elif e.kind == "cached":
                self.out.write(f"{n} CACHED\n")
            elif e.kind == "output":
                self.out.write(f"{n} {e.seconds:.3f} {e.text}\n")
            elif e.kind == "info":
                self.out.write(f"{n} {e.text} done\n")
            elif e.kind == "done":
                self.out.write(f"{n} DONE {e.seconds:.1f}s\n")
            elif e.kind == "error":
                self.out.write(f"{n} ERROR: {e.text}\n")
            self.last = e.number
            self.out.flush()


def parse_build_args(values: tuple[str, ...], environ: dict[str, str]) -> dict[str, str]:
    """--build-arg K=V; a bare K takes its value from the environment (or is skipped)."""
    out: dict[str, str] = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not k:
            raise click.BadParameter(f"{v!r}: expected KEY=VALUE", param_hint="--build-arg")
        if eq:
            out[k] = val
        elif k in environ:
            out[k] = environ[k]
    return out


def parse_secrets(values: tuple[str, ...], environ: dict[str, str]) -> dict[str, bytes]:
    """docker build's --secret id=ID[,src=FILE|,env=VAR] (src defaults to env ID)."""
    out: dict[str, bytes] = {}
    for v in values:
        opts = dict(kv.partition("=")[::2] for kv in v.split(","))
        sid = opts.get("id", "")
        if not sid:
            raise click.BadParameter(f"{v!r}: id= is required", param_hint="--secret")
        src = opts.get("src") or opts.get("source")
        if src:
            try:
                out[sid] = Path(src).read_bytes()
            except OSError as e:
                raise click.BadParameter(f"{src}: {e.strerror}", param_hint="--secret"
                                         ) from None
        elif (opts.get("env") or sid) in environ:
            out[sid] = environ[opts.get("env") or sid].encode()
        else:
            raise click.BadParameter(f"{v!r}: no src= file and no such environment variable",
                                     param_hint="--secret")
    return out


def parse_ssh(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """--ssh default|ID[=SOCKET|KEY[,KEY...]] (docker build's), paths from the cwd."""
    if not values:
        return {}                       # no engine/config imports for a build without --ssh
    import os

    from pystack.orchestrator.engine.build import ssh_sources
    from pystack.orchestrator.errors import OrchestratorError

    try:
        return ssh_sources(list(values), dict(os.environ), Path.cwd(), "--ssh")
    except OrchestratorError as e:
        raise click.BadParameter(f"{e.message}" + (f" ({e.hint})" if e.hint else ""),
                                 param_hint="--ssh") from None


def cache_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--cache-to", "cache_to", multiple=True,
                     metavar="type=local,dest=DIR[,mode=min|max]",
                     help="Export the build cache to a directory (repeatable).")(f)
    return click.option("--cache-from", "cache_from", multiple=True,
                        metavar="type=local,src=DIR",
                        help="Import a build cache from a directory (repeatable).")(f)


def parse_cache(froms: tuple[str, ...], tos: tuple[str, ...]) -> dict[str, Any]:
    """--cache-from/--cache-to -> the BuildRequest's cache_from/cache_to (paths from the cwd)."""
    from pystack.orchestrator.engine.build import cache_specs
    from pystack.orchestrator.errors import OrchestratorError

    try:
        return {"cache_from": tuple(p for p, _ in cache_specs(froms, Path.cwd(),
                                                               "--cache-from", "src")),
                "cache_to": cache_specs(tos, Path.cwd(), "--cache-to", "dest")}
    except OrchestratorError as e:
        raise click.BadParameter(f"{e.message}" + (f" ({e.hint})" if e.hint else "")
                                 ) from None


def run_build(build: Callable[[], Any], quiet: bool) -> Any:
    """Run a build; on a failed step in quiet mode show its last output lines first."""
    from pystack.runtime.build.errors import StepFailedError

    try:
        return build()
    except StepFailedError as e:
        if quiet and e.tail:
            for line in e.tail[-10:]:
                click.echo(f"  {line}", err=True)
        raise


def progress_mode(quiet: bool) -> str:
    from pystack.orchestrator.cli.image_cmd import _opts

    if quiet:
        return "quiet"
    mode = _opts().progress
    return mode if mode in ("json", "quiet") else "plain"


@click.command("build", cls=PystackCommand)
@click.argument("context", type=click.Path(path_type=Path, file_okay=False))
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME[:TAG]",
              help="Name the image (repeatable).")
@click.option("-f", "--file", "file", default=None, metavar="FILE",
              help="The Dockerfile (default: CONTEXT/Dockerfile; '-' reads standard input).")
@click.option("--target", default=None, help="Build this stage (default: the last).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
              help="A build argument (repeatable).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="A label on the image (repeatable).")
@click.option("--no-cache", is_flag=True, help="Run every step again.")
@click.option("--pull", is_flag=True, help="Pull the FROM images even when present.")
@click.option("--network", default="default", type=click.Choice(["default", "none", "host"]),
              help="The network of RUN steps.")
@click.option("--secret", "secrets", multiple=True, metavar="id=ID,src=FILE|env=VAR",
              help="A build secret for RUN --mount=type=secret (repeatable).")
@click.option("--ssh", "ssh", multiple=True, metavar="default|ID[=SOCKET|KEY[,KEY]]",
              help="An SSH agent for RUN --mount=type=ssh (repeatable).")
@cache_options
@click.option("-q", "--quiet", is_flag=True, help="Print only the image id.")
def image_build(context: Path, tags: tuple[str, ...], file: str | None, target: str | None,
                build_args: tuple[str, ...], labels: tuple[str, ...], no_cache: bool,
                pull: bool, network: str, secrets: tuple[str, ...], ssh: tuple[str, ...],
                cache_from: tuple[str, ...], cache_to: tuple[str, ...], quiet: bool) -> None:
    """Build an image from a Dockerfile and a context directory."""
    import os

    from pystack.runtime.build.builder import build
    from pystack.runtime.build.request import BuildRequest

    if not context.is_dir():
        raise click.BadParameter(f"{context}: not a directory", param_hint="CONTEXT")
    inline = None
    dockerfile = None
    name = "Dockerfile"
    if file == "-":
        inline = sys.stdin.read()
    elif file is not None:
        dockerfile = Path(file)
        name = file
    req = BuildRequest(
        context=context.resolve(), dockerfile=dockerfile, dockerfile_inline=inline,
        dockerfile_name=name, target=target,
        build_args=parse_build_args(build_args, dict(os.environ)),
        tags=tags, labels=dict(lb.partition("=")[::2] for lb in labels), no_cache=no_cache,
        pull=pull, network=network, secrets=parse_secrets(secrets, dict(os.environ)),
        ssh=parse_ssh(ssh), **parse_cache(cache_from, cache_to))
    from pystack.orchestrator.engine.buildnet import build_network

    with build_network() as net:
        res = run_build(lambda: build(replace(req, net=net),
                                      progress=PlainProgress(progress_mode(quiet))), quiet)
    for w in res.warnings:
        click.echo(f"WARNING: {w}", err=True)
    click.echo(res.image_id)


def prebuild(ctx: click.Context, stack: Any, opts: Any, build: bool, no_build: bool,
             **kw: Any) -> list[str]:
    """`up/create --build`: build the selected services' images first, with BuildKit-style
    progress (before the container progress starts); without --build, the missing ones."""
    if build and no_build:
        raise click.UsageError("--build and --no-build are incompatible")
    if no_build or stack.project is None:
        return []
    from pystack.orchestrator.engine.build import build_services
    from pystack.orchestrator.engine.up import selected_services

    names = selected_services(stack, opts)
    mode = "always" if build else "auto"
    return build_services(stack, names, mode, PlainProgress(progress_mode(False)), **kw)


@click.command("build", cls=PystackCommand)
@project_options
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option("--pull", is_flag=True, help="Pull the FROM images even when present.")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
              help="A build argument (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No build output.")
@click.option("--with-dependencies", is_flag=True, help="Also build the dependencies.")
@click.option("--push", is_flag=True, help="Push the built images (services with image:).")
@click.option("--ssh", "ssh", multiple=True, metavar="default|ID[=SOCKET|KEY[,KEY]]",
              help="An SSH agent for the builds (use 'default' for $SSH_AUTH_SOCK).")
@cache_options
@click.argument("services", nargs=-1)
@click.pass_context
def compose_build(ctx: click.Context, no_cache: bool, pull: bool, build_args: tuple[str, ...],
                  quiet: bool, with_dependencies: bool, push: bool, ssh: tuple[str, ...],
                  cache_from: tuple[str, ...], cache_to: tuple[str, ...],
                  services: tuple[str, ...]) -> None:
    """Build the images of services with `build:`."""
    import os

    from pystack.orchestrator.cli.stack_cmd import load_stack
    from pystack.orchestrator.engine.build import build_services, build_warnings

    stack = load_stack(ctx)          # all services: a service: context may be any of them
    proj = stack.need_project()
    for s in services:
        proj.service(s)
    names = list(services) or sorted(proj.services)
    if with_dependencies:
        names = stack.with_dependencies(names)
    for n in names:                  # (up --build shows them in its progress instead)
        for why in build_warnings(proj.services[n]):
            click.echo(f"WARN[0000] {why}", err=True)
    args = parse_build_args(build_args, {**dict(os.environ), **proj.environment})
    built = run_build(lambda: build_services(stack, names, "always",
                                             PlainProgress(progress_mode(quiet)),
                                             no_cache=no_cache, pull=pull, build_args=args,
                                             ssh=parse_ssh(ssh),
                                             **parse_cache(cache_from, cache_to)),
                      quiet)
    if push:
        from pystack.orchestrator.cli.image_cmd import push_images

        refs = [proj.services[n].image for n in built if proj.services[n].image]
        for digest, ref in zip(push_images([str(r) for r in refs], quiet), refs, strict=True):
            click.echo(f"{ref}: digest: {digest}")
