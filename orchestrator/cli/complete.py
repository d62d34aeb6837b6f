"""Shell completion: the scripts `pystack completion bash|zsh|fish` prints, and the hidden
entry point they call, `pystack __complete CWORD WORD...`, answered before click parses
anything (main.py): no command runs, nothing touches a container.

The answer is a kind line, then one candidate per line: `:words` (the candidates follow),
`:files` or `:dirs` (the shell completes paths itself).  Candidates are the commands, the
options of the command being typed (global ones before it), a Choice option's values, the
services of the project in the current directory (its stack file found as the commands find
it: -f, COMPOSE_FILE, --project-directory, then compose.yaml up the tree; read with a plain
YAML load, `include:` followed one level) and the project names in pystack's state (after -p).
Any failure answers nothing: a completion never prints an error into the user's command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

SHELLS = ("bash", "zsh", "fish")

BASH = r'''# pystack completion for bash: eval "$(pystack completion bash)"
_pystack_completion() {
    local IFS=$'\n' cur="${COMP_WORDS[COMP_CWORD]}" out kind
    out=($("${COMP_WORDS[0]}" __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null))
    kind="${out[0]}"
    COMPREPLY=()
    case "$kind" in
        :files) COMPREPLY=($(compgen -f -- "$cur")) ;;
        :dirs) COMPREPLY=($(compgen -d -- "$cur")) ;;
        :words) COMPREPLY=("${out[@]:1}") ;;
    esac
}
complete -o default -F _pystack_completion pystack
'''

ZSH = r'''#compdef pystack
# pystack completion for zsh: eval "$(pystack completion zsh)"
_pystack() {
    local -a out
    out=("${(@f)$(${words[1]} __complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)}")
    case "${out[1]}" in
        :files) _files ;;
        :dirs) _files -/ ;;
        :words) (( ${#out} > 1 )) && compadd -- "${out[@]:1}" ;;
    esac
}
compdef _pystack pystack
'''

FISH = r'''# pystack completion for fish: pystack completion fish | source
function __pystack_complete
    set -l tokens (commandline -opc) (commandline -ct)
    set -l out ($tokens[1] __complete (math (count $tokens) - 1) $tokens 2>/dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path (commandline -ct)
        case :dirs
            __fish_complete_directories (commandline -ct)
        case :words
            printf '%s\n' $out[2..-1]
    end
end
complete -c pystack -f -a '(__pystack_complete)'
'''


def script(shell: str) -> str:
    return {"bash": BASH, "zsh": ZSH, "fish": FISH}[shell]


def run(args: Sequence[str]) -> int:
    """`pystack __complete CWORD WORD...`: print the answer; always exit 0."""
    try:
        cword = int(args[0])
        kind, words = candidates(list(args[1:]), cword)
    except Exception:           # a completion must never fail in the user's face
        kind, words = ":words", []
    sys.stdout.write("\n".join([kind, *words]) + "\n")
    return 0


def _options(cmd: click.Command) -> tuple[list[str], dict[str, click.Option]]:
    """(visible option names, every option name -> its click.Option)."""
    names: list[str] = []
    by_name: dict[str, click.Option] = {}
    for p in cmd.params:
        if isinstance(p, click.Option):
            for n in (*p.opts, *p.secondary_opts):
                by_name[n] = p
                if not p.hidden:
                    names.append(n)
    if cmd.get_help_option(click.Context(cmd)) is not None:
        names += ["-h", "--help"]
    return names, by_name


def _takes_value(opt: click.Option | None) -> bool:
    return opt is not None and not opt.is_flag and not opt.count


def candidates(words: list[str], cword: int) -> tuple[str, list[str]]:
    """What completes `words[cword]` (words[0] is the program)."""
    from pystack.orchestrator.cli.main import COMMANDS, LazyGroup, cli

    cur = words[cword] if cword < len(words) else ""
    group: click.Command = cli
    names, by_name = _options(cli)
    seen: dict[str, list[str]] = {}
    command: str | None = None
    positional: list[str] = []
    i = 1
    while i < cword:
        w = words[i]
        if w.startswith("-") and w != "-":
            opt = by_name.get(w.split("=", 1)[0])
            if "=" not in w and _takes_value(opt) and i + 1 < cword:
                assert opt is not None
                seen.setdefault(opt.name or w, []).append(words[i + 1])
                i += 2
                continue
            if "=" in w and opt is not None:
                seen.setdefault(opt.name or w, []).append(w.split("=", 1)[1])
        elif command is None or isinstance(group, click.Group):
            ctx = click.Context(group)
            sub = group.get_command(ctx, w) if isinstance(group, click.Group) else None
            if sub is None:
                if command is None:
                    return ":words", []
                positional.append(w)
            else:
                command, group = w, sub
                names, by_name = _options(sub)
        else:
            positional.append(w)
        i += 1
    prev = words[cword - 1] if cword >= 1 else ""
    opt = by_name.get(prev)
    if cword >= 2 and _takes_value(opt) and not cur.startswith("-"):
        assert opt is not None
        if opt.name in ("files", "env_files"):
            return ":files", []
        if opt.name == "project_directory":
            return ":dirs", []
        if opt.name == "project_name":
            return ":words", _prefixed(project_names(), cur)
        if isinstance(opt.type, click.Choice):
            return ":words", _prefixed([str(c) for c in opt.type.choices], cur)
        return ":words", []
    if cur.startswith("-"):
        return ":words", _prefixed(names, cur)
    if command is None:
        visible = [n for n in COMMANDS if not n.startswith("_")]
        return ":words", _prefixed(sorted(visible), cur)
    if isinstance(group, click.Group) and not isinstance(group, LazyGroup):
        return ":words", _prefixed(group.list_commands(click.Context(group)), cur)
    arg = _argument_at(group, len(positional))
    if arg is None:
        return ":words", []
    if arg.name in ("service", "services"):
        taken = set(positional) if arg.nargs == -1 else set()
        svcs = [s for s in service_names(seen) if s not in taken]
        return ":words", _prefixed(svcs, cur)
    if isinstance(arg.type, click.Choice):
        return ":words", _prefixed([str(c) for c in arg.type.choices], cur)
    return ":words", []


def _argument_at(cmd: click.Command, index: int) -> click.Argument | None:
    at = 0
    for p in cmd.params:
        if isinstance(p, click.Argument):
            if p.nargs == -1 or index < at + p.nargs:
                return p
            at += p.nargs
    return None


def _prefixed(words: Iterable[str], prefix: str) -> list[str]:
    return [w for w in words if w.startswith(prefix)]


def project_names() -> list[str]:
    from pystack.orchestrator.engine.state import StateStore

    return StateStore().projects()


def service_names(seen: dict[str, list[str]]) -> list[str]:
    """The services of the stack file the commands would read (see the module's text)."""
    from pystack.orchestrator.config import discovery

    files = tuple(seen.get("files", ()))
    pdirs = seen.get("project_directory")
    cwd = Path.cwd()
    project_dir = Path(discovery.absolute(pdirs[0], cwd)) if pdirs else None
    try:
        found = discovery.config_files(files, os.environ, cwd, project_dir)
    except discovery.DiscoveryError:
        return []
    out: dict[str, None] = {}
    for f in found.files:
        if f != discovery.STDIN:
            out.update(dict.fromkeys(_services_of(Path(f), depth=1)))
    return sorted(out)


def _services_of(path: Path, depth: int) -> list[str]:
    import yaml

    try:
        with open(path, "rb") as fh:
            doc: Any = yaml.load(fh.read(1 << 22), Loader=getattr(yaml, "CSafeLoader",
                                                                    yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(doc, dict):
        return []
    names = [str(k) for k in (doc.get("services") or {}) if isinstance(doc.get("services"), dict)]
    for inc in doc.get("include") or () if depth > 0 else ():
        paths = inc.get("path") if isinstance(inc, dict) else inc
        for p in [paths] if isinstance(paths, str) else (paths or ()):
            if isinstance(p, str):
                names += _services_of(path.parent / p, depth - 1)
    return names
