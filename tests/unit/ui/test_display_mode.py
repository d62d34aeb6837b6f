"""`--ansi`, `--progress`, COMPOSE_ANSI, COMPOSE_PROGRESS and NO_COLOR pick the display as
Compose v2's cmd/compose/compose.go does."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pystack.orchestrator.cli.main import GlobalOptions, cli
from pystack.orchestrator.ui.mode import Display, DisplayError, resolve


@pytest.mark.parametrize("progress, ansi, env, want", [
    ("auto", "auto", {}, Display("auto", "auto", False)),
    ("auto", "never", {}, Display("plain", "never", True)),
    ("auto", "always", {}, Display("tty", "always", False)),
    ("tty", "auto", {"NO_COLOR": "1"}, Display("tty", "auto", True)),
    ("tty", "auto", {"NO_COLOR": ""}, Display("tty", "auto", False)),
    ("json", "never", {}, Display("json", "never", True)),
    ("none", "auto", {}, Display("quiet", "auto", False)),
    ("quiet", "always", {}, Display("quiet", "always", False)),
])
def test_resolve(progress: str, ansi: str, env: dict[str, str], want: Display) -> None:
    assert resolve(progress, ansi, environ=env) == want


@pytest.mark.parametrize("progress, ansi, no_ansi, message", [
    ("tty", "never", False, "can't use --progress tty while ANSI support is disabled"),
    ("plain", "always", False, "can't use --progress plain while ANSI support is forced"),
    ("auto", "always", True, 'cannot specify DEPRECATED "--no-ansi" and "--ansi"'),
    ("tty", "auto", True, "can't use --progress tty while ANSI support is disabled"),
    ("fancy", "auto", False, "unsupported --progress value 'fancy'"),
])
def test_contradictions(progress: str, ansi: str, no_ansi: bool, message: str) -> None:
    with pytest.raises(DisplayError, match=message.replace("(", r"\(")):
        resolve(progress, ansi, no_ansi=no_ansi)


def _options(args: list[str], env: dict[str, str],
             monkeypatch: pytest.MonkeyPatch) -> GlobalOptions:
    """What the group's callback puts in ctx.obj for these global flags and environment."""
    for k in ("COMPOSE_ANSI", "COMPOSE_PROGRESS", "NO_COLOR"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ctx = cli.make_context("pystack", [*args, "version"])
    with ctx:
        ctx.invoke(cli.callback, **ctx.params)     # type: ignore[arg-type]
    assert isinstance(ctx.obj, GlobalOptions)
    return ctx.obj


@pytest.mark.parametrize("args, env, progress, ansi, no_color", [
    ([], {"COMPOSE_ANSI": "never"}, "plain", "never", True),
    (["--ansi", "always"], {"COMPOSE_ANSI": "never"}, "tty", "always", False),
    ([], {"COMPOSE_PROGRESS": "json"}, "json", "auto", False),
    (["--progress", "quiet"], {"COMPOSE_PROGRESS": "json"}, "quiet", "auto", False),
    ([], {"NO_COLOR": "1"}, "auto", "auto", True),
    (["--no-color"], {}, "auto", "auto", True),
])
def test_flags_and_environment(args: list[str], env: dict[str, str], progress: str,
                               ansi: str, no_color: bool,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    obj = _options(args, env, monkeypatch)
    assert (obj.progress, obj.ansi, obj.no_color) == (progress, ansi, no_color)


def test_no_ansi_is_deprecated(monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    obj = _options(["--no-ansi"], {}, monkeypatch)
    assert (obj.progress, obj.ansi, obj.no_color) == ("plain", "never", True)
    assert "option '--no-ansi' is DEPRECATED ! Please use '--ansi' instead." in \
        capsys.readouterr().err


def test_contradicting_flags_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE_ANSI", raising=False)
    r = CliRunner().invoke(cli, ["--progress", "tty", "--ansi", "never", "version"])
    assert r.exit_code == 2
    assert "can't use --progress tty while ANSI support is disabled" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["--ansi", "sometimes", "version"])
    assert r.exit_code == 2 and "--ansi" in r.output
