"""The image types the rest of the runtime consumes (the store produces them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class HealthConfig:
    """An image's HEALTHCHECK, durations in seconds (None = not set)."""

    test: tuple[str, ...] = ()          # ("CMD", ...), ("CMD-SHELL", "cmd"), ("NONE",)
    interval: float | None = None
    timeout: float | None = None
    start_period: float | None = None
    start_interval: float | None = None
    retries: int | None = None


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI/Docker image config a container start needs."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()           # "KEY=value", image order
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    volumes: tuple[str, ...] = ()        # container paths
    healthcheck: HealthConfig | None = None
    stop_signal: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    """An image in the store, ready to mount."""

    id: str                              # "sha256:<hex>" of the image config blob
    names: tuple[str, ...]               # normalised references that point at it
    config: ImageConfig
    layer_dirs: tuple[Path, ...]         # unpacked layers, bottom first (store: short
                                         # symlinks images/layers/l/<id>, see store.py)
    created: str = ""                    # RFC 3339
    size: int = 0                        # bytes, unpacked
    digest: str | None = None            # manifest digest when it came from a registry
