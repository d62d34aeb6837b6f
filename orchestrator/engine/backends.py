"""What the engine drives: a Runtime, a Network (per project), an image source and the state
store.  `real_backends` builds the Linux ones (imported lazily);
unit tests pass the fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pystack.net.api import Network
from pystack.orchestrator.engine.state import StateStore
from pystack.runtime.api import Runtime
from pystack.runtime.image.model import Image


class ImageSource(Protocol):
    """The part of runtime.image.ImageStore the engine uses."""

    def get(self, ref: str) -> Image: ...
    def exists(self, ref: str) -> bool: ...
    def pull(self, ref: str, progress: Any = None, insecure: bool = False) -> Image: ...


@dataclass
class Backends:
    runtime: Runtime
    network: Network
    images: ImageSource
    state: StateStore


BackendFactory = Callable[[str], Backends]


def linux_runtime(warm: bool = False) -> Runtime:
    """The Linux runtime.  `warm` asks it to get ready for starts now (its optional
    `prewarm()`: e.g. start the shim template process), so that this overlaps with loading
    the stack file instead of delaying the first container start."""
    from importlib import import_module

    linux: Any = import_module("pystack.runtime.linux_runtime")
    runtime = linux.LinuxRuntime()
    hook = getattr(runtime, "prewarm", None)
    if warm and callable(hook):
        hook()
    return runtime  # type: ignore[no-any-return]


def real_backends(project: str, runtime: Runtime | None = None) -> Backends:
    """The Linux runtime, the project's NetworkManager and the image store."""
    from importlib import import_module

    # Looked up by name so the engine type-checks before every backend exists.
    manager: Any = import_module("pystack.net.manager")
    store: Any = import_module("pystack.runtime.image.store")
    return Backends(runtime=runtime or linux_runtime(), network=manager.NetworkManager(project),
                    images=store.ImageStore(), state=StateStore())
