"""Where each key and value of the loaded stack came from (file, line, column), and THE format
of a config problem line: ``FILE:LINE:COL: services.web.ports[1]: message (hint)``.

Every stage of the loader keeps marks so later stages (schema, semantics) can point at the
exact line of a problem, even after files were merged, extended or included.
"""

from __future__ import annotations

from dataclasses import dataclass

TreePath = tuple[str | int, ...]
"""A path into the loaded tree: ("services", "web", "ports", 1)."""


@dataclass(frozen=True)
class Mark:
    """A position in a source file; ``file`` is the path as given/resolved ("<stdin>" for -)."""

    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Marks:
    """The marks of every mapping key and every value of a tree, by path."""

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: dict[TreePath, Mark] = {}
        self._values: dict[TreePath, Mark] = {}

    def key(self, path: TreePath) -> Mark | None:
        """Mark of the mapping key at ``path`` (None for list items and unknown paths)."""
        return self._keys.get(tuple(path))

    def value(self, path: TreePath) -> Mark | None:
        """Mark of the value at ``path``."""
        return self._values.get(tuple(path))

    def nearest(self, path: TreePath) -> Mark | None:
        """Value (else key) mark of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            m = self._values.get(p) or self._keys.get(p)
            if m is not None or not p:
                return m
            p = p[:-1]

    def set(self, path: TreePath, key: Mark | None, value: Mark | None) -> None:
        p = tuple(path)
        if key is not None:
            self._keys[p] = key
        if value is not None:
            self._values[p] = value

    def __len__(self) -> int:
        return len(self._values)


def format_path(path: TreePath) -> str:
    """``("services", "web", "ports", 1)`` -> ``services.web.ports[1]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + str(part))
    return "".join(out)


def problem(mark: Mark | None, path: TreePath, message: str, hint: str | None = None) -> str:
    """Format one problem line: ``FILE:LINE:COL: path: message (hint)``.

    Parts that are unknown are left out: no mark -> no position, empty path -> no path.
    """
    parts: list[str] = []
    if mark is not None:
        parts.append(str(mark))
    if path:
        parts.append(format_path(path))
    text = message if hint is None else f"{message} ({hint})"
    parts.append(text)
    return ": ".join(parts)
