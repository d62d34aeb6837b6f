"""The runtime's exception tree, rooted at `ContainerRuntimeError`: errno and kernel failures
are translated into it at the boundary (`raise ... from e`).  The runtime never chooses an
exit code: the CLI maps these types to exit codes (orchestrator/cli/exit_codes.py)."""

from __future__ import annotations


class ContainerRuntimeError(Exception):
    """Root of the runtime's errors.  `hint` says how to fix it when we know."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ImageError(ContainerRuntimeError):
    """An image cannot be found, fetched, verified or unpacked."""


class ImageNotFoundError(ImageError):
    """No image of that reference (or id) is in the store or the registry."""


class ContainerNotFoundError(ContainerRuntimeError):
    """No container of that id exists."""


class CgroupError(ContainerRuntimeError):
    """A cgroup cannot be created, configured, frozen, emptied or removed."""


class SecurityConfigError(ContainerRuntimeError):
    """A capability, seccomp profile or sysctl request is invalid or cannot be applied."""
