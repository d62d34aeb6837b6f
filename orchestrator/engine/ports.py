"""The ports: the only way the engine touches the runtime and net.

    Runtime      pystack.runtime.api.Runtime   containers (create, start, stop, namespaces...)
    Network      pystack.net.api.Network       one project's host networking
    ImageSource  here                          the part of the image store the engine uses
    SharedShm    here                          host-side /dev/shm of shared IPC namespaces

Each method says what it returns and raises.  The engine holds them in `Backends` and never
imports an implementation: `engine/backends.py` (the wiring) builds the Linux ones with typed
imports, so mypy checks `LinuxRuntime`, `NetworkManager` and `ImageStore` against these
Protocols; unit tests pass the fakes.  import-linter forbids the implementation modules to
every other orchestrator module (pyproject.toml).  tests/integration/runtime/test_contract.py
and tests/integration/net/test_contract.py run one scenario against the real implementation
and the fake, so the fakes do not lie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pystack.net.api import Network
from pystack.runtime.api import Runtime
from pystack.runtime.image.model import Image

__all__ = ["ImageSource", "Network", "Runtime", "SharedShm"]


class SharedShm(Protocol):
    """`pystack.runtime.shm.SharedMemory`: the /dev/shm a container shares with those that
    join its IPC namespace (`ipc: service:X`, `ipc: shareable`).  Raises only
    `pystack.runtime.errors.ContainerRuntimeError`."""

    def ensure(self, owner: str, size: int | None = None) -> str:
        """The host path of container `owner`'s shared /dev/shm (made now if missing),
        `size` bytes (None: 64 MiB), to bind at /dev/shm."""
        ...

    def lookup(self, owner: str) -> str | None:
        """That path if container `owner` has a shared /dev/shm, else None."""
        ...

    def release(self, owner: str) -> None:
        """Remove `owner`'s shared /dev/shm, if any (the container is being removed)."""
        ...


class ImageSource(Protocol):
    """The part of `pystack.runtime.image.store.ImageStore` the engine uses.  Every method
    raises only `pystack.runtime.errors.ImageError` and its subclasses."""

    def get(self, ref: str) -> Image:
        """The local image of that reference or id.  Raises ImageNotFoundError."""
        ...

    def exists(self, ref: str) -> bool:
        """Whether the image is in the local store."""
        ...

    def pull(self, ref: str, progress: Any = None, insecure: bool = False) -> Image:
        """Fetch the image from its registry into the store (`progress(layer, status, done,
        total)` is called as layers come).  Raises ImageNotFoundError, ImageError."""
        ...

    def copy_into(self, image: Image, path: str, dest: Path) -> bool:
        """Fill the empty directory `dest` (a new volume) with the image's directory `path`,
        which it then takes the owner and mode of (Docker's copy on first mount).  Resolved
        inside the image's layers and written only through fds below `dest`
        (runtime/safecopy.py): image content never reaches a host path.  False when the image
        has no directory there.  Raises ImageError (a path with `..`, an I/O error)."""
        ...

    def remove(self, ref: str) -> list[str]:
        """`docker rmi`: untag, and delete the image once no tag is left; returns
        "Untagged: X" / "Deleted: ID" lines.  Raises ImageNotFoundError, ImageError (in use)."""
        ...
