"""The seccomp profile model (frozen dataclasses) and the Docker seccomp JSON reader.

A profile is an ordered list of rules; for a syscall the first rule whose argument tests all
match decides the action, else the default action.  The reader accepts the common subset of
Docker's format (defaultAction, defaultErrnoRet, syscalls[].names/name/action/args/errnoRet,
includes/excludes by caps, arches and minKernel); anything it cannot honour is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pystack.runtime.errors import SecurityConfigError

ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
           "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG")
OPS = ("SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT",
       "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ")


@dataclass(frozen=True)
class Arg:
    index: int
    op: str
    value: int                 # MASKED_EQ: the mask
    value_two: int = 0         # MASKED_EQ: the datum


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    action: str
    args: tuple[Arg, ...] = ()
    errno_ret: int | None = None
    includes_caps: tuple[str, ...] = ()
    excludes_caps: tuple[str, ...] = ()
    includes_arches: tuple[str, ...] = ()
    excludes_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class Profile:
    default_action: str
    default_errno: int = 1
    rules: tuple[Rule, ...] = ()


def _err(where: str, what: str) -> SecurityConfigError:
    return SecurityConfigError(f"seccomp profile {where}: {what}")


def _action(v: Any, where: str) -> str:
    if v == "SCMP_ACT_NOTIFY" or v == "SCMP_ACT_TRACE":
        raise _err(where, f"action {v} is not supported by pystack")
    if v not in ACTIONS:
        raise _err(where, f"unknown action {v!r}")
    return str(v)


def _u64(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << 64:
        raise _err(where, f"{v!r} is not an unsigned 64-bit integer")
    return v


def _kernel(v: Any, where: str) -> tuple[int, int]:
    try:
        major, minor = str(v).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        raise _err(where, f"minKernel {v!r} is not like \"4.8\"") from None


def _strs(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(where, "expected a list of strings")
    return tuple(v)


def _arg(a: Any, where: str) -> Arg:
    if not isinstance(a, dict):
        raise _err(where, "an argument test must be an object")
    idx = a.get("index")
    if not isinstance(idx, int) or not 0 <= idx <= 5:
        raise _err(where, f"argument index {idx!r} is not 0..5")
    op = a.get("op")
    if op not in OPS:
        raise _err(where, f"unsupported op {op!r} (supported: {', '.join(OPS)})")
    return Arg(idx, str(op), _u64(a.get("value", 0), where), _u64(a.get("valueTwo", 0), where))


def _rule(s: Any, i: int) -> Rule:
    where = f"syscalls[{i}]"
    if not isinstance(s, dict):
        raise _err(where, "must be an object")
    names = _strs(s.get("names"), where + ".names")
    if "name" in s:
        if not isinstance(s["name"], str):
            raise _err(where + ".name", "must be a string")
        names = (*names, s["name"])
    if not names:
        raise _err(where, "has no syscall names")
    action = _action(s.get("action"), where + ".action")
    errno_ret = s.get("errnoRet")
    if errno_ret is not None and (not isinstance(errno_ret, int) or not 0 <= errno_ret < 4096):
        raise _err(where + ".errnoRet", f"{errno_ret!r} is not an errno number")
    args_v = s.get("args") or []
    if not isinstance(args_v, list):
        raise _err(where + ".args", "must be a list")
    inc, exc = s.get("includes") or {}, s.get("excludes") or {}
    if not isinstance(inc, dict) or not isinstance(exc, dict):
        raise _err(where, "includes/excludes must be objects")
    return Rule(
        names=names, action=action,
        args=tuple(_arg(a, f"{where}.args[{j}]") for j, a in enumerate(args_v)),
        errno_ret=errno_ret,
        includes_caps=_strs(inc.get("caps"), where + ".includes.caps"),
        excludes_caps=_strs(exc.get("caps"), where + ".excludes.caps"),
        includes_arches=_strs(inc.get("arches"), where + ".includes.arches"),
        excludes_arches=_strs(exc.get("arches"), where + ".excludes.arches"),
        min_kernel=_kernel(inc["minKernel"], where) if inc.get("minKernel") else None,
    )


def parse_profile(data: Any) -> Profile:
    """A Profile from a decoded Docker seccomp JSON document."""
    if not isinstance(data, dict):
        raise _err("", "the document must be a JSON object")
    if data.get("listenerPath"):
        raise _err("listenerPath", "user notification is not supported by pystack")
    default = _action(data.get("defaultAction"), "defaultAction")
    derr = data.get("defaultErrnoRet", 1)
    if not isinstance(derr, int) or not 0 <= derr < 4096:
        raise _err("defaultErrnoRet", f"{derr!r} is not an errno number")
    calls = data.get("syscalls") or []
    if not isinstance(calls, list):
        raise _err("syscalls", "must be a list")
    return Profile(default, derr, tuple(_rule(s, i) for i, s in enumerate(calls)))


def load_profile(path: str) -> Profile:
    """Read a Docker seccomp JSON profile file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise SecurityConfigError(f"cannot read seccomp profile {path}: {e.strerror}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise SecurityConfigError(f"seccomp profile {path} is not valid JSON: {e}") from e
    try:
        return parse_profile(data)
    except SecurityConfigError as e:
        raise SecurityConfigError(f"{path}: {e.message}") from e
