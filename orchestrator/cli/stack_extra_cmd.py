"""More project commands: cp (through `tar` inside the container; events: readouts_cmd.py)."""

from __future__ import annotations

import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from pystack.orchestrator.cli.main import PystackCommand, project_options
from pystack.orchestrator.cli.stack_cmd import load_stack


def _split(arg: str) -> tuple[str | None, str]:
    if ":" in arg and not arg.startswith(("/", ".")):
        svc, _, path = arg.partition(":")
        return svc, path
    return None, arg


@click.command(cls=PystackCommand)
@project_options
@click.option("--index", type=int, default=1)
@click.argument("src")
@click.argument("dst")
@click.pass_context
def cp(ctx: click.Context, index: int, src: str, dst: str) -> None:
    """Copy files between a service container and the host (SERVICE:PATH; `-` for a tar
    stream on stdin/stdout).  Streamed through `tar` in the container: nothing is held in
    memory, and the caller's own fds never enter the container."""
    from pystack.orchestrator.engine.copyout import extract
    from pystack.orchestrator.errors import OrchestratorError, UsageError

    (ssvc, spath), (dsvc, dpath) = _split(src), _split(dst)
    if (ssvc is None) == (dsvc is None):
        raise UsageError("cp: exactly one of SRC and DST must be SERVICE:PATH")
    stack = load_stack(ctx, need_file=False)
    if ssvc is not None:
        parent, name = str(Path(spath).parent), Path(spath).name
        argv = ("tar", "-c", "-C", parent, name)
        if dpath == "-":
            code = _exec(stack, ssvc, argv, index, None, sys.stdout.buffer)
        else:
            code = _piped(stack, ssvc, argv, index, reader=lambda f: extract(f, Path(dpath)))
        if code != 0:
            raise OrchestratorError(f"cp: could not read {spath} in {ssvc} (tar exit {code})")
        return
    assert dsvc is not None
    dest_dir = dpath if dpath.endswith("/") or spath == "-" else str(Path(dpath).parent)
    unpack = ("tar", "-x", "-C", dest_dir)
    if spath == "-":
        code = _exec(stack, dsvc, unpack, index, sys.stdin.buffer, sys.stdout.buffer)
    else:
        arcname = Path(dpath).name if not dpath.endswith("/") else Path(spath).name
        code = _piped(stack, dsvc, unpack, index, writer=lambda f: _archive(f, spath, arcname))
    if code != 0:
        raise OrchestratorError(f"cp: could not write {dpath} in {dsvc} (tar exit {code})")


def _exec(stack: Any, svc: str, argv: tuple[str, ...], index: int, stdin: IO[bytes] | None,
          stdout: IO[bytes] | None) -> int:
    from pystack.orchestrator.engine.oneoff import exec_in

    return exec_in(stack, svc, argv, index=index, stdin=stdin, stdout=stdout,
                   stderr=sys.stderr.buffer)


def _piped(stack: Any, svc: str, argv: tuple[str, ...], index: int, *,
           reader: Callable[[IO[bytes]], None] | None = None,
           writer: Callable[[IO[bytes]], None] | None = None) -> int:
    """Run `argv` with a pipe on its stdout (`reader` consumes it here) or its stdin (`writer`
    fills it): the tar stream goes through in 64 KiB steps."""
    import os
    import threading

    r, w = os.pipe2(os.O_CLOEXEC)
    ours, theirs = (r, w) if reader else (w, r)
    failure: list[BaseException] = []

    def side() -> None:
        try:
            with open(ours, "rb" if reader else "wb") as f:    # closed: EOF (or EPIPE) there
                (reader or writer)(f)           # type: ignore[misc]
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=side, daemon=True)
    t.start()
    try:
        with open(theirs, "wb" if reader else "rb") as f:
            code = _exec(stack, svc, argv, index, None if reader else f, f if reader else None)
    finally:
        t.join()
    if failure and code == 0:
        raise failure[0]
    return code


def _archive(f: IO[bytes], src: str, arcname: str) -> None:
    with tarfile.open(fileobj=f, mode="w|") as tar:
        tar.add(src, arcname=arcname)
