"""A project's state on disk and its lock.

`$PYSTACK_ROOT/projects/<name>/state.json` records, before each object is created, what the
engine is about to create for the project (containers with their ids, networks, volumes), so
that `down` can remove everything even if the CLI was killed half-way through `up`.  The runtime
and net keep their own records too; this file is the orchestrator's intent log and the list of
projects for `ls`.  Writes are atomic (write, rename).

`ProjectLock` is an flock on `$PYSTACK_RUN/locks/<name>.lock`: two commands that change one
project serialize; different projects do not wait for each other.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType

from pystack.orchestrator.errors import LockTimeoutError, OrchestratorError
from pystack.orchestrator.settings import settings
from pystack.runtime import faults


def root_dir() -> Path:
    return settings().root


def run_dir() -> Path:
    return settings().run


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    service: str
    number: int
    oneoff: bool = False
    config_hash: str = ""
    image_id: str = ""


@dataclass(frozen=True)
class ProjectState:
    name: str
    working_dir: str = ""
    config_files: tuple[str, ...] = ()
    containers: tuple[ContainerRecord, ...] = ()
    networks: tuple[str, ...] = ()        # full names pystack created for the project
    volumes: tuple[str, ...] = ()         # full names of named volumes created for it
    updated: float = 0.0

    def container(self, name: str) -> ContainerRecord | None:
        return next((c for c in self.containers if c.name == name), None)


def _write_atomic(path: Path, data: str, durable: bool = False) -> None:
    """Write then rename: a reader (or a `down` after this process was killed) sees the old or
    the new file, never half of one.  The crash this log is for is the death of the process,
    which loses nothing from the page cache, so fsync is only done when asked (it costs a few
    ms per container on a busy disk).  A write that fails (a full disk) leaves no temporary
    file and raises StateWriteError."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        faults.point("write-tmp:project-state")
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise StateWriteError(
            f"cannot write {path}: {e.strerror or e}",
            hint="free space on the filesystem of PYSTACK_ROOT; `pystack down` works "
            "meanwhile" if e.errno in (errno.ENOSPC, errno.EDQUOT) else None) from e


class StateWriteError(OrchestratorError):
    """The project's state file cannot be written (a full or read-only disk)."""


class StateStore:
    """Reads and writes project states; one instance may be shared by the engine's threads."""

    def __init__(self, root: Path | None = None) -> None:
        self.base = (root or root_dir()) / "projects"
        self._mutex = threading.Lock()

    def path(self, project: str) -> Path:
        return self.base / project / "state.json"

    def load(self, project: str) -> ProjectState:
        try:
            raw = json.loads(self.path(project).read_text())
        except FileNotFoundError:
            return ProjectState(name=project)
        except (OSError, ValueError) as e:
            raise OrchestratorError(f"project {project}: state file unreadable: {e}") from e
        return ProjectState(
            name=raw.get("name", project),
            working_dir=raw.get("working_dir", ""),
            config_files=tuple(raw.get("config_files", ())),
            containers=tuple(ContainerRecord(**c) for c in raw.get("containers", ())),
            networks=tuple(raw.get("networks", ())),
            volumes=tuple(raw.get("volumes", ())),
            updated=float(raw.get("updated", 0.0)),
        )

    def save(self, state: ProjectState) -> None:
        path = self.path(state.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = replace(state, updated=time.time())
        _write_atomic(path, json.dumps(asdict(state), indent=1))

    def remove(self, project: str) -> None:
        d = self.path(project).parent
        # With the state file go the temporary files of writers that died before their
        # rename (a CLI killed mid-write, a full disk): the caller holds the project lock.
        for tmp in d.glob(".state.json.*.tmp"):
            tmp.unlink(missing_ok=True)
        try:
            self.path(project).unlink()
            d.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            pass

    def keep_only_volumes(self, project: str) -> None:
        """After `down` without -v: forget all but the named volumes (none: the file)."""
        with self._mutex:
            st = self.load(project)
            if st.volumes:
                self.save(ProjectState(name=st.name, volumes=st.volumes))
            else:
                self.remove(project)

    def projects(self) -> list[str]:
        """Projects with containers or networks (not one that only left volumes behind)."""
        if not self.base.is_dir():
            return []
        out = []
        for p in self.base.iterdir():
            if (p / "state.json").exists():
                st = self.load(p.name)
                if st.containers or st.networks:
                    out.append(p.name)
        return sorted(out)

    # Thread-safe read-modify-write helpers used while the engine works.
    def update(self, project: str, **changes: object) -> ProjectState:
        with self._mutex:
            st = replace(self.load(project), **changes)  # type: ignore[arg-type]
            self.save(st)
            return st

    def add_container(self, project: str, rec: ContainerRecord) -> None:
        with self._mutex:
            st = self.load(project)
            others = tuple(c for c in st.containers if c.id != rec.id)
            self.save(replace(st, containers=(*others, rec)))

    def drop_container(self, project: str, container_id: str) -> None:
        """Forget a container that is gone.  When that cannot be written (a full disk) the
        record stays: a record of a container that does not exist is harmless (the next
        `up` or `down` discards it), so this never fails a removal."""
        with self._mutex:
            st = self.load(project)
            try:
                self.save(replace(st, containers=tuple(c for c in st.containers
                                                       if c.id != container_id)))
            except StateWriteError:
                pass

    def add_network(self, project: str, name: str) -> None:
        with self._mutex:
            st = self.load(project)
            if name not in st.networks:
                self.save(replace(st, networks=(*st.networks, name)))

    def add_volume(self, project: str, name: str) -> None:
        with self._mutex:
            st = self.load(project)
            if name not in st.volumes:
                self.save(replace(st, volumes=(*st.volumes, name)))


@dataclass
class ProjectLock:
    """`with ProjectLock("demo"):` holds the project's flock; waits up to `timeout` seconds."""

    project: str
    timeout: float = 300.0
    run: Path | None = None
    _fd: int | None = field(default=None, repr=False)

    def __enter__(self) -> ProjectLock:
        locks = (self.run or run_dir()) / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks / f"{self.project}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeoutError(
                        f"project {self.project} is locked by another pystack command",
                        hint="wait for it to finish, or raise PYSTACK_LOCK_TIMEOUT (seconds)",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        self._fd = fd
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
