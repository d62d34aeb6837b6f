"""`pystack config` (the validated, canonical stack file, or listings of its parts) and
`pystack graph` (the service dependency graph as DOT or Mermaid).

Imported only when one of these commands runs; the pipeline itself is imported inside the
command bodies so that even `pystack config --help` stays light.
"""

from __future__ import annotations

import click

from pystack.orchestrator.cli.main import GlobalOptions, PystackCommand, project_options


def _options(ctx: click.Context) -> GlobalOptions:
    obj = ctx.find_object(GlobalOptions)
    return obj if obj is not None else GlobalOptions()


def _warn(warnings: tuple[str, ...]) -> None:
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


@click.command("config", cls=PystackCommand)
@project_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="Output format.")
@click.option("-q", "--quiet", is_flag=True, help="Only validate; print nothing.")
@click.option("--services", "list_services", is_flag=True, help="Print the service names.")
@click.option("--volumes", "list_volumes", is_flag=True, help="Print the volume names.")
@click.option("--networks", "list_networks", is_flag=True, help="Print the network names.")
@click.option("--profiles", "list_profiles", is_flag=True, help="Print the profile names.")
@click.option("--images", "list_images", is_flag=True, help="Print the image names.")
@click.option("--hash", "hash_of", metavar="SERVICES",
              help="Print the config hash of services ('*' for all, or a,b).")
@click.option("--no-interpolate", is_flag=True, help="Do not interpolate variables.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the result to this file instead of standard output.")
@click.argument("service_names", nargs=-1)
@click.pass_context
def config(ctx: click.Context, fmt: str, quiet: bool, list_services: bool, list_volumes: bool,
           list_networks: bool, list_profiles: bool, list_images: bool, hash_of: str | None,
           no_interpolate: bool, output: str | None, service_names: tuple[str, ...]) -> None:
    """Validate the stack file and print it in canonical form (as `docker compose config`)."""
    from pystack.orchestrator.config import output as out
    from pystack.orchestrator.config.project import load_project

    project = load_project(_options(ctx), service_names, interpolate=not no_interpolate)
    _warn(project.warnings)
    if quiet:
        return
    if list_services:
        text = "\n".join(out.services(project))
    elif list_volumes:
        text = "\n".join(out.volumes(project))
    elif list_networks:
        text = "\n".join(out.networks(project))
    elif list_profiles:
        text = "\n".join(out.profiles(project))
    elif list_images:
        text = "\n".join(out.images(project))
    elif hash_of is not None:
        text = "\n".join(out.hashes(project, hash_of))
    else:
        text = out.render(project, fmt, interpolated=not no_interpolate).rstrip("\n")
    text = text + "\n" if text else ""
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise click.FileError(output, hint=e.strerror or str(e)) from e
    else:
        click.echo(text, nl=False)


@click.command("graph", cls=PystackCommand)
@project_options
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot",
              show_default=True, help="Graph language.")
@click.argument("service_names", nargs=-1)
@click.pass_context
def graph(ctx: click.Context, fmt: str, service_names: tuple[str, ...]) -> None:
    """Print the service dependency graph (depends_on, links, network_mode, volumes_from)."""
    from pystack.orchestrator.config import graph as g
    from pystack.orchestrator.config.project import load_project

    project = load_project(_options(ctx), service_names)
    _warn(project.warnings)
    click.echo(g.to_dot(project) if fmt == "dot" else g.to_mermaid(project), nl=False)
