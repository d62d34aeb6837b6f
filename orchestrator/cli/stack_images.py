"""The top-level `images`, `pull` and `push`: images by reference (like docker), or the
project's services' (like `docker compose images/pull/push`).

`pystack pull` with no argument, or with service names of the stack file, or with -f/-p,
acts on the project's services; `pystack pull IMAGE...` (a reference: anything that is not a
service of a stack file found here) acts on images, like `docker pull`.  `images` without an
argument lists the project's containers' images when a stack file is found, every image
otherwise (`pystack image ls` always lists every image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pystack.orchestrator.cli.main import GlobalOptions, PystackCommand, project_options

if TYPE_CHECKING:
    from pystack.orchestrator.engine.stack import Stack


def project_for(ctx: click.Context, names: tuple[str, ...], need: str = "") -> Stack | None:
    """The stack when `names` mean services of the project (or nothing was named and a stack
    file is here); None when they are image references.  `need` (a command name): with no
    name and no stack file, a usage error instead of None."""
    from pystack.orchestrator.cli.stack_cmd import load_stack
    from pystack.orchestrator.errors import ConfigError, NoConfigFileError

    opts = ctx.find_object(GlobalOptions) or GlobalOptions()
    explicit = bool(opts.files or opts.project_name)
    if names and not explicit and any(c in n for n in names for c in "/:@"):
        return None                     # a service name has none of these
    try:
        stack = load_stack(ctx, (), need_file=not opts.project_name)
    except ConfigError as e:
        if explicit or not isinstance(e, NoConfigFileError):
            raise
        if need and not names:
            raise click.UsageError(
                f"no image given, and no stack file here: `pystack {need} IMAGE...`, or "
                f"`pystack -f FILE {need}` for the images of its services") from None
        return None
    if stack.project is not None:
        if names and not explicit and not all(n in stack.project.services for n in names):
            return None
        for n in names:
            stack.project.service(n)    # -f/-p given: an unknown name is an unknown service
    return stack


def service_refs(stack: Stack, services: tuple[str, ...],
                 skip_policies: tuple[str, ...] = ()) -> list[str]:
    """The image references of the services (file order, deduplicated)."""
    proj = stack.need_project()
    out: list[str] = []
    for name in services or tuple(proj.services):
        svc = proj.services[name]
        policy = str(getattr(svc, "pull_policy", "") or "")
        if svc.image and policy not in skip_policies and str(svc.image) not in out:
            out.append(str(svc.image))
    return out


def container_image_rows(stack: Stack, services: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per container of the project: its name and its image (what it runs)."""
    from pystack.orchestrator.cli import image_cmd as I
    from pystack.orchestrator.engine.plan import LABEL_IMAGE, LABEL_PROJECT, LABEL_SERVICE
    from pystack.runtime.image.reference import parse

    by_id = {img.id: img for img in I._store().list()}
    rows = []
    states = [s for s in stack.b.runtime.list_containers()
              if s.labels.get(LABEL_PROJECT) == stack.name
              and (not services or s.labels.get(LABEL_SERVICE) in services)]
    for s in sorted(states, key=lambda s: s.name):
        img = by_id.get(s.image_id)
        ref = s.labels.get(LABEL_IMAGE) or (img.names[0] if img and img.names else "")
        r = parse(ref) if ref else None
        rows.append({"Container": s.name, "Repository": r.familiar_name if r else "<none>",
                     "Tag": (r.tag or "latest") if r else "<none>", "ID": s.image_id,
                     "Size": img.size if img else 0})
    return rows


