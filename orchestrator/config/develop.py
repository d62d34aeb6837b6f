"""`develop.watch` of a service: its checks at load, its canonical form and its model.

Compose v2 (`docker compose watch`, `up --watch`) is the reference: a rule has a `path` on the
host (relative to the project directory), an `action` (`sync`, `sync+restart`, `sync+exec`,
`restart`, `rebuild`), a `target` in the container for the sync actions, `ignore`/`include`
patterns in .dockerignore syntax (relative to `path`), `initial_sync`, and for `sync+exec` an
`exec` hook (command, user, privileged, working_dir, environment).

What compose-go and Compose only find when `watch` runs is checked here, so a file that
`pystack config` accepts never fails later because of its own content: a sync action without
`target` (or with a relative one), `rebuild` on a service without `build:`, `sync+exec`
without a command, and patterns the matcher cannot compile.  The pattern rule itself is the
builder's (.dockerignore in moby/patternmatcher semantics, runtime/build/patterns.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pystack.orchestrator.config import model as m
from pystack.orchestrator.config.marks import TreePath

if TYPE_CHECKING:
    from pystack.orchestrator.config.semantic import Report

SYNC_ACTIONS = frozenset({"sync", "sync+restart", "sync+exec"})
ACTIONS = SYNC_ACTIONS | {"restart", "rebuild"}


def patterns(value: Any) -> list[str]:
    """`ignore`/`include`: a string or a list of strings."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def pattern_error(items: list[str]) -> str | None:
    """Why these patterns cannot be used, or None."""
    from pystack.runtime.build.errors import BuildError
    from pystack.runtime.build.patterns import IgnoreMatcher

    try:
        IgnoreMatcher(items)
    except BuildError as e:
        return e.message.replace(" .dockerignore", "")
    return None


def check(rep: Report, base: TreePath, svc: Mapping[str, Any]) -> None:
    """Every problem of `services.<name>.develop.watch` (schema-checked or not: never raises)."""
    develop = svc.get("develop")
    rules = develop.get("watch") if isinstance(develop, Mapping) else None
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, Mapping):
            _rule(rep, (*base, "develop", "watch", i), rule, svc)


def _rule(rep: Report, at: TreePath, rule: Mapping[str, Any], svc: Mapping[str, Any]) -> None:
    action = rule.get("action")
    if action not in ACTIONS:
        return                                  # the schema says which actions exist
    target = rule.get("target")
    if action in SYNC_ACTIONS:
        if not isinstance(target, str) or not target:
            rep.add(at, f"action {action} needs a target",
                    "the directory in the container the files are copied to, like /app")
        elif not target.startswith("/"):
            rep.add((*at, "target"), f"target {target!r} is not an absolute path",
                    f"write it from the container's root, like /{target}")
    if action == "rebuild" and not svc.get("build"):
        rep.add((*at, "action"), "action rebuild needs a build section in the service",
                "add build: with the image's context, or use restart or sync")
    hook = rule.get("exec")
    if action == "sync+exec":
        command = hook.get("command") if isinstance(hook, Mapping) else None
        if not _command(command):
            rep.add((*at, "exec") if isinstance(hook, Mapping) else at,
                    "action sync+exec needs exec.command",
                    "the command run in the container after each sync, like [nginx, -s, "
                    "reload]")
        elif isinstance(command, str):
            from pystack.orchestrator.config.shortsyntax import split_command

            try:
                split_command(command)
            except ValueError as e:
                rep.add((*at, "exec", "command"), str(e), "or write it as a list")
    if isinstance(hook, Mapping):
        priv = hook.get("privileged")
        if isinstance(priv, str) and priv.lower() not in ("true", "false", "1", "0"):
            rep.add((*at, "exec", "privileged"), f"invalid boolean {priv!r}",
                    "use true or false")
    for key in ("ignore", "include"):
        why = pattern_error(patterns(rule.get(key)))
        if why:
            rep.add((*at, key), why)


def _command(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list) and bool(value)


def normalize(develop: Mapping[str, Any], resolve: Any,
              environ: Mapping[str, str]) -> dict[str, Any]:
    """The canonical `develop` mapping: paths absolute (`resolve`), ignore/include lists,
    exec.command a list, exec.environment a mapping (a bare KEY takes the environment's)."""
    out = dict(develop)
    if "watch" not in out:
        return out
    rules = []
    for rule in out.get("watch") or []:
        rule = dict(rule)
        if isinstance(rule.get("path"), str):
            rule["path"] = resolve(rule["path"])
        for key in ("ignore", "include"):
            if key in rule:
                rule[key] = patterns(rule[key])
        if isinstance(rule.get("exec"), Mapping):
            rule["exec"] = _hook(rule["exec"], environ)
        rules.append(rule)
    out["watch"] = rules
    return out


def _hook(hook: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    from pystack.orchestrator.config.shortsyntax import split_command, to_mapping

    out = dict(hook)
    if isinstance(out.get("command"), str):
        out["command"] = split_command(out["command"])
    if "environment" in out:
        env = to_mapping(out["environment"], empty=None)
        out["environment"] = {k: (v if v is not None else environ[k]) for k, v in env.items()
                              if v is not None or k in environ}
    if isinstance(out.get("privileged"), str):
        out["privileged"] = out["privileged"].lower() in ("true", "1")
    return out


def rules(develop: Any) -> tuple[m.WatchRule, ...]:
    """The model of a canonical `develop` mapping."""
    if not isinstance(develop, Mapping):
        return ()
    return tuple(_model(r) for r in develop.get("watch") or [])


def _model(rule: Mapping[str, Any]) -> m.WatchRule:
    hook = rule.get("exec")
    exe = None
    if isinstance(hook, Mapping):
        exe = m.WatchExec(
            command=tuple(str(c) for c in hook.get("command") or ()),
            user=hook.get("user"), privileged=bool(hook.get("privileged")),
            working_dir=hook.get("working_dir"),
            environment={str(k): "" if v is None else str(v)
                         for k, v in (hook.get("environment") or {}).items()})
    return m.WatchRule(
        path=str(rule["path"]), action=str(rule["action"]), target=rule.get("target"),
        ignore=tuple(rule.get("ignore") or ()), include=tuple(rule.get("include") or ()),
        initial_sync=bool(rule.get("initial_sync")), exec=exe)
