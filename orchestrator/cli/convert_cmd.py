"""`pystack convert`: the project as Kubernetes manifests (orchestrator/convert/)."""

from __future__ import annotations

import click

from pystack.orchestrator.cli.main import GlobalOptions, PystackCommand, project_options


@click.command("convert", cls=PystackCommand)
@project_options
@click.option("-o", "--output", default="-", show_default=True, metavar="DIR|-",
              help="A directory to write one file per object into, or '-' for standard output.")
@click.option("-n", "--namespace", default=None, help="Put every object in this namespace.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="Output format.")
@click.option("--kustomize", is_flag=True, help="Also write a kustomization.yaml (with -o DIR).")
@click.option("--publish", type=click.Choice(["nodeport", "loadbalancer"]), default="nodeport",
              show_default=True, help="Service type for published ports.")
@click.option("--host-path", is_flag=True,
              help="Mount bind-mounted directories as hostPath volumes.")
@click.option("--secret-values", is_flag=True,
              help="Print secret values on standard output too (they are written with -o DIR).")
@click.option("--storage-size", default="1Gi", show_default=True,
              help="Size of a volume's claim when the file gives none.")
@click.argument("service_names", nargs=-1)
@click.pass_context
def convert(ctx: click.Context, output: str, namespace: str | None, fmt: str, kustomize: bool,
            publish: str, host_path: bool, secret_values: bool, storage_size: str,
            service_names: tuple[str, ...]) -> None:
    """Convert the project into Kubernetes manifests."""
    from pystack.orchestrator.config.project import load_project
    from pystack.orchestrator.convert import manifests, names
    from pystack.orchestrator.convert.context import Options
    from pystack.orchestrator.convert.positions import source

    opts = ctx.find_object(GlobalOptions) or GlobalOptions()
    if namespace is not None and names.label(namespace) != namespace:
        raise click.BadParameter(f"{namespace!r} is not a DNS-1123 label "
                                 f"(try {names.label(namespace)!r})", param_hint="--namespace")
    if kustomize and output == "-":
        raise click.UsageError("--kustomize writes files: give -o DIR")
    project = load_project(opts, service_names)
    for w in project.warnings:
        click.echo(f"warning: {w}", err=True)
    for s in service_names:
        project.service(s)
    options = Options(namespace=namespace, publish=publish, host_path=host_path,
                      secret_values=secret_values or output != "-", storage_size=storage_size)
    result = manifests.convert(project, options, service_names, source(opts))
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if output == "-":
        click.echo(manifests.render(result, fmt), nl=False)
        return
    try:
        written = manifests.write_dir(result, output, fmt, kustomize, namespace)
    except OSError as e:
        raise click.FileError(output, hint=e.strerror or str(e)) from e
    click.echo(f"wrote {len(written)} files to {output}", err=True)
