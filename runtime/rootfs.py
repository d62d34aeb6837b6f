"""The container's root filesystem, built inside its new mount namespace by stage-2 (PID 1).

Order as runc (runtime.md §1.2): `/` rslave, overlay, /proc, /dev (tmpfs + mknod'ed nodes +
symlinks), devpts, /dev/shm, /dev/mqueue, read-only /sys, the spec's mounts, /etc/hosts,
/etc/resolv.conf, /etc/hostname, tini, pivot_root; then (after pivot) masked and read-only
paths.  Mount targets inside the rootfs are resolved component by component without following
symlinks out of it, and masked/read-only paths are mounted through an O_PATH|O_NOFOLLOW fd, so a
symlink the image (or a racing container process) put there is never followed (§7.3).

The spec's mounts and pystack's own files (from the first user mount on, a directory may be
shared with a running container) go fd to fd (runtime/safefs.py): the target is an O_PATH fd
from an O_NOFOLLOW walk inside the rootfs, a volume's subpath is opened below the volume with
no symlink and no `..`, and the bind is open_tree + move_mount between those fds, so nothing
is resolved twice (CVE-2021-30465).  /proc, /dev and /sys come before any of them, on the
overlay alone, which nothing else can change then.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from pystack.runtime import linux as L
from pystack.runtime import safefs as S
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.safecopy import copy_tree
from pystack.runtime.security import paths as P
from pystack.runtime.spec import ContainerSpec, Mount
from pystack.runtime.state import Paths

PAGE_LIMIT = 4000
TINI = "/usr/bin/tini-static"

NOSUID_NODEV_NOEXEC = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC


def secure_join(root: str, rel: str, make: str | None = None) -> str:
    """root + rel with every component resolved INSIDE root (symlinks re-rooted at root).

    make="dir"/"file" creates the missing last component (and missing parents as dirs).
    """
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    cur = root
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = os.path.dirname(cur) if cur != root else root
            continue
        nxt = os.path.join(cur, part)
        try:
            st = os.lstat(nxt)
        except FileNotFoundError:
            if make is None:
                return os.path.join(nxt, *parts)
            if parts or make == "dir":
                os.mkdir(nxt, 0o755)
            else:
                os.close(os.open(nxt, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            cur = nxt
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise ContainerRuntimeError(f"too many symlinks resolving {rel} in the rootfs")
            target = os.readlink(nxt)
            if target.startswith("/"):
                cur = root
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        cur = nxt
    return cur


def _mount_overlay(target: str, opts: str, volatile: bool) -> None:
    """`volatile` (a container whose upper dir never outlives a crash: a build step): no
    syncs, above all none of the whole upper filesystem when the mount goes away at exit."""
    if volatile:
        try:
            L.mount("overlay", target, "overlay", 0, opts + ",volatile")
            return
        except ContainerRuntimeError as e:
            if L.errno_of(e) != errno.EINVAL:       # EINVAL: a kernel before 5.10
                raise
    L.mount("overlay", target, "overlay", 0, opts)


def _overlay(spec: ContainerSpec, paths: Paths, target: str, volatile: bool = False) -> None:
    lowers = list(reversed(spec.lower_dirs))           # overlay wants the topmost first
    opts = f"lowerdir={':'.join(lowers)},upperdir={paths.upper},workdir={paths.work}"
    if len(opts) <= PAGE_LIMIT:
        _mount_overlay(target, opts, volatile)
        return
    # mount(2) data must fit one page.  The new mount API's repeated "lowerdir+" would lift
    # that, but only from kernel 6.8 (Debian 12's 6.1 refuses it), so do what Docker's
    # overlay2 driver does on every kernel: short symlinks to the layers in a directory of
    # the container's own, named relative to it (the mount runs with that directory as cwd).
    if len(lowers) > 500:
        raise ContainerRuntimeError(f"too many image layers ({len(lowers)}): overlayfs takes "
                                    "at most 500")
    links = paths.dir / "l"
    if links.is_symlink() or links.exists():
        for name in os.listdir(links):
            os.unlink(links / name)
    else:
        os.mkdir(links, 0o700)
    names = []
    for i, lower in enumerate(lowers):
        name = format(i, "x")
        os.symlink(lower, links / name)
        names.append(name)
    opts = f"lowerdir={':'.join(names)},upperdir={paths.upper},workdir={paths.work}"
    if len(opts) > PAGE_LIMIT:
        raise ContainerRuntimeError("the container's directory path is too long for overlayfs "
                                    "(set a shorter PYSTACK_ROOT)")
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(links)
        _mount_overlay(target, opts, volatile)
    finally:
        os.fchdir(here)
        os.close(here)


def _dev(root: str, shm_size: int | None, ipc: str | None = None) -> None:
    dev = secure_join(root, "dev", make="dir")
    L.mount("tmpfs", dev, "tmpfs", L.MS_NOSUID | L.MS_STRICTATIME, "mode=755,size=65536k")
    old = os.umask(0)
    try:
        for d in P.DEFAULT_DEVICES:
            node = f"{dev}/{os.path.basename(d.path)}"
            os.mknod(node, d.st_mode, d.rdev)
            if d.uid or d.gid:
                os.chown(node, d.uid, d.gid)
        for link, target in P.dev_symlinks():
            os.symlink(target, f"{dev}/{os.path.basename(link)}")
        for sub in ("pts", "shm", "mqueue"):
            os.mkdir(f"{dev}/{sub}", 0o755)
    finally:
        os.umask(old)
    L.mount("devpts", f"{dev}/pts", "devpts", L.MS_NOSUID | L.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5")
    if ipc == "host":                           # Docker: the host's /dev/shm
        L.mount("/dev/shm", f"{dev}/shm", None, L.MS_BIND | L.MS_REC)
    elif ipc != "none":                         # none: no /dev/shm at all (Docker)
        L.mount("shm", f"{dev}/shm", "tmpfs", NOSUID_NODEV_NOEXEC,
                f"mode=1777,size={shm_size or 64 << 20}")
    L.mount("mqueue", f"{dev}/mqueue", "mqueue", NOSUID_NODEV_NOEXEC)


def _cgroupfs(sys_: str) -> None:
    """/sys/fs/cgroup read-only, as Docker: the host's hierarchies mounted again inside our
    cgroup namespace, so the container sees its own cgroup (and limits) as the root."""
    with open("/proc/self/mountinfo") as f:
        rows = [ln.split() for ln in f]
    hier = []
    for r in rows:
        sep = r.index("-")
        fstype, opts = r[sep + 1], r[sep + 3].split(",")
        if fstype in ("cgroup", "cgroup2") and r[4].startswith("/sys/fs/cgroup"):
            data = ",".join(o for o in opts if (o not in ("rw", "ro") and "=" not in o)
                            or o.startswith("name="))
            hier.append((r[4], fstype, data))
    if not hier:
        return
    base = os.path.join(sys_, "fs/cgroup")
    try:
        for mp, fstype, _data in hier:
            if mp == "/sys/fs/cgroup":          # a unified (v2-only) host: no tmpfs under it
                L.mount(fstype, base, fstype, NOSUID_NODEV_NOEXEC | L.MS_RDONLY, None)
                return
        L.mount("tmpfs", base, "tmpfs", NOSUID_NODEV_NOEXEC, "mode=755")
        for mp, fstype, data in hier:
            target = os.path.join(base, os.path.basename(mp))
            os.mkdir(target, 0o755)
            L.mount(fstype, target, fstype, NOSUID_NODEV_NOEXEC | L.MS_RDONLY,
                    data or None)
        L.mount(None, base, None, L.MS_REMOUNT | L.MS_RDONLY | NOSUID_NODEV_NOEXEC, "mode=755")
    except (OSError, ContainerRuntimeError):
        pass                                    # best effort: /sys stays read-only anyway


def _host_devices(dev: str) -> None:
    """Privileged: a node for every character and block device directly under the host's
    /dev, as Docker gives them (the devices cgroup lets everything through then)."""
    old = os.umask(0)
    try:
        for name in os.listdir("/dev"):
            target = os.path.join(dev, name)
            try:
                st = os.lstat(os.path.join("/dev", name))
                if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and \
                        not os.path.lexists(target):
                    os.mknod(target, st.st_mode, st.st_rdev)
                    os.chown(target, st.st_uid, st.st_gid)
            except OSError:
                continue
    finally:
        os.umask(old)


def _bind(source: str, target: str, read_only: bool, propagation: str | None,
          extra: int = 0) -> None:
    L.mount(source, target, None, L.MS_BIND | L.MS_REC)
    if read_only or extra:
        # The kernel ignores MS_RDONLY on the first bind; a remount keeps the locked flags.
        flags = L.MS_BIND | L.MS_REMOUNT | extra | (L.MS_RDONLY if read_only else 0)
        st = os.statvfs(target)
        flags |= st.f_flag & (L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
        L.mount(None, target, None, flags)
    L.mount(None, target, None, L.PROPAGATION.get(propagation or "rprivate", L.MS_PRIVATE))


def _target(rootfd: int, rel: str, make: str) -> int:
    try:
        return S.open_in_root(rootfd, rel, make=make)
    except OSError as e:
        raise ContainerRuntimeError(f"invalid mount target {rel}: {e.strerror or e}") from e


def _source(m: Mount) -> int:
    """An O_PATH fd of what `m` mounts.  A bind's source is the user's own host path (its
    symlinks followed, as Docker does); a volume's subpath is opened below the volume with
    no symlink and no `..` (a container sharing the volume may have planted one)."""
    volume = m.type == "volume"
    try:
        fd = os.open(m.source, os.O_PATH | os.O_CLOEXEC |
                     (os.O_DIRECTORY | os.O_NOFOLLOW if volume else 0))
    except OSError as e:
        what = "volume directory" if volume else "bind source path"
        raise ContainerRuntimeError(f"invalid mount config: {what} does not exist: "
                                    f"{m.source}") from e
    if not (volume and m.subpath):
        return fd
    try:
        return S.open_beneath(fd, m.subpath)
    except OSError as e:
        why = {errno.ELOOP: "is or goes through a symbolic link",
               errno.ENOENT: "does not exist in the volume",
               errno.ENOTDIR: "goes through a file"}.get(e.errno or 0, "leaves the volume")
        raise ContainerRuntimeError(
            f"invalid mount config: volume subpath {m.subpath!r} {why}",
            hint="a subpath must name a directory or file inside the volume, reached "
                 "without symlinks or '..'") from e
    finally:
        os.close(fd)


def _readable(path_fd: int) -> int:
    return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=path_fd)


def _fill_volume(src: int, target: int) -> None:
    """An empty volume mounted with copy: the rootfs's content at its target, copied
    through fds (runtime/safecopy.py), owner and mode included."""
    vol = _readable(src)
    try:
        if os.listdir(vol):
            return
        img = _readable(target)
        try:
            copy_tree(img, vol)
            st = os.fstat(img)
            os.fchown(vol, st.st_uid, st.st_gid)
            os.fchmod(vol, stat.S_IMODE(st.st_mode))
        finally:
            os.close(img)
    finally:
        os.close(vol)


def _user_mount(rootfd: int, m: Mount) -> None:
    """One of the spec's mounts, resolved and mounted fd to fd: neither the source nor the
    target is ever named by a path the kernel would walk again (CVE-2021-30465)."""
    if m.type == "tmpfs":
        target = _target(rootfd, m.target, "dir")
        data = ",".join(x for x in (f"size={m.tmpfs_size}" if m.tmpfs_size else "",
                                    f"mode={m.tmpfs_mode:o}" if m.tmpfs_mode else "") if x)
        flags = NOSUID_NODEV_NOEXEC | (L.MS_RDONLY if m.read_only else 0)
        try:
            S.mount_at(target, "tmpfs", "tmpfs", flags, data or None)
        finally:
            os.close(target)
        return
    src = _source(m)
    try:
        kind = "dir" if stat.S_ISDIR(os.fstat(src).st_mode) else "file"
        target = _target(rootfd, m.target, kind)
        try:
            if m.type == "volume" and not m.nocopy and kind == "dir":
                _fill_volume(src, target)
            S.bind(src, target, m.read_only, m.propagation,
                   lambda: _target(rootfd, m.target, kind), what=m.target)
        finally:
            os.close(target)
    finally:
        os.close(src)


def _bind_file(rootfd: int, source: str, rel: str, read_only: bool) -> None:
    """One of pystack's own files (hosts, resolv.conf, hostname, tini) onto rel."""
    src = os.open(source, os.O_PATH | os.O_CLOEXEC)
    try:
        target = _target(rootfd, rel, "file")
        try:
            S.bind(src, target, read_only, None, lambda: _target(rootfd, rel, "file"),
                   what=rel)
        finally:
            os.close(target)
    finally:
        os.close(src)


