"""On-disk container state: where things live and how they are (de)serialised.

Layout under $PYSTACK_ROOT/containers/<id>/ (docs/architecture.md):
  spec.json      the ContainerSpec, written once by create
  state.json     the live state, written atomically (tmp + fsync + rename) by the shim
  <id>-json.log  the json-file log (+ .1, .2 ... when rotated)
  upper/ work/   the overlay's writable layer
Control sockets live under $PYSTACK_RUN/shim/.  The JSON codec for the frozen spec
dataclasses is generic over their type hints, so new fields with defaults need no code here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pystack.runtime import faults
from pystack.runtime.errors import ContainerNotFoundError, ContainerRuntimeError
from pystack.runtime.settings import settings
from pystack.runtime.spec import ContainerSpec

T = TypeVar("T")


def root_dir(root: Path | None = None) -> Path:
    return root or settings().root


def run_dir() -> Path:
    return settings().run


@dataclass(frozen=True)
class Paths:
    """Every file of one container."""

    dir: Path
    id: str

    @property
    def spec(self) -> Path:
        return self.dir / "spec.json"

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @property
    def log(self) -> Path:
        return self.dir / f"{self.id}-json.log"

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"     # mount point of the overlay (inside the container's ns)

    @property
    def hostname(self) -> Path:
        return self.dir / "hostname"

    @property
    def hosts(self) -> Path:
        return self.dir / "hosts"      # the default /etc/hosts when the caller gives none

    @property
    def socket(self) -> Path:
        return run_dir() / "shim" / f"{self.id[:24]}.sock"


def paths_for(container_id: str, root: Path | None = None) -> Paths:
    return Paths(dir=root_dir(root) / "containers" / container_id, id=container_id)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        faults.point(f"write-tmp:{path.name}")
        os.rename(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)      # a full disk leaves no .NAME.PID.tmp behind
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, separators=(",", ":")).encode())


def read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError as e:
        raise ContainerNotFoundError(f"no such container: {path.parent.name}") from e
    except (OSError, ValueError) as e:
        raise ContainerRuntimeError(f"cannot read {path}: {e}") from e


# -- generic dataclass codec -------------------------------------------------------------------

def to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


_HINTS: dict[type, dict[str, Any]] = {}


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(args[0], value) if len(args) == 1 else value
    if origin is tuple:
        (inner, *_) = typing.get_args(tp)
        return tuple(_decode(inner, v) for v in value)
    if origin is dict:
        return dict(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_json(tp, value)
    return value


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    kwargs = {f.name: _decode(hints[f.name], data[f.name])
              for f in dataclasses.fields(cls)  # type: ignore[arg-type]
              if f.name in data}
    return cls(**kwargs)


def save_spec(paths: Paths, spec: ContainerSpec) -> None:
    write_json(paths.spec, to_json(spec))


def load_spec(paths: Paths) -> ContainerSpec:
    data = read_json(paths.spec)
    try:
        return from_json(ContainerSpec, data)
    except (TypeError, KeyError, ValueError) as e:
        raise ContainerRuntimeError(f"corrupt spec for container {paths.id[:12]}: {e}") from e


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Is `pid` alive (and, when given, the same process that started at `start_ticks`)?"""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return False
    fields = raw[raw.rfind(b")") + 2:].split()
    if fields[0] == b"Z":
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


def start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return int(raw[raw.rfind(b")") + 2:].split()[19])
