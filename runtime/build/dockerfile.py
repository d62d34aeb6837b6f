"""The Dockerfile frontend: text -> stages of located instructions.

Parsing is BuildKit's own Go parser (PyPI `dockerfile`, which wraps
moby/buildkit/frontend/dockerfile/parser): line continuations, the escape directive,
comments inside continuations, JSON forms, flags and heredocs come out exactly as BuildKit
reads them.  On top of it, as dockerfile2llb does: the directives (`# syntax=`, `# escape=`,
`# check=`), heredoc modifiers the wrapper does not expose (`<<-` chomping, quoted
delimiters = no expansion), instruction names checked (did you mean), flags split and checked
per instruction, and the file cut into global ARGs and FROM stages.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pystack.runtime.build.errors import BuildError

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
                "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL",
                "USER", "VOLUME", "WORKDIR")
# flag name -> repeatable?  (BuildKit's instructions/parse.go; labs-only flags left out)
FLAGS: dict[str, dict[str, bool]] = {
    "FROM": {"platform": False},
    "RUN": {"mount": True, "network": False, "security": False},
    "COPY": {"from": False, "chown": False, "chmod": False, "link": False, "parents": False,
             "exclude": True},
    "ADD": {"chown": False, "chmod": False, "link": False, "checksum": False,
            "keep-git-dir": False, "exclude": True, "unpack": False},
    "HEALTHCHECK": {"interval": False, "timeout": False, "start-period": False,
                    "start-interval": False, "retries": False},
}
_SYNTAX_OK = re.compile(r"^(docker\.io/)?docker/dockerfile(-upstream)?(:1(\.\d+){0,2}"
                        r"(-labs)?)?(@sha256:[0-9a-f]{64})?$")
_HEREDOC = re.compile(r"^<<(-?)(['\"]?)([A-Za-z0-9_.\-]+)\2")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str                    # tabs already stripped for `<<-`
    expand: bool                    # False when the delimiter was quoted


@dataclass(frozen=True)
class Instruction:
    cmd: str                        # upper case
    line: int
    end_line: int
    args: tuple[str, ...]
    json: bool
    original: str
    flags: tuple[tuple[str, str | None], ...] = ()   # (name, value or None for a bare flag)
    heredocs: tuple[Heredoc, ...] = ()
    trigger: str = ""               # ONBUILD: the triggered instruction's text

    def flag(self, name: str) -> str | None:
        for k, v in reversed(self.flags):
            if k == name:
                return "true" if v is None else v
        return None

    def flag_all(self, name: str) -> list[str]:
        return [v or "" for k, v in self.flags if k == name]


@dataclass(frozen=True)
class Stage:
    index: int
    name: str                       # lower-cased AS name, or "" (then referred to by index)
    base: str                       # FROM's image (unexpanded)
    platform: str | None
    line: int
    instructions: tuple[Instruction, ...]

    @property
    def label(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True)
class Dockerfile:
    name: str                       # as shown in errors ("Dockerfile")
    escape: str
    syntax: str | None
    global_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    text: str

    def where(self, line: int) -> str:
        return f"{self.name}:{line}"


def _directives(text: str, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        m = _DIRECTIVE.match(raw.strip())
        if not m or not raw.lstrip().startswith("#"):
            break
        key = m.group(1).lower()
        if key not in ("syntax", "escape", "check"):
            break
        if key in out:
            raise BuildError(f"only one {key} parser directive can be used",
                             where=f"{name}:{n}")
        out[key] = m.group(2)
    return out


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile `text`; BuildError (located at `name:LINE`) on any problem."""
    import dockerfile as go

    directives = _directives(text, name)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise BuildError(f"invalid escape token {escape!r} does not match ` or \\",
                         where=f"{name}:1")
    syntax = directives.get("syntax")
    if syntax is not None and not _SYNTAX_OK.match(syntax):
        raise BuildError(f"unsupported syntax frontend {syntax!r}",
                         hint="pystack builds with its own frontend: use "
                              "`# syntax=docker/dockerfile:1` or drop the directive",
                         where=f"{name}:1")
    try:
        cmds = go.parse_string(text)
    except go.GoParseError as e:
        raise BuildError(f"{e}", where=f"{name}:{_guess_line(text, str(e))}") from None
    instructions = [_instruction(c, name, escape) for c in cmds]
    if not instructions:
        raise BuildError("the Dockerfile has no instructions", where=f"{name}:1",
                         hint="start it with FROM")
    return _stages(instructions, name, escape, syntax, text)


def _guess_line(text: str, msg: str) -> int:
    lines = text.splitlines()
    if "heredoc" in msg:
        for n in range(len(lines), 0, -1):
            if "<<" in lines[n - 1]:
                return n
    return max(len(lines), 1)