def prepare(spec: ContainerSpec, paths: Paths, volatile: bool = False) -> str:
    """Build the rootfs in the current (new) mount ns; return its path (pivot_root next).
    `volatile`: the overlay is mounted without syncs (see _mount_overlay)."""
    L.mount(None, "/", None, L.MS_SLAVE | L.MS_REC)
    root = str(paths.rootfs)
    _overlay(spec, paths, root, volatile)
    os.chdir("/")
    proc = secure_join(root, "proc", make="dir")
    L.mount("proc", proc, "proc", NOSUID_NODEV_NOEXEC)
    _dev(root, spec.shm_size, spec.ipc_namespace)
    if spec.privileged:
        _host_devices(os.path.join(root, "dev"))
    sys_ = secure_join(root, "sys", make="dir")
    ro = 0 if spec.privileged else L.MS_RDONLY          # Docker: privileged gets /sys rw
    try:
        L.mount("sysfs", sys_, "sysfs", NOSUID_NODEV_NOEXEC | ro)
    except ContainerRuntimeError:
        # No sysfs of our own (e.g. the host's netns): bind the host's, read-only.
        _bind("/sys", sys_, not spec.privileged, "rslave", NOSUID_NODEV_NOEXEC)
    _cgroupfs(sys_)
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in spec.mounts:
            _user_mount(rootfd, m)
        hosts = spec.etc_hosts
        if hosts is None and paths.hosts.exists():
            hosts = str(paths.hosts)
        resolv = spec.etc_resolv
        if resolv is None and (paths.dir / "resolv.conf").exists():
            resolv = str(paths.dir / "resolv.conf")     # host network: the host's; none: empty
        for src, dst in ((hosts, "etc/hosts"), (resolv, "etc/resolv.conf")):
            if src:
                _bind_file(rootfd, src, dst, False)
        if spec.etc_hostname:
            _bind_file(rootfd, str(paths.hostname), "etc/hostname", False)
        if spec.init:
            _bind_file(rootfd, TINI, "sbin/docker-init", True)
    finally:
        os.close(rootfd)
    return root


