"""Pull and push over the OCI distribution API (being written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystack.runtime.errors import ImageError
from pystack.runtime.image.content import Content
from pystack.runtime.image.reference import Reference
from pystack.runtime.image.sources import Fetched


def pull(content: Content, ref: Reference, progress: Callable[[str, str, int, int], None] | None,
         insecure: bool) -> Fetched:
    raise ImageError("pull is not implemented yet")


def push(content: Content, rec: dict[str, Any], ref: Reference,
         progress: Callable[[str, str, int, int], None] | None, insecure: bool) -> str:
    raise ImageError("push is not implemented yet")
