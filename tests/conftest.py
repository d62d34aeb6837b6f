"""Session set-up shared by every suite: per-session state dirs and name prefixes
(tests/support/hostenv.py), and the leak check that fails the run if anything of this
session is left on the host."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import hostenv

_ENV = hostenv.session_environment()
os.environ.update(_ENV)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (integration test)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def session_env() -> dict[str, str]:
    return dict(_ENV)


@pytest.fixture(scope="session", autouse=True)
def _leak_check() -> Iterator[None]:
    yield
    left = hostenv.leftovers(_ENV)
    if not left:
        shutil.rmtree(_ENV["PYSTACK_TEST_BASE"], ignore_errors=True)
    assert not left, f"the test session left objects on the host: {left}"


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox rootfs directory (read-only by convention: copy it before changing it)."""
    from tests.support.busybox import build_rootfs

    return build_rootfs(tmp_path_factory.mktemp("bb") / "rootfs")


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs as a plain tarball (what `pystack image import` takes)."""
    from tests.support.busybox import rootfs_tar

    return rootfs_tar(busybox_rootfs, tmp_path_factory.mktemp("bbtar") / "rootfs.tar")
