"""The net package's exception tree, rooted at `NetError`: netlink/nft failures are translated
into it at the boundary (`raise ... from e`).  net never chooses an exit code: the CLI maps
these types to exit codes (orchestrator/cli/exit_codes.py)."""

from __future__ import annotations


class NetError(Exception):
    """Root of the networking errors.  `hint` says how to fix it when we know."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NetworkNotFoundError(NetError):
    """No network of that name exists (an `external` one, or one asked for by name)."""


class PortInUseError(NetError):
    """A published host port is already taken on the host."""


class NetConfigError(NetError):
    """A network, attachment or port request is invalid (bad subnet, address outside it...),
    or one of net's settings is (PYSTACK_IFPREFIX)."""


class NetworkConflictError(NetError):
    """A network of that name exists and belongs to another project, or with another config."""


class AddressInUseError(NetError):
    """A requested address (static IP, subnet) is already taken."""


class PoolExhaustedError(NetError):
    """No free subnet (or address) is left in the pool."""


class SandboxNotFoundError(NetError):
    """No sandbox (network namespace and its attachments) exists for that container."""