def _instruction(c: Any, name: str, escape: str) -> Instruction:
    cmd = str(getattr(c, "cmd", "")).upper()
    line = int(getattr(c, "start_line", 0))
    where = f"{name}:{line}"
    if cmd not in INSTRUCTIONS:
        close = difflib.get_close_matches(cmd, INSTRUCTIONS, n=1, cutoff=0.6)
        raise BuildError(f"unknown instruction: {cmd}" +
                         (f" (did you mean {close[0].lower()}?)" if close else ""),
                         where=where)
    values = tuple(str(v) for v in getattr(c, "value", ()))
    original = str(getattr(c, "original", ""))
    flags = _flags(cmd, tuple(str(f) for f in getattr(c, "flags", ())), where)
    trigger = ""
    if cmd == "ONBUILD":
        sub = str(getattr(c, "sub_cmd", "") or "").upper()
        if not sub:
            raise BuildError("ONBUILD requires at least one argument", where=where)
        if sub in ("ONBUILD", "FROM", "MAINTAINER"):
            raise BuildError(f"{sub} isn't allowed as an ONBUILD trigger", where=where)
        trigger = original.split(None, 1)[1] if " " in original.strip() else ""
    heredocs: list[Heredoc] = []
    raw_docs = tuple(getattr(c, "heredocs", ()))
    if raw_docs:
        marks = [m for m in (_HEREDOC.match(w) for v in values for w in v.split()) if m]
        for i, h in enumerate(raw_docs):
            mark = marks[i] if i < len(marks) else None
            chomp = bool(mark and mark.group(1))
            content = str(h.content)
            if chomp:
                content = "".join(ln.lstrip("\t") for ln in content.splitlines(keepends=True))
            heredocs.append(Heredoc(str(h.name), content, not (mark and mark.group(2))))
    return Instruction(cmd=cmd, line=line, end_line=int(getattr(c, "end_line", line)),
                       args=values if values != ("",) else (), json=bool(c.json),
                       original=original, flags=flags, heredocs=tuple(heredocs),
                       trigger=trigger)


def _flags(cmd: str, raw: tuple[str, ...], where: str) -> tuple[tuple[str, str | None], ...]:
    allowed = FLAGS.get(cmd, {})
    out: list[tuple[str, str | None]] = []
    for f in raw:
        body = f[2:] if f.startswith("--") else f
        key, eq, value = body.partition("=")
        if key not in allowed:
            known = ", ".join(f"--{k}" for k in allowed) or "none"
            raise BuildError(f"{cmd}: unknown flag: --{key} (known flags: {known})",
                             where=where)
        if not allowed[key] and any(k == key for k, _ in out):
            raise BuildError(f"{cmd}: duplicate flag specified: --{key}", where=where)
        out.append((key, value if eq else None))
    return tuple(out)


def _stages(instrs: list[Instruction], name: str, escape: str, syntax: str | None,
            text: str) -> Dockerfile:
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    current: list[Instruction] | None = None
    head: Instruction | None = None
    seen: set[str] = set()

    def close() -> None:
        if head is not None and current is not None:
            base, platform, alias = _from(head, name)
            if alias:
                if alias in seen:
                    raise BuildError(f"duplicate stage name {alias!r}",
                                     where=f"{name}:{head.line}")
                seen.add(alias)
            stages.append(Stage(len(stages), alias, base, platform, head.line,
                                tuple(current)))

    for ins in instrs:
        if ins.cmd == "FROM":
            close()
            head, current = ins, []
        elif current is None:
            if ins.cmd != "ARG":
                raise BuildError(f"{ins.cmd}: no build stage in current context",
                                 where=f"{name}:{ins.line}",
                                 hint="only ARG may come before the first FROM")
            global_args.append(ins)
        else:
            current.append(ins)
    close()
    if not stages:
        raise BuildError("the Dockerfile has no FROM", where=f"{name}:1")
    return Dockerfile(name, escape, syntax, tuple(global_args), tuple(stages), text)


def _from(ins: Instruction, name: str) -> tuple[str, str | None, str]:
    args = ins.args
    where = f"{name}:{ins.line}"
    if len(args) == 1:
        alias = ""
    elif len(args) == 3 and args[1].upper() == "AS":
        alias = args[2].lower()
        if not re.fullmatch(r"[a-z][a-z0-9\-_.]*", alias):
            raise BuildError(f"invalid name for build stage: {args[2]!r}, name can't start "
                             "with a number or contain symbols", where=where)
    else:
        raise BuildError("FROM requires either one or three arguments", where=where,
                         hint="FROM IMAGE [AS NAME]")
    return args[0], ins.flag("platform"), alias
