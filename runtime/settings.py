"""The runtime's settings: every PYSTACK_* variable the runtime reads, in one frozen object.

One rule for every variable (the same in each package's settings): unset, empty and blank
mean the same thing, the default, so `PYSTACK_ROOT=` puts nothing in the current directory.
A value that is set must be valid; a bad one raises ContainerRuntimeError naming the variable.
Read when needed (`settings()`), never cached at import: tests and benchmarks set them per run,
and the shims get them through their environment (zygote.shim_environment).

    PYSTACK_ROOT                 /var/lib/pystack   images, containers
    PYSTACK_RUN                  /run/pystack       shim sockets
    PYSTACK_CGROUP_PARENT        pystack            parent of every container's cgroup
    PYSTACK_MAX_LAYER_BYTES      64 GiB             cap on one layer's unpacked size
    PYSTACK_REGISTRY_TIMEOUT     60 (seconds)       per registry request
    PYSTACK_INSECURE_REGISTRIES  (none)             host[:port],... spoken to over plain HTTP
    PYSTACK_PULL_WORKERS         3                  layers fetched in parallel
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pystack.runtime.errors import ContainerRuntimeError

DEFAULT_ROOT = "/var/lib/pystack"
DEFAULT_RUN = "/run/pystack"
T = TypeVar("T")


def setting(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """THE rule: the variable's value, or None when it is unset, empty or blank."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def _parsed(name: str, raw: str | None, default: T, parse: Callable[[str], T], what: str) -> T:
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ContainerRuntimeError(f"{name}={raw!r} is not {what}",
                                    hint=f"set {name} to {what}, or unset it") from None


@dataclass(frozen=True)
class RuntimeSettings:
    root: Path
    run: Path
    cgroup_parent: str
    max_layer_bytes: int
    registry_timeout: float
    insecure_registries: tuple[str, ...]
    pull_workers: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        def get(name: str) -> str | None:
            return setting(name, environ)

        insecure = get("PYSTACK_INSECURE_REGISTRIES") or ""
        return cls(
            root=Path(get("PYSTACK_ROOT") or DEFAULT_ROOT),
            run=Path(get("PYSTACK_RUN") or DEFAULT_RUN),
            cgroup_parent=get("PYSTACK_CGROUP_PARENT") or "pystack",
            max_layer_bytes=_parsed("PYSTACK_MAX_LAYER_BYTES", get("PYSTACK_MAX_LAYER_BYTES"),
                                    64 << 30, int, "a number of bytes"),
            registry_timeout=_parsed("PYSTACK_REGISTRY_TIMEOUT",
                                     get("PYSTACK_REGISTRY_TIMEOUT"), 60.0, float,
                                     "a number of seconds"),
            insecure_registries=tuple(h.strip() for h in insecure.split(",") if h.strip()),
            pull_workers=max(1, _parsed("PYSTACK_PULL_WORKERS", get("PYSTACK_PULL_WORKERS"), 3,
                                        int, "a whole number")),
        )


def settings() -> RuntimeSettings:
    """The runtime's settings, from the environment as it is now."""
    return RuntimeSettings.from_env()
