"""Kubernetes names and labels derived from Compose names: stable, DNS-1123, within 63
characters (a short hash of the full name keeps two long names apart), and the
`app.kubernetes.io/*` labels every object carries."""

from __future__ import annotations

import hashlib
import re

MANAGED_BY = "pystack"
NETWORK_LABEL = "network.pystack.io/"
_INVALID = re.compile(r"[^a-z0-9-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def label(name: str, *, limit: int = 63) -> str:
    """A DNS-1123 label (RFC 1123: [a-z0-9-], starts with a letter here, as Service names
    must, ends alphanumeric, <= `limit`) for `name`: `my_app` becomes `my-app`; a name cut
    to fit gets a stable hash of the whole name, so two long names stay apart."""
    clean = _INVALID.sub("-", name.lower()).strip("-")
    if not clean or not clean[0].isalpha():
        clean = "s-" + clean if clean else "s"
    if len(clean) <= limit:
        return clean
    return f"{clean[:limit - 9].rstrip('-')}-{_digest(name)}"


def labels(project: str, service: str | None = None) -> dict[str, str]:
    out = {"app.kubernetes.io/part-of": label_value(project),
           "app.kubernetes.io/managed-by": MANAGED_BY}
    if service is not None:
        out["app.kubernetes.io/name"] = label_value(service)
    return out


def selector(project: str, service: str) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": label_value(project),
            "app.kubernetes.io/name": label_value(service)}


_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(value: str) -> str:
    """A label value: <= 63 of [A-Za-z0-9._-], alphanumeric at both ends."""
    clean = _LABEL_VALUE.sub("-", value).strip("-._")
    if clean == value and len(clean) <= 63:
        return clean
    return f"{clean[:54].strip('-._')}-{_digest(value)}".strip("-")


def network_label(network_key: str) -> str:
    """The pod label that marks membership of one Compose network."""
    return NETWORK_LABEL + label(network_key)
