"""The OCI/Docker image config JSON <-> ImageConfig, and the media types we handle.

Durations in the JSON (Healthcheck) are nanoseconds; ImageConfig keeps seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pystack.runtime.errors import ImageError
from pystack.runtime.image.model import HealthConfig, ImageConfig

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_GZIP,
               DOCKER_LAYER_GZIP, DOCKER_LAYER, DOCKER_FOREIGN)
LAYER_TYPE_BY_COMPRESSION = {"": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}

PLATFORM_OS = "linux"
PLATFORM_ARCH = "amd64"
_NS = 1_000_000_000


def check_layer_type(media_type: str) -> None:
    if media_type not in LAYER_TYPES:
        raise ImageError(f"unsupported layer media type {media_type!r}",
                         hint="supported: " + ", ".join(LAYER_TYPES))


def load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise ImageError(f"{what} is not a JSON object")
    return obj


def _strings(v: Any) -> tuple[str, ...] | None:
    if v is None:
        return None
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise ImageError(f"image config: expected a list of strings, got {v!r}")


def _secs(v: Any) -> float | None:
    return None if not v else float(v) / _NS


def parse_config(doc: dict[str, Any]) -> ImageConfig:
    """ImageConfig from the image config JSON (its "config" object)."""
    c = doc.get("config") or {}
    if not isinstance(c, dict):
        raise ImageError("image config: 'config' is not an object")
    hc = c.get("Healthcheck")
    health = None
    if isinstance(hc, dict):
        health = HealthConfig(
            test=_strings(hc.get("Test")) or (),
            interval=_secs(hc.get("Interval")), timeout=_secs(hc.get("Timeout")),
            start_period=_secs(hc.get("StartPeriod")),
            start_interval=_secs(hc.get("StartInterval")),
            retries=int(hc["Retries"]) if hc.get("Retries") else None)
    labels = c.get("Labels") or {}
    return ImageConfig(
        entrypoint=_strings(c.get("Entrypoint")),
        cmd=_strings(c.get("Cmd")),
        env=_strings(c.get("Env")) or (),
        working_dir=str(c.get("WorkingDir") or ""),
        user=str(c.get("User") or ""),
        exposed_ports=tuple(sorted(c.get("ExposedPorts") or {})),
        volumes=tuple(sorted(c.get("Volumes") or {})),
        healthcheck=health,
        stop_signal=c.get("StopSignal") or None,
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def config_json(cfg: ImageConfig) -> dict[str, Any]:
    """The "config" object of an image config JSON for `cfg`."""
    out: dict[str, Any] = {}
    if cfg.user:
        out["User"] = cfg.user
    if cfg.exposed_ports:
        out["ExposedPorts"] = {p: {} for p in cfg.exposed_ports}
    if cfg.env:
        out["Env"] = list(cfg.env)
    if cfg.entrypoint is not None:
        out["Entrypoint"] = list(cfg.entrypoint)
    if cfg.cmd is not None:
        out["Cmd"] = list(cfg.cmd)
    if cfg.volumes:
        out["Volumes"] = {v: {} for v in cfg.volumes}
    if cfg.working_dir:
        out["WorkingDir"] = cfg.working_dir
    if cfg.labels:
        out["Labels"] = dict(cfg.labels)
    if cfg.stop_signal:
        out["StopSignal"] = cfg.stop_signal
    h = cfg.healthcheck
    if h is not None:
        hc: dict[str, Any] = {"Test": list(h.test)}
        for key, val in (("Interval", h.interval), ("Timeout", h.timeout),
                         ("StartPeriod", h.start_period), ("StartInterval", h.start_interval)):
            if val is not None:
                hc[key] = int(val * _NS)
        if h.retries is not None:
            hc["Retries"] = h.retries
        out["Healthcheck"] = hc
    return out


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_config_doc(cfg: ImageConfig, diff_ids: Sequence[str], comment: str) -> dict[str, Any]:
    """A complete OCI image config for a one-or-more-layer image we made ourselves."""
    created = now_rfc3339()
    return {
        "architecture": PLATFORM_ARCH,
        "os": PLATFORM_OS,
        "created": created,
        "config": config_json(cfg),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "created_by": comment}],
    }


def diff_ids_of(doc: dict[str, Any]) -> list[str]:
    rootfs = doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        raise ImageError("image config has no rootfs.diff_ids list")
    return list(ids)


def check_platform(doc: dict[str, Any], what: str) -> None:
    os_, arch = doc.get("os"), doc.get("architecture")
    if (os_ and os_ != PLATFORM_OS) or (arch and arch != PLATFORM_ARCH):
        raise ImageError(f"{what} is for platform {os_}/{arch}, this host runs "
                         f"{PLATFORM_OS}/{PLATFORM_ARCH}")
