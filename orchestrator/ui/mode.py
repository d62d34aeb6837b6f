"""How progress and colours are shown, from the global flags and the environment, with
Compose v2's rules (cmd/compose/compose.go): `--ansi never|always|auto` (COMPOSE_ANSI when the
flag is not given), `--progress auto|tty|plain|json|quiet` (COMPOSE_PROGRESS), NO_COLOR.

Pure and import-free: the CLI calls it for every command, `pystack --help` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROGRESS_MODES = ("auto", "tty", "plain", "json", "quiet")
ANSI_MODES = ("never", "always", "auto")


class DisplayError(ValueError):
    """Flags that contradict each other (the CLI turns it into a usage error)."""


@dataclass(frozen=True)
class Display:
    progress: str                       # auto | tty | plain | json | quiet
    ansi: str                           # never | always | auto
    no_color: bool                      # colours off (NO_COLOR, --no-color, --ansi never)


def resolve(progress: str, ansi: str, *, no_ansi: bool = False, no_color: bool = False,
            environ: Mapping[str, str] | None = None) -> Display:
    """The display Compose would pick.  `progress`/`ansi` are the flags' values (their
    environment variables already applied by the CLI when the flag was not given)."""
    env = environ or {}
    if progress == "none":
        progress = "quiet"
    if progress not in PROGRESS_MODES:
        raise DisplayError(f"unsupported --progress value {progress!r} "
                           f"(one of {', '.join(PROGRESS_MODES)})")
    if ansi not in ANSI_MODES:
        raise DisplayError(f"unsupported --ansi value {ansi!r} (one of {', '.join(ANSI_MODES)})")
    if no_ansi:
        if ansi != "auto":
            raise DisplayError('cannot specify DEPRECATED "--no-ansi" and "--ansi". '
                               'Please use only "--ansi"')
        ansi = "never"
    if progress == "tty" and ansi == "never":
        raise DisplayError("can't use --progress tty while ANSI support is disabled")
    if progress == "plain" and ansi == "always":
        raise DisplayError("can't use --progress plain while ANSI support is forced")
    if progress == "auto":
        progress = {"never": "plain", "always": "tty"}.get(ansi, "auto")
    colourless = no_color or ansi == "never" or bool(env.get("NO_COLOR"))
    return Display(progress, ansi, colourless)
