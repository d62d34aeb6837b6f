"""The `pystack` command: global options, lazy sub-command loading, and the one place that
turns errors into messages and exit codes.

`pystack --help` and shell completion must import only click: every sub-command lives in its
own module, listed in COMMANDS as "module:attribute", and is imported only when it runs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import click

# name -> (module under pystack.orchestrator.cli, attribute, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "version": ("misc_cmd", "version", "Show the pystack version."),
    "completion": ("misc_cmd", "completion", "Print the shell completion script."),
    "config": ("config_cmd", "config", "Validate the stack file and print it in canonical form."),
    "graph": ("config_cmd", "graph", "Print the service dependency graph (DOT or Mermaid)."),
    "build": ("build_cmd", "compose_build", "Build the images of services with build:."),
    "builder": ("builder_cmd", "builder", "Manage the build cache (prune, du)."),
    "convert": ("convert_cmd", "convert", "Convert the project into Kubernetes manifests."),
    "up": ("stack_cmd", "up", "Create and start the project's containers."),
    "down": ("stack_cmd", "down", "Stop and remove containers and networks."),
    "create": ("stack_cmd", "create", "Create the project's containers without starting them."),
    "start": ("stack_cmd", "start", "Start existing containers."),
    "stop": ("stack_cmd", "stop", "Stop services."),
    "restart": ("stack_cmd", "restart", "Restart services."),
    "kill": ("stack_cmd", "kill", "Kill containers."),
    "rm": ("stack_cmd", "rm", "Remove stopped service containers."),
    "pause": ("stack_cmd", "pause", "Pause services."),
    "unpause": ("stack_cmd", "unpause", "Unpause services."),
    "ps": ("stack_query_cmd", "ps", "List the project's containers."),
    "logs": ("stack_query_cmd", "logs", "Show container output."),
    "top": ("readouts_cmd", "top", "Show the processes of each container."),
    "port": ("stack_query_cmd", "port", "Print the public address of a port binding."),
    "ls": ("stack_query_cmd", "ls", "List projects."),
    "stats": ("readouts_cmd", "stats", "Resource usage of the project's containers."),
    "wait": ("stack_query_cmd", "wait", "Wait for service containers to stop."),
    "exec": ("stack_run_cmd", "exec_", "Run a command in a running service container."),
    "run": ("stack_run_cmd", "run", "Run a one-off command in a new service container."),
    "attach": ("stack_run_cmd", "attach", "Attach to a service container's console."),
    "cp": ("stack_extra_cmd", "cp", "Copy files between a service container and the host."),
    "events": ("readouts_cmd", "events", "Stream the project's container events."),
    "watch": ("watch_cmd", "watch", "Watch files and sync, restart or rebuild services."),
    "images": ("image_cmd", "images", "List images."),
    "pull": ("image_cmd", "pull", "Pull images from a registry."),
    "push": ("image_cmd", "push", "Push images to a registry."),
    "rmi": ("image_cmd", "rmi", "Remove images."),
    "image": ("image_cmd", "image", "Manage images (build, load, import, inspect, prune, ...)."),
}


@dataclass(frozen=True)
class GlobalOptions:
    """Options given before the sub-command; every command reads them from ctx.obj."""

    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    log_level: str = "warning"
    log_format: str = "console"
    progress: str = "auto"              # auto | tty | plain | json | quiet (ui/mode.py)
    no_color: bool = False
    ansi: str = "auto"                  # never | always | auto
    environ: dict[str, str] = field(default_factory=dict)


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attr, _ = entry
        cmd = getattr(import_module(f"pystack.orchestrator.cli.{module}"), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Uses the static help text so `--help` imports no command module.
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "files", multiple=True, metavar="FILE",
              help="Compose file (repeatable; '-' reads standard input).")
@click.option("-p", "--project-name", default=None, help="Project name.")
@click.option("--project-directory", default=None, metavar="DIR",
              help="Working directory of the project (default: the first file's directory).")
@click.option("--env-file", "env_files", multiple=True, metavar="FILE",
              help="Environment file (repeatable).")
@click.option("--profile", "profiles", multiple=True, help="Enable a profile (repeatable).")
@click.option("--log-level", default="warning",
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              help="pystack's own log level.")
@click.option("--log-format", default="console", type=click.Choice(["console", "json"]),
              help="pystack's own log format.")
@click.option("--progress", default="auto", envvar="COMPOSE_PROGRESS", metavar="MODE",
              type=click.Choice(["auto", "tty", "plain", "json", "quiet", "none"]),
              help="Type of progress output: auto, tty, plain, json, quiet "
                   "(env COMPOSE_PROGRESS).")
@click.option("--ansi", default="auto", envvar="COMPOSE_ANSI", metavar="WHEN",
              type=click.Choice(["never", "always", "auto"]),
              help="When to print ANSI control characters: never, always, auto "
                   "(env COMPOSE_ANSI).")
@click.option("--no-ansi", "no_ansi", is_flag=True, hidden=True,
              help="Deprecated: --ansi never.")
@click.option("--no-color", "no_color", is_flag=True, help="No colours.")
@click.version_option(package_name="pystack-compose", prog_name="pystack")
@click.pass_context
def cli(ctx: click.Context, files: tuple[str, ...], project_name: str | None,
        project_directory: str | None, env_files: tuple[str, ...], profiles: tuple[str, ...],
        log_level: str, log_format: str, progress: str, ansi: str, no_ansi: bool,
        no_color: bool) -> None:
    """pystack: run Compose stacks on pystack's own container engine."""
    from pystack.orchestrator.ui.mode import DisplayError, resolve

    if no_ansi:
        click.echo("option '--no-ansi' is DEPRECATED ! Please use '--ansi' instead.", err=True)
    try:
        shown = resolve(progress, ansi, no_ansi=no_ansi, no_color=no_color,
                        environ=os.environ)
    except DisplayError as e:
        raise click.UsageError(str(e)) from None
    ctx.obj = GlobalOptions(
        files=files, project_name=project_name, project_directory=project_directory,
        env_files=env_files, profiles=profiles, log_level=log_level.lower(),
        log_format=log_format, progress=shown.progress, no_color=shown.no_color,
        ansi=shown.ansi, environ=dict(os.environ),
    )