def pivot(root: str) -> None:
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(root, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        L.pivot_root(".", ".")
        os.fchdir(old)
        # Make sure our unmount never propagates to the host, then drop the old root.
        L.mount(None, ".", None, L.MS_SLAVE | L.MS_REC)
        L.umount2(".", L.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def _path_fd(path: str) -> int | None:
    try:
        return os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None


def mask_paths(paths: Sequence[str] | None = None) -> None:
    """After pivot_root: hide `paths` (default: Docker's masked paths, security/paths.py):
    files under /dev/null, dirs under a read-only tmpfs."""
    if paths is None:
        paths = P.masked_paths()
    st = os.stat("/dev/null")
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        raise ContainerRuntimeError("/dev/null is not the null device; refusing to mask paths")
    for p in paths:
        fd = _path_fd(p)
        if fd is None:
            continue
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                continue                    # never follow a symlink (CVE-2025-31133)
            target = f"/proc/self/fd/{fd}"
            if stat.S_ISDIR(mode):
                L.mount("tmpfs", target, "tmpfs", L.MS_RDONLY | NOSUID_NODEV_NOEXEC)
            else:
                L.mount("/dev/null", target, None, L.MS_BIND)
        finally:
            os.close(fd)


def readonly_paths(paths: Sequence[str] = P.READONLY_PATHS) -> None:
    """After pivot_root: bind `paths` over themselves, then remount them read-only."""
    for p in paths:
        fd = _path_fd(p)
        if fd is None:
            continue
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                continue
            target = f"/proc/self/fd/{fd}"
            L.mount(target, target, None, L.MS_BIND | L.MS_REC)
        finally:
            os.close(fd)
        # Reopen: the fd above names the covered dentry, the remount must hit the new bind.
        fd = _path_fd(p)
        if fd is None:
            continue
        try:
            L.mount(None, f"/proc/self/fd/{fd}", None,
                    L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | NOSUID_NODEV_NOEXEC)
        finally:
            os.close(fd)


def finalize(spec: ContainerSpec) -> None:
    """After pivot: masks and read-only paths (not for privileged, as Docker), and a
    read-only / when asked."""
    if not spec.privileged:
        mask_paths()
        readonly_paths()
    if spec.read_only:
        L.mount(None, "/", None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY)
