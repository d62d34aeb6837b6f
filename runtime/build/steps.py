"""The instructions that only change the image config (ENV, LABEL, ARG, USER, EXPOSE, VOLUME,
STOPSIGNAL, SHELL, CMD, ENTRYPOINT, HEALTHCHECK, MAINTAINER, ONBUILD), on a StageState.

Expansion follows BuildKit: ENV, LABEL, ARG, USER, EXPOSE, VOLUME, STOPSIGNAL (and WORKDIR,
COPY, ADD, FROM elsewhere) are expanded with the stage's ENV over its ARGs; CMD, ENTRYPOINT,
HEALTHCHECK, SHELL, MAINTAINER, ONBUILD and RUN are not (the shell does it at run time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pystack.runtime.build.dockerfile import Dockerfile, Instruction
from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.layers import LayerRef
from pystack.runtime.build.shell import expand_word

DEFAULT_SHELL = ("/bin/sh", "-c")
_DUR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DUR_UNIT = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}


@dataclass
class StageState:
    """A stage being built: its layers, its image config and what its steps can see."""

    layers: list[LayerRef] = field(default_factory=list)
    diff_ids: list[str] = field(default_factory=list)          # the base's, then ours
    blobs: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)            # chain id of each layer
    doc: dict[str, Any] = field(default_factory=dict)          # the whole image config doc
    history: list[dict[str, Any]] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)         # ARGs in scope (with values)
    fs_key: str = ""
    created: str = ""
    cmd_set: bool = False

    @property
    def config(self) -> dict[str, Any]:
        cfg = self.doc.setdefault("config", {})
        assert isinstance(cfg, dict)
        return cfg

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out

    def set_env(self, key: str, value: str) -> None:
        env = self.env()
        env[key] = value
        self.config["Env"] = [f"{k}={v}" for k, v in env.items()]

    def lookup(self) -> dict[str, str]:
        """What a word is expanded with: ARGs, then ENV over them."""
        return {**self.args, **self.env()}

    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return str(self.config.get("WorkingDir") or "/")


def duration_ns(text: str, what: str, where: str) -> int:
    """A Go duration ("30s", "1m30s", "500ms") in nanoseconds."""
    if text == "0":
        return 0
    pos = 0
    total = 0.0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DUR_UNIT[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise BuildError(f"HEALTHCHECK: {what}: invalid duration {text!r}", where=where,
                         hint="use Go durations such as 30s, 1m30s or 500ms")
    return int(total)


def _pairs(ins: Instruction, where: str) -> list[tuple[str, str]]:
    vals = list(ins.args)
    if not vals or len(vals) % 2:
        raise BuildError(f"{ins.cmd} requires at least one argument"
                         if not vals else f"{ins.cmd}: a key has no value", where=where,
                         hint=f"{ins.cmd} KEY=VALUE ...")
    return [(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]


def _cmdline(st: StageState, ins: Instruction) -> list[str]:
    if ins.json:
        return list(ins.args)
    return [*st.shell, " ".join(ins.args)]


def apply(st: StageState, ins: Instruction, df: Dockerfile, build_args: Mapping[str, str],
          meta_args: Mapping[str, str], used: set[str]) -> str:
    """Apply a config-only instruction; returns its history text."""
    where = df.where(ins.line)
    esc = df.escape

    def x(word: str) -> str:
        try:
            return expand_word(word, st.lookup(), esc)
        except BuildError as e:
            raise BuildError(f"{ins.cmd}: {e.message}", where=where) from None

    cfg = st.config
    c = ins.cmd
    if c == "ENV":
        before = st.lookup()
        for k, v in _pairs(ins, where):
            key = expand_word(k, before, esc)
            if not key:
                raise BuildError("ENV names can not be blank", where=where)
            st.set_env(key, expand_word(v, before, esc))
    elif c == "LABEL":
        labels = dict(cfg.get("Labels") or {})
        for k, v in _pairs(ins, where):
            labels[x(k)] = x(v)
        cfg["Labels"] = labels
    elif c == "ARG":
        if not ins.args:
            raise BuildError("ARG requires at least one argument", where=where)
        for a in ins.args:
            name, eq, default = a.partition("=")
            name = x(name)
            used.add(name)
            if name in build_args:
                st.args[name] = build_args[name]
            elif eq:
                st.args[name] = x(default)
            elif name in meta_args:
                st.args[name] = meta_args[name]
    elif c == "USER":
        if len(ins.args) != 1:
            raise BuildError("USER requires exactly one argument", where=where)
        cfg["User"] = x(ins.args[0])
    elif c == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        for p in ins.args:
            v = x(p)
            ports[v if "/" in v else f"{v}/tcp"] = {}
        cfg["ExposedPorts"] = ports
    elif c == "VOLUME":
        vols = dict(cfg.get("Volumes") or {})
        for v in ins.args:
            path = x(v)
            if not path.strip():
                raise BuildError("VOLUME specified can not be an empty string", where=where)
            vols[path] = {}
        cfg["Volumes"] = vols
    elif c == "STOPSIGNAL":
        cfg["StopSignal"] = x(ins.args[0]) if ins.args else ""
    elif c == "SHELL":
        if not ins.json or not ins.args:
            raise BuildError("SHELL requires the arguments to be in JSON form", where=where,
                             hint='SHELL ["/bin/sh", "-c"]')
        cfg["Shell"] = list(ins.args)
    elif c == "CMD":
        cfg["Cmd"] = _cmdline(st, ins)
        st.cmd_set = True
    elif c == "ENTRYPOINT":
        cfg["Entrypoint"] = _cmdline(st, ins) if ins.args or ins.json else None
        if not st.cmd_set:
            cfg["Cmd"] = None
    elif c == "HEALTHCHECK":
        cfg["Healthcheck"] = _healthcheck(st, ins, where)
    elif c == "MAINTAINER":
        st.doc["author"] = " ".join(ins.args)
    elif c == "ONBUILD":
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.trigger]
    else:
        raise BuildError(f"{c}: not a config instruction", where=where)
    if c in ("CMD", "ENTRYPOINT"):           # as BuildKit's fmt.Sprintf("CMD %q", cmdline)
        import json

        value = cfg.get("Cmd" if c == "CMD" else "Entrypoint") or []
        return f"{c} [" + " ".join(json.dumps(v) for v in value) + "]"
    if c in ("ENV", "LABEL"):
        return f"{c} " + " ".join(f"{k}={v}" for k, v in _pairs(ins, where))
    return f"{c} {' '.join(ins.args)}".strip()


def _healthcheck(st: StageState, ins: Instruction, where: str) -> dict[str, Any]:
    args = list(ins.args)
    if not args:
        raise BuildError("HEALTHCHECK requires an argument", where=where)
    kind = args[0].upper()
    if kind == "NONE":
        if len(args) > 1 or ins.flags:
            raise BuildError("HEALTHCHECK NONE takes no other arguments", where=where)
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise BuildError(f"HEALTHCHECK: unknown type {args[0]!r}", where=where,
                         hint="HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")
    rest = args[1:]
    if ins.json:
        test = ["CMD", *rest]
    else:
        line = " ".join(rest)
        if line.upper().startswith("CMD"):
            line = line[3:].lstrip()
        test = ["CMD-SHELL", line]
    if len(test) < 2 or not test[1]:
        raise BuildError("HEALTHCHECK CMD needs a command", where=where)
    hc: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        v = ins.flag(flag)
        if v is not None:
            ns = duration_ns(v, f"--{flag}", where)
            if 0 < ns < 1_000_000:
                raise BuildError(f"HEALTHCHECK: --{flag} cannot be less than 1ms",
                                 where=where)
            hc[key] = ns
    r = ins.flag("retries")
    if r is not None:
        if not r.isdigit() or int(r) < 1:
            raise BuildError("HEALTHCHECK: --retries must be at least 1", where=where)
        hc["Retries"] = int(r)
    return hc
