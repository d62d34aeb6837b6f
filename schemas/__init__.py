"""pystack.schemas: the JSON Schema (draft 2020-12) of the stack file pystack accepts."""

from importlib import resources


def read_text(name: str) -> str:
    """Return the text of a schema file shipped in this package."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