def print_container_rows(rows: list[dict[str, Any]], fmt: str, quiet: bool,
                         no_trunc: bool) -> None:
    import json

    from pystack.orchestrator.cli.image_cmd import _human_size

    if quiet:
        for short in dict.fromkeys(r["ID"] if no_trunc else r["ID"][7:19] for r in rows):
            click.echo(short)
        return
    if fmt == "json":
        click.echo(json.dumps(rows))
        return
    table = [("CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE")]
    for r in rows:
        table.append((r["Container"], r["Repository"], r["Tag"],
                      r["ID"] if no_trunc else r["ID"][7:19], _human_size(r["Size"])))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def transfer(refs: list[str], verb: str, fn: Any, ignore_failures: bool) -> list[str]:
    """Pull or push each reference; with `ignore_failures` a failed one is reported and
    skipped, otherwise the first failure stops (the refs done stay done)."""
    from pystack.orchestrator.errors import OrchestratorError
    from pystack.runtime.errors import ContainerRuntimeError

    done = []
    for ref in refs:
        try:
            fn(ref)
            done.append(ref)
        except (OrchestratorError, ContainerRuntimeError) as e:
            if not ignore_failures:
                raise
            click.echo(f"WARN[0000] {verb} {ref} failed: {e.message}", err=True)
    return done


@click.command("images", cls=PystackCommand)
@project_options
@click.argument("names", nargs=-1, metavar="[REPOSITORY | SERVICE...]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-q", "--quiet", is_flag=True, help="Only image IDs.")
@click.option("--no-trunc", is_flag=True, help="Full image IDs.")
@click.pass_context
def images(ctx: click.Context, names: tuple[str, ...], fmt: str, quiet: bool,
           no_trunc: bool) -> None:
    """List images: the project's containers' (with a stack file, or services named), or
    every image (REPOSITORY, TAG, IMAGE ID, CREATED, SIZE; `image ls` always does this)."""
    from pystack.orchestrator.cli import image_cmd as I

    stack = project_for(ctx, names)
    if stack is not None:
        print_container_rows(container_image_rows(stack, names), fmt, quiet, no_trunc)
        return
    if len(names) > 1:
        raise click.UsageError("give one REPOSITORY (or service names of the stack file)")
    I._print_rows(I.image_rows(I._store(), names[0] if names else None), fmt, quiet, no_trunc)


@click.command(cls=PystackCommand)
@project_options
@click.argument("names", nargs=-1, metavar="[IMAGE... | SERVICE...]")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--insecure", is_flag=True, help="Plain HTTP to the registry.")
@click.option("--ignore-pull-failures", is_flag=True, help="Go on when an image fails.")
@click.pass_context
def pull(ctx: click.Context, names: tuple[str, ...], quiet: bool, insecure: bool,
         ignore_pull_failures: bool) -> None:
    """Pull images from a registry (linux/amd64): the references given, or the images of
    the project's services (all, or those named); `pull_policy: never|build` are skipped."""
    from pystack.orchestrator.cli import image_cmd as I

    stack = project_for(ctx, names, need="pull")
    if stack is not None:
        refs = service_refs(stack, names, skip_policies=("never", "build"))
        transfer(refs, "pull", lambda r: I.pull_images([r], quiet, insecure),
                   ignore_pull_failures)
        return
    ctx.invoke(I.image_pull, refs=names, quiet=quiet, insecure=insecure)


@click.command(cls=PystackCommand)
@project_options
@click.argument("names", nargs=-1, metavar="[IMAGE... | SERVICE...]")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--insecure", is_flag=True, help="Plain HTTP to the registry.")
@click.option("--ignore-push-failures", is_flag=True, help="Go on when an image fails.")
@click.pass_context
def push(ctx: click.Context, names: tuple[str, ...], quiet: bool, insecure: bool,
         ignore_push_failures: bool) -> None:
    """Push images to their registry: the references given, or the images of the
    project's services (all, or those named)."""
    from pystack.orchestrator.cli import image_cmd as I

    stack = project_for(ctx, names, need="push")
    refs = list(names) if stack is None else service_refs(stack, names)

    def one(ref: str) -> None:
        click.echo(f"{ref}: digest: {I.push_images([ref], quiet, insecure)[0]}")

    transfer(refs, "push", one, ignore_push_failures or False)
