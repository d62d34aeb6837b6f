"""The namespace modes of a service, checked when the file is loaded (Docker checks them only
when it creates the container, so `config` would accept what `up` then refuses):

- `ipc`: private (the default), shareable (private, joinable: every pystack IPC namespace
  is), host, none (private, no /dev/shm) or service:NAME;
- `pid`: host or service:NAME; `uts`: host (a `hostname` is then not set: the host's shows);
- `userns_mode`: only host — pystack runs containers in the host's user namespace (it has no
  user-namespace remapping), so `host` is what every container gets, and any other mode is
  refused rather than ignored.

`container:NAME` (a container outside the project) is refused with a hint to service:NAME.
Defensive about types, like semantic.py: a non-string is the schema's to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pystack.orchestrator.config.semantic import Report

MODES: dict[str, tuple[str, ...]] = {
    "ipc": ("private", "shareable", "host", "none"),
    "pid": ("host",),
    "uts": ("host",),
    "userns_mode": ("host",),
}
JOINABLE = ("ipc", "pid")


def _bad(rep: Report, svc: str, key: str, value: str) -> None:
    allowed = list(MODES[key]) + (["service:NAME"] if key in JOINABLE else [])
    hint = "use " + ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 \
        else f"use {allowed[0]} or leave it out"
    if key == "userns_mode":
        message = (f"userns_mode '{value}' is not supported: pystack has no user-namespace "
                   "remapping, containers share the host's user namespace")
    elif value.startswith("container:"):
        message = f"{key} '{value}': joining a container outside the project is not supported"
        hint = f"use {key}: service:NAME for a service of this project"
    else:
        message = f"invalid {key} mode '{value}'"
    rep.add(("services", svc, key), message, hint)


def check(rep: Report, services: Mapping[str, Any]) -> None:
    for name, svc in services.items():
        if not isinstance(svc, Mapping):
            continue
        for key, allowed in MODES.items():
            value = svc.get(key)
            if not isinstance(value, str) or value == "" or value in allowed:
                continue
            if key in JOINABLE and value.startswith("service:") and value != "service:":
                continue
            _bad(rep, str(name), key, value)
