"""Small commands with no engine behind them: version, completion."""

from __future__ import annotations

import click

from pystack.orchestrator.cli.main import PystackCommand


@click.command(cls=PystackCommand)
@click.option("--short", is_flag=True, help="Only the version number.")
@click.option("--format", "fmt", type=click.Choice(["pretty", "json"]), default="pretty")
def version(short: bool, fmt: str) -> None:
    """Show the pystack version."""
    from importlib.metadata import version as dist_version

    v = dist_version("pystack-compose")
    if short:
        click.echo(v)
    elif fmt == "json":
        import json

        click.echo(json.dumps({"version": v}))
    else:
        click.echo(f"pystack version {v}")


@click.command(cls=PystackCommand)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script of SHELL: commands, options, the services of the project
    here, project names.  bash: eval "$(pystack completion bash)"; zsh: eval "$(pystack
    completion zsh)"; fish: pystack completion fish | source."""
    from pystack.orchestrator.cli.complete import script

    click.echo(script(shell), nl=False)
