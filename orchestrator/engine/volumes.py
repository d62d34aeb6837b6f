"""Host side of a service's mounts: named local volumes, binds, tmpfs, anonymous volumes,
secrets and configs, turned into the runtime's `Mount`s.

Named volumes live in `$PYSTACK_ROOT/volumes/<name>/_data` (Docker's layout) and are filled
from the image's content at the mount point the first time they are used (unless `nocopy`).
Binds whose source is missing are created as directories, as Compose does.  Secrets and configs
given by `environment` or `content` are written under the project's state directory and
bind-mounted read-only like file ones.  External volumes must exist and are never removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from pystack.orchestrator.config.model import FileObject, FileReference, Project, Service
from pystack.orchestrator.config.valuechecks import VOLUME_NAME
from pystack.orchestrator.engine.ports import ImageSource
from pystack.orchestrator.engine.specs import tmpfs_mount
from pystack.orchestrator.engine.state import root_dir
from pystack.orchestrator.errors import NotFoundError, OrchestratorError
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.image.model import Image
from pystack.runtime.spec import Mount
from pystack.runtime.statedirs import secure_dir, write_private

FILLED = ".pystack-filled"


def volumes_dir() -> Path:
    return root_dir() / "volumes"


def _volume_dir(name: str) -> Path:
    """volumes/<name>, for a name config accepts (Docker's rule) and nothing else: a name
    from a state file or the command line never reaches outside the store."""
    if not VOLUME_NAME.fullmatch(name):
        raise OrchestratorError(f"invalid volume name {name!r}",
                                hint="use 2 or more letters, digits, '_', '.' or '-', "
                                     "starting with a letter or digit")
    return volumes_dir() / name


def volume_path(name: str) -> Path:
    return _volume_dir(name) / "_data"


def fill_from_image(dest: Path, image: Image, target: str, images: ImageSource) -> None:
    """Fill a new volume with the image's content at `target` and give it that directory's
    owner and mode (Docker), once: a volume used before, or not empty, is left as it is.
    The copy is the image store's (the ImageSource port, runtime/safecopy.py): it resolves
    `target` inside the image's layers and writes only through fds below `dest`."""
    marker = dest.parent / FILLED
    if marker.exists():
        return
    with os.scandir(dest) as it:
        empty = next(it, None) is None
    if empty:
        try:
            images.copy_into(image, target, dest)
        except ContainerRuntimeError as e:
            raise OrchestratorError(f"volume for {target}: {e.message}") from e
    marker.touch()


def ensure_volume(name: str, external: bool = False) -> tuple[Path, bool]:
    """The volume's data dir, created unless external; (path, created now)."""
    path = volume_path(name)
    if path.is_dir():
        return path, False
    if external:
        raise NotFoundError(f"external volume {name} not found",
                            hint=f"create it first: mkdir -p {path}")
    path.mkdir(parents=True, exist_ok=True)
    return path, True


def remove_volume(name: str) -> bool:
    """Delete the volume `name` (False when there is none).  The directory removed is always
    a direct child of the store, never reached through a symlink."""
    path = _volume_dir(name)
    if path.is_symlink() or not path.is_dir() or path.parent != volumes_dir():
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True


def anonymous_prefix(project: str, service: str, number: int) -> str:
    return f"{project}_anon_{service}_{number}_"


def anonymous_volume_name(project: str, service: str, number: int, target: str) -> str:
    """Stable per container slot, so a recreated container keeps its anonymous volumes."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:12]
    return anonymous_prefix(project, service, number) + digest


def file_objects_dir(project: str, kind: str) -> Path:
    return root_dir() / "projects" / project / f"{kind}s"


def remove_file_objects(project: str) -> None:
    """`down`: the secret and config files written for the project go with it."""
    for kind in ("secret", "config"):
        d = file_objects_dir(project, kind)
        if d.is_dir() and not d.is_symlink():
            shutil.rmtree(d, ignore_errors=True)


def _owner(value: str | None, what: str, key: str) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit():
        raise OrchestratorError(f"{key}: {what} {value!r} must be a number")
    return int(value)


def _file_object(project: Project, obj: FileObject, ref: FileReference, kind: str) -> Path:
    """The host file bind-mounted for one use of a secret or config.  Content given by
    `environment` or `content` is written under the project's state dir (0700 dirs: no other
    host user reaches it; removed on `down`) with the owner and mode the container must see
    (the reference's uid/gid/mode, else root 0444 as Compose).  A `file:` is the user's own
    file, bind-mounted as it is (Compose)."""
    if obj.file:
        path = Path(obj.file)
        if not path.exists():
            raise NotFoundError(f"{kind} {obj.key}: file {path} not found")
        return path
    if obj.external:
        raise OrchestratorError(f"{kind} {obj.key}: external {kind}s are not supported")
    if obj.environment is not None:
        value = project.environment.get(obj.environment)
        if value is None:
            value = os.environ.get(obj.environment)
        if value is None:
            raise NotFoundError(f"{kind} {obj.key}: environment variable "
                                f"{obj.environment} is not set")
        content = value
    else:
        content = obj.content or ""
    uid = _owner(ref.uid, "uid", f"{kind} {obj.key}")
    gid = _owner(ref.gid, "gid", f"{kind} {obj.key}")
    mode = 0o444 if ref.mode is None else ref.mode & 0o7777
    d = file_objects_dir(project.name, kind)
    for parent in (d.parent, d):
        secure_dir(parent, f"{kind}s directory")
    # named by a digest: a key is never a path component
    digest = hashlib.sha256(obj.key.encode()).hexdigest()[:16]
    path = d / f"{digest}-{uid}-{gid}-{mode:o}"
    write_private(path, content.encode(), mode, uid, gid)
    return path


def _file_refs(project: Project, refs: tuple[FileReference, ...], kind: str) -> list[Mount]:
    table = project.secrets if kind == "secret" else project.configs
    out = []
    for ref in refs:
        obj = table.get(ref.source)
        if obj is None:
            raise NotFoundError(f"{kind} {ref.source} is not defined")
        src = _file_object(project, obj, ref, kind)
        if ref.target and ref.target.startswith("/"):
            target = ref.target
        elif kind == "secret":
            target = f"/run/secrets/{ref.target or ref.source}"
        else:
            target = f"/{ref.target or ref.source}"
        out.append(Mount("bind", target, str(src), read_only=True))
    return out


def prepare_mounts(project: Project, svc: Service, number: int, image: Image,
                   created: list[str] | None = None, *,
                   images: ImageSource) -> tuple[Mount, ...]:
    """Create what the service's mounts need on the host and return them (spec order).
    `created` collects the names of named volumes created now (for the state file)."""
    mounts: list[Mount] = []
    for v in svc.volumes:
        if v.type == "bind":
            if not v.source:
                raise OrchestratorError(f"service {svc.name}: bind mount without a source")
            src = Path(v.source)
            if not src.exists():
                if v.bind is not None and not v.bind.create_host_path:
                    raise NotFoundError(f"service {svc.name}: bind source path does not "
                                        f"exist: {src}")
                src.mkdir(parents=True, exist_ok=True)
            mounts.append(Mount("bind", v.target, str(src), read_only=v.read_only,
                                propagation=v.bind.propagation if v.bind else None))
        elif v.type == "volume":
            nocopy = bool(v.volume and v.volume.nocopy)
            if v.source:
                vol = project.volumes.get(v.source)
                name = vol.name if vol else v.source
                path, new = ensure_volume(name, external=bool(vol and vol.external))
                if new and created is not None:
                    created.append(name)
            else:
                name = anonymous_volume_name(project.name, svc.name, number, v.target)
                path, new = ensure_volume(name)
                if new and created is not None:
                    created.append(name)
            if not nocopy:
                fill_from_image(path, image, v.target, images)
            # The runtime opens the subpath below the volume refusing every symlink and `..`
            # (a container sharing the volume may have planted one), and mounts that fd.
            sub = v.volume.subpath if v.volume and v.volume.subpath else None
            mounts.append(Mount("volume", v.target, str(path), read_only=v.read_only,
                                nocopy=True, subpath=sub))
        elif v.type == "tmpfs":
            size = v.tmpfs.size if v.tmpfs else None
            mode = v.tmpfs.mode if v.tmpfs else None
            mounts.append(Mount("tmpfs", v.target, tmpfs_size=size, tmpfs_mode=mode))
        else:
            raise OrchestratorError(f"service {svc.name}: volume type {v.type!r} is not "
                                    "supported yet")
    # The image's VOLUMEs not covered by a service mount become anonymous volumes (Docker).
    covered = {m.target.rstrip("/") for m in mounts} | {
        t.target.rstrip("/") for t in svc.tmpfs}
    for target in image.config.volumes:
        if target.rstrip("/") in covered:
            continue
        name = anonymous_volume_name(project.name, svc.name, number, target)
        path, new = ensure_volume(name)
        if new and created is not None:
            created.append(name)
        fill_from_image(path, image, target, images)
        mounts.append(Mount("volume", target, str(path), nocopy=True))
    mounts.extend(tmpfs_mount(t) for t in svc.tmpfs)
    mounts.extend(_file_refs(project, svc.secrets, "secret"))
    mounts.extend(_file_refs(project, svc.configs, "config"))
    return tuple(mounts)
