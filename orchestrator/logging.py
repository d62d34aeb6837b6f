"""pystack's own logs (not container output): structlog, configured once per command from
`--log-level` and `--log-format console|json`, written to stderr.  Imported only by commands
that run the engine (structlog is not imported by `--help`)."""

from __future__ import annotations

import logging
import sys
from typing import Any

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
_configured = False


_settings = ("warning", "console")


def configure(level: str = "warning", fmt: str = "console") -> None:
    """Remember the settings; structlog itself is set up on the first `get_logger` (importing
    it costs ~50 ms, which a command that logs nothing should not pay)."""
    global _settings, _configured
    _settings = (level, fmt)
    _configured = False


def _setup(level: str, fmt: str) -> None:
    global _configured
    import structlog

    lvl = LEVELS.get(level.lower(), logging.WARNING)
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False)
    logging.basicConfig(level=lvl, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    _configured = True


def get_logger(name: str = "pystack") -> Any:
    import structlog

    if not _configured:
        _setup(*_settings)
    return structlog.get_logger(name)


def log(event: str, level: str = "debug", **fields: Any) -> None:
    """Log through structlog only when `level` passes the configured one (no import else)."""
    if LEVELS.get(level, logging.DEBUG) < LEVELS.get(_settings[0], logging.WARNING):
        return
    getattr(get_logger(), level)(event, **fields)
