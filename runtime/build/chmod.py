"""COPY/ADD `--chmod`: an octal mode, or a symbolic one as chmod(1) and BuildKit >= 1.10 take
it (BuildKit uses a port of BSD setmode(3), with umask 0):

    parse("0755").apply(0o600, False)        -> 0o755
    parse("u+x,g-w").apply(0o664, False)     -> 0o744
    parse("a=rX").apply(0o600, True)         -> 0o555    (X: only dirs and files with an x bit)

A clause is `[ugoa]*` then one or more `OP PERMS` (OP one of `+ - =`, PERMS from `rwxXst`, or
one of `u g o` to copy that class's current bits).  No `who` means all (umask 0).  A
symbolic mode is applied to each copied file's own mode; an octal one replaces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pystack.runtime.build.errors import BuildError

S_ISUID, S_ISGID, S_ISVTX = 0o4000, 0o2000, 0o1000
_STANDARD = S_ISUID | S_ISGID | 0o777
_ALL = 0o7777                       # the umask-0 mask
_WHO = {"u": S_ISUID | 0o700, "g": S_ISGID | 0o070, "o": 0o007, "a": _STANDARD}
_PERM = {"r": 0o444, "w": 0o222, "x": 0o111}
_SHIFT = {"u": 6, "g": 3, "o": 0}
_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")


@dataclass(frozen=True)
class ModeSpec:
    text: str
    octal: int | None = None
    # (the `who` letters, op, perms or a class letter to copy)
    actions: tuple[tuple[str, str, str], ...] = ()

    def apply(self, mode: int, is_dir: bool) -> int:
        """The new permission bits (and suid/sgid/sticky) of a file whose mode is `mode`
        (BSD setmode/getmode as BuildKit's port runs them, quirks included)."""
        if self.octal is not None:
            return self.octal
        orig = mode & 0o7777
        cur = orig
        for who_s, op, perms in self.actions:
            who = 0
            for w in who_s:
                who |= _WHO[w]
            if perms in _SHIFT:                      # u/g/o: copy that class's bits
                value = (cur >> _SHIFT[perms]) & 0o7
                bits = 0o7777 if who else _ALL
                classes = [sh for c, sh in _SHIFT.items() if not who or who & (0o4 << sh)]
                for sh in classes:
                    if op in "-=":
                        cur &= ~(((0o7 if op == "=" else value) << sh) & bits)
                    if op in "+=":
                        cur |= (value << sh) & bits
                continue
            value, x_if = 0, 0
            for p in perms:
                if p in _PERM:
                    value |= _PERM[p]
                elif p == "X":
                    if op == "-":
                        value |= 0o111
                    else:
                        x_if = 0o111
                elif p == "s" and (not who or who & ~0o007):
                    value |= S_ISUID | S_ISGID
            if "t" in perms and (not who or who & ~0o007):
                who |= S_ISVTX
                value |= S_ISVTX
            if op == "=":
                cur &= ~(who or _STANDARD)
            bits = (who or _ALL) & value
            cur = cur & ~bits if op == "-" else cur | bits
            if x_if and (orig & 0o111 or is_dir):
                cur |= (who or _ALL) & x_if
        return cur & 0o7777


def parse(text: str) -> ModeSpec:
    """An octal (at most 07777) or symbolic mode; BuildError for anything else."""
    if text[:1].isdigit():
        if re.fullmatch(r"[0-7]+", text) and int(text, 8) <= 0o7777:
            return ModeSpec(text, int(text, 8))
        raise BuildError(f"invalid chmod parameter: {text!r}. it should be octal string and "
                         "between 0 and 07777")
    actions: list[tuple[str, str, str]] = []
    for clause in text.split(","):
        m = _CLAUSE.fullmatch(clause)
        if m is None:
            raise BuildError(f"invalid chmod parameter: {text!r}: {clause!r} is not a mode",
                             hint="use an octal mode (0755) or a symbolic one (u+x,g-w)")
        for op, perms in _ACTION.findall(m.group(2)):
            actions.append((m.group(1), op, perms))
    return ModeSpec(text, None, tuple(actions))