def report(exc: BaseException) -> int:
    """Print a pystack error (any package's tree) to stderr; return its exit code from the one
    table (cli/exit_codes.py)."""
    from pystack.orchestrator.cli.exit_codes import exit_code

    message = getattr(exc, "message", None) or str(exc)
    hint = getattr(exc, "hint", None)
    problems = getattr(exc, "problems", None) or [message]     # a stack file's: each
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    return exit_code(exc)


def _known_errors() -> tuple[type[Exception], ...]:
    # Imported lazily: the error modules are tiny, but --help needs none of them.
    from pystack.orchestrator.cli.exit_codes import KNOWN

    return KNOWN


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["__complete"]:          # the shell completion's hidden entry point
        from pystack.orchestrator.cli.complete import run

        sys.exit(run(args[1:]))
    try:
        return cli.main(args=argv, prog_name="pystack", standalone_mode=True)
    except SystemExit:
        raise
    except _known_errors() as exc:
        sys.exit(report(exc))
    except KeyboardInterrupt:
        sys.exit(130)


class PystackCommand(click.Command):
    """A command whose pystack errors become a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _known_errors() as exc:
            from pystack.orchestrator.errors import UsageError

            if isinstance(exc, UsageError):     # one form for every usage mistake: click's
                hint = f" ({exc.hint})" if exc.hint else ""
                raise click.UsageError(exc.message + hint, ctx) from None
            ctx.exit(report(exc))


def project_options(f: Any) -> Any:
    """Accept the project options after the sub-command too (`pystack up -f stack.yml`), as
    well as before it (`pystack -f stack.yml up`).  The merged result is in ctx.obj."""

    def merge(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if not value:
            return value
        obj = ctx.find_object(GlobalOptions) or GlobalOptions()
        name = param.name or ""
        if name in ("files", "env_files", "profiles"):
            value = (*getattr(obj, name), *value)
        from dataclasses import replace

        ctx.obj = replace(obj, **{name: value})
        return value

    opts = [
        click.option("-f", "--file", "files", multiple=True, metavar="FILE", expose_value=False,
                     callback=merge, help="Compose file (repeatable; '-' reads stdin)."),
        click.option("-p", "--project-name", "project_name", default=None, expose_value=False,
                     callback=merge, help="Project name."),
        click.option("--project-directory", "project_directory", default=None,
                     expose_value=False, callback=merge, metavar="DIR",
                     help="Working directory of the project."),
        click.option("--env-file", "env_files", multiple=True, expose_value=False,
                     callback=merge, metavar="FILE", help="Environment file (repeatable)."),
        click.option("--profile", "profiles", multiple=True, expose_value=False,
                     callback=merge, help="Enable a profile (repeatable)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f
