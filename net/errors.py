"""The net package's exception tree: netlink/nft failures are translated here at the boundary."""

from __future__ import annotations


class NetError(Exception):
    """Base of networking errors.  `hint` says how to fix it when we know."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NetworkNotFoundError(NetError):
    exit_code = 4


class PortInUseError(NetError):
    """A published host port is already taken on the host."""


class NetConfigError(NetError):
    """A network, attachment or port request is invalid (bad subnet, address outside it...)."""

    exit_code = 3


class AddressInUseError(NetError):
    """A requested address (static IP, subnet) is already taken."""


class PoolExhaustedError(NetError):
    """No free subnet (or address) is left in the pool."""


class SandboxNotFoundError(NetError):
    exit_code = 4
