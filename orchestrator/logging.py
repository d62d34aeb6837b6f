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


def configure(level: str = "warning", fmt: str = "console") -> None:
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

    return structlog.get_logger(name)
