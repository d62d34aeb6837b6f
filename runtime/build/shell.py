"""Variable expansion as BuildKit's shell lexer (frontend/dockerfile/shell/lex.go) does it.

    expand_word('"$A"-${B:-x}', env, escape="\\")  -> 'value-x'

One word in, one word out, quotes removed (ProcessWord).  Supported, as BuildKit: `$NAME`,
`${NAME}`, `${NAME:-w}` `${NAME-w}` `${NAME:+w}` `${NAME+w}` `${NAME:?msg}` `${NAME?msg}`,
`${NAME#pat}` `${NAME##pat}` `${NAME%pat}` `${NAME%%pat}`, `${NAME/pat/repl}`
`${NAME//pat/repl}`; single quotes are literal; in double quotes only `"`, `$` and the escape
character can be escaped; an unset variable expands to "".  `raw=True` is the heredoc mode
(RawQuotes + RawEscapes): quotes and escapes are kept, only `$` expands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pystack.runtime.build.errors import BuildError

_SPECIAL = set("@*#?-$!0")


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, raw: bool) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.esc = escape
        self.raw = raw

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1 if ch else 0
        return ch

    def word(self, stop: str = "") -> str:
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                if stop:
                    raise BuildError(f"missing '{stop}' in {self.s!r}")
                return "".join(out)
            if stop and ch == stop:
                self.next()
                return "".join(out)
            if ch == self.esc:
                self.next()
                nxt = self.next()
                if self.raw:
                    out.append(ch + nxt)
                elif nxt:
                    out.append(nxt)
                continue
            if ch == "'" and not self.raw:
                out.append(self._single())
            elif ch == '"' and not self.raw:
                out.append(self._double())
            elif ch == "$":
                out.append(self._dollar())
            else:
                out.append(self.next())

    def _single(self) -> str:
        self.next()
        end = self.s.find("'", self.i)
        if end < 0:
            raise BuildError("unexpected end of statement while looking for matching "
                             f"single-quote in {self.s!r}")
        text = self.s[self.i:end]
        self.i = end + 1
        return text

    def _double(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise BuildError("unexpected end of statement while looking for matching "
                                 f"double-quote in {self.s!r}")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.next()
            if ch == self.esc:
                nxt = self.peek()
                if not nxt:
                    continue
                if nxt in ('"', "$", self.esc):
                    ch = self.next()
            out.append(ch)

    def _name(self) -> str:
        ch = self.peek()
        if ch.isdigit():
            start = self.i
            while self.peek().isdigit():
                self.next()
            return self.s[start:self.i]
        if ch and ch in _SPECIAL:
            return self.next()
        start = self.i
        while (c := self.peek()) and (c.isalnum() or c == "_"):
            self.next()
        return self.s[start:self.i]

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.next()
        name = self._name()
        if not name:
            raise BuildError(f"bad substitution in {self.s!r}")
        ch = self.next()
        value = self.env.get(name)
        if ch == "}":
            return value or ""
        if ch == ":":
            op = self.next()
            word = self.word("}")
            if op == "-":
                return value if value else word
            if op == "+":
                return word if value else ""
            if op == "?":
                if not value:
                    raise BuildError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise BuildError(f"unsupported modifier ({op}) in substitution in {self.s!r}")
        if ch in ("-", "+", "?"):
            word = self.word("}")
            if ch == "-":
                return word if value is None else value
            if ch == "+":
                return word if value is not None else ""
            if value is None:
                raise BuildError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in ("#", "%"):
            greedy = self.peek() == ch
            if greedy:
                self.next()
            pat = self.word("}")
            return _trim(value or "", pat, prefix=ch == "#", greedy=greedy)
        if ch == "/":
            every = self.peek() == "/"
            if every:
                self.next()
            pat = self._until("/}")
            repl = ""
            if self.s[self.i - 1] == "/":
                repl = self.word("}")
            return _replace(value or "", pat, repl, every)
        raise BuildError(f"unsupported modifier ({ch or 'end of word'}) in substitution in "
                         f"{self.s!r}")

    def _until(self, stops: str) -> str:
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise BuildError(f"missing '}}' in {self.s!r}")
            self.next()
            if ch in stops:
                return "".join(out)
            if ch == "$":
                self.i -= 1
                out.append(self._dollar())
                continue
            out.append(ch)


def _glob_re(pat: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < len(pat):
            i += 1
            out.append(re.escape(pat[i]))
        elif c == "[":
            end = pat.find("]", i + 2 if pat[i + 1:i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pat[i + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _trim(value: str, pat: str, prefix: bool, greedy: bool) -> str:
    rx = re.compile(_glob_re(pat), re.S)
    cuts = range(len(value) + 1)
    order = reversed(cuts) if greedy else cuts
    for n in order:
        part = value[:n] if prefix else value[len(value) - n:]
        if rx.fullmatch(part):
            return value[n:] if prefix else value[:len(value) - n]
    return value


def _replace(value: str, pat: str, repl: str, every: bool) -> str:
    if not pat:
        return value
    rx = re.compile(_glob_re(pat), re.S)
    return rx.sub(lambda _m: repl, value, count=0 if every else 1)


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\",
                raw: bool = False) -> str:
    """ProcessWord: `text` with variables expanded and (unless raw) quotes removed."""
    return _Lexer(text, env, escape, raw).word()


def words_of(text: str, escape: str = "\\") -> list[str]:
    """Split a value on unquoted whitespace, quotes kept (for `ENV a b c` legacy values)."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == escape and i + 1 < len(text):
            cur.append(c + text[i + 1])
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c in ("'", '"'):
            quote = c
        elif c.isspace():
            if cur:
                out.append("".join(cur))
                cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if cur:
        out.append("".join(cur))
    return out
