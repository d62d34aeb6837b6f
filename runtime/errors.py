"""The runtime's exception tree: errno and kernel failures are translated here at the boundary."""

from __future__ import annotations


class ContainerRuntimeError(Exception):
    """Base of runtime errors.  `hint` says how to fix it when we know."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ImageError(ContainerRuntimeError):
    """An image cannot be found, fetched, verified or unpacked."""


class ImageNotFoundError(ImageError):
    exit_code = 4


class ContainerNotFoundError(ContainerRuntimeError):
    exit_code = 4


class CgroupError(ContainerRuntimeError):
    """A cgroup cannot be created, configured, frozen, emptied or removed."""


class SecurityConfigError(ContainerRuntimeError):
    """A capability, seccomp profile or sysctl request is invalid or cannot be applied."""
