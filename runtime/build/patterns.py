"""Path patterns: `.dockerignore` in moby/patternmatcher semantics, and Go's filepath.Match.

    m = IgnoreMatcher.from_text(".git\n**/*.pyc\n!keep.pyc\n")
    m.excluded("src/a.pyc")        -> True    (a pattern matches the path or one of its parents;
                                               the last matching pattern wins, `!` re-includes)
    go_match("src/*.py", "src/a.py") -> True  (`*` and `?` never match "/")

.dockerignore lines are trimmed, `#` lines are comments, each pattern is cleaned as Go's
filepath.Clean does and a leading "/" dropped; `**` matches any number of directories.
"""

from __future__ import annotations

import posixpath
import re
import warnings
from dataclasses import dataclass

from pystack.runtime.build.errors import BuildError

_ESCAPE = set(".+()|{}$^")


def clean(path: str) -> str:
    """Go's path.Clean."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    rx = ["^"]
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                rx.append(".*" if i >= n else "(.*/)?")
            else:
                rx.append("[^/]*")
        elif ch == "?":
            rx.append("[^/]")
        elif ch in _ESCAPE:
            rx.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                rx.append(re.escape(pattern[i]))
                i += 1
            else:
                rx.append("\\\\")
        elif ch == "[":
            rx.append("\\[" if in_class else "[")
            in_class = True
        elif ch == "]":
            rx.append("]")
            in_class = False
        else:
            rx.append(ch if ch == "-" else re.escape(ch))
    rx.append("$")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)      # "possible nested set"
            return re.compile("".join(rx), re.S)
    except re.error as e:
        raise BuildError(f"invalid .dockerignore pattern {pattern!r}: {e}") from None


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    rx: re.Pattern[str]


class IgnoreMatcher:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p or p.startswith("#"):
                continue
            exclusion = p.startswith("!")
            if exclusion:
                p = p[1:].strip()
                if not p:
                    raise BuildError("illegal exclusion pattern: \"!\" in .dockerignore")
            p = clean(p)
            if len(p) > 1 and p.startswith("/"):
                p = p[1:]
            self.patterns.append(_Pattern(p, exclusion, _compile(p)))
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    @classmethod
    def from_text(cls, text: str) -> IgnoreMatcher:
        return cls(text.splitlines())

    def excluded(self, rel: str) -> bool:
        """MatchesOrParentMatches: is the context path `rel` (slash-separated) left out?"""
        rel = clean(rel)
        parents = rel.split("/")[:-1]
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue
            hit = bool(p.rx.match(rel))
            if not hit:
                for i in range(len(parents)):
                    if p.rx.match("/".join(parents[:i + 1])):
                        hit = True
                        break
            if hit:
                matched = not p.exclusion
        return matched


def has_wildcards(path: str) -> bool:
    return any(c in path for c in "*?[")


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match (on "/" paths): `*` any run of non-"/", `?` one non-"/",
    `[...]` a class (`^` negates, ranges), `\\` escapes.  A malformed pattern is an error."""
    rx: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            rx.append("[^/]*")
        elif ch == "?":
            rx.append("[^/]")
        elif ch == "\\":
            if i >= n:
                raise BuildError(f"syntax error in pattern {pattern!r}")
            rx.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            j = i
            neg = j < n and pattern[j] == "^"
            if neg:
                j += 1
            body: list[str] = []
            first = True
            while j < n and (pattern[j] != "]" or first):
                c = pattern[j]
                if c == "\\" and j + 1 < n:
                    j += 1
                    c = pattern[j]
                if c in "/":
                    raise BuildError(f"syntax error in pattern {pattern!r}")
                body.append("\\" + c if c in "\\^[]" else c)
                first = False
                j += 1
            if j >= n or not body:
                raise BuildError(f"syntax error in pattern {pattern!r}")
            rx.append(("[^/" if neg else "[") + "".join(body) + "]")
            i = j + 1
        else:
            rx.append(re.escape(ch))
    return re.fullmatch("".join(rx), name, re.S) is not None
