"""Fixtures of the image tests: a store per test, the busybox image in every local format,
and a real registry (Debian's docker-registry) on 127.0.0.1 (see registry.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystack.runtime.image.store import ImageStore
from tests.support import images


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture(scope="session")
def bb_layer(busybox_rootfs: Path) -> bytes:
    """The busybox rootfs as one uncompressed layer tarball."""
    return images.dir_tar(busybox_rootfs)


@pytest.fixture(scope="session")
def bb_image(bb_layer: bytes) -> images.Built:
    return images.build([bb_layer], "gzip")
