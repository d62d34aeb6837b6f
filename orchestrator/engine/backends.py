"""The wiring: which Runtime, Network, image source, shared /dev/shm and state store the
engine drives.

`real_backends` builds the Linux implementations; it is the one orchestrator module allowed
to import them (import-linter, pyproject.toml).  They are imported inside the functions, so
`pystack --help` imports none of them, and with their types, so mypy checks each against its
port (engine/ports.py).  Unit tests pass the fakes instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pystack.orchestrator.engine.ports import ImageSource, Network, Runtime, SharedShm
from pystack.orchestrator.engine.state import StateStore

if TYPE_CHECKING:
    from pystack.runtime.image.store import ImageStore as ImageStore

__all__ = ["BackendFactory", "Backends", "ImageSource", "image_store", "linux_runtime",
           "real_backends"]


@dataclass
class Backends:
    runtime: Runtime
    network: Network
    images: ImageSource
    state: StateStore
    shm: SharedShm | None = None      # None: no shared /dev/shm (the fakes)


BackendFactory = Callable[[str], Backends]


def linux_runtime(warm: bool = False) -> Runtime:
    """The Linux runtime.  `warm`: get it ready for starts now (`prewarm`: the shim template
    process starts), so that this overlaps with loading the stack file."""
    from pystack.runtime.linux_runtime import LinuxRuntime

    runtime: Runtime = LinuxRuntime()
    if warm:
        runtime.prewarm()
    return runtime


def image_store() -> ImageStore:
    """The image store, whole (the image commands use more of it than the engine's port)."""
    from pystack.runtime.image.store import ImageStore
    from pystack.runtime.statedirs import secure_roots

    secure_roots()
    return ImageStore()


def real_backends(project: str, runtime: Runtime | None = None) -> Backends:
    """The Linux runtime, the project's NetworkManager and the image store."""
    from pystack.net.manager import NetworkManager
    from pystack.runtime.shm import SharedMemory

    network: Network = NetworkManager(project)
    images: ImageSource = image_store()
    shm: SharedShm = SharedMemory()
    return Backends(runtime=runtime or linux_runtime(), network=network, images=images,
                    state=StateStore(), shm=shm)
