"""Image store benchmark: import + unpack a ~100 MB image, push it to and pull it from a local
registry (Debian's docker-registry on 127.0.0.1), and show that a second image / container
sharing the layers costs no unpacking.

    python bench/image_bench.py [--mb 100] [--keep]

Printed beside the physical floor measured in the same run (GNU tar extracting the same
tarball as root, and sha256sum reading it).  Docker/podman `load` figures: not measured here
(no engine runs on this machine, and the peers' RESULTS.md has no image-load figures).
Never a test: it prints numbers and exits 0.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def make_tree(root: Path, total_mb: int) -> int:
    """A synthetic rootfs: ~80 % in 40 kB files (half random, half text), the rest in 2 kB
    files, nested dirs and symlinks.  Returns the bytes written."""
    rnd = random.Random(42)
    text = (b"the quick brown fox jumps over the lazy dog " * 1000)[:20_000]
    written = 0
    big = int(total_mb * 1e6 * 0.8) // 40_000
    small = int(total_mb * 1e6 * 0.2) // 2_000
    for i in range(big):
        d = root / "usr" / "lib" / f"pkg{i % 50}"
        d.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(20_000) + text
        (d / f"lib{i}.so").write_bytes(data)
        written += len(data)
    for i in range(small):
        d = root / "usr" / "share" / f"doc{i % 200}"
        d.mkdir(parents=True, exist_ok=True)
        data = text[: 1000] + rnd.randbytes(1000)
        (d / f"f{i}.txt").write_bytes(data)
        written += len(data)
        if i % 10 == 0:
            os.symlink(f"f{i}.txt", d / f"l{i}")
    (root / "bin").mkdir()
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    return written


CPU: dict[str, float] = {}       # operation -> CPU seconds (user+sys): steadier than wall
                                 # time on a busy machine


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], Any], name: str = "") -> tuple[float, Any]:
    c0, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    out = fn()
    CPU[name] = _cpu(resource.RUSAGE_SELF) - c0
    return time.perf_counter() - t0, out


def sh(name: str, *argv: str) -> float:
    c0, t0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    CPU[name] = _cpu(resource.RUSAGE_CHILDREN) - c0
    return time.perf_counter() - t0


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = work / "registry.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"127.0.0.1:{port}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="size of the synthetic tree (MB)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (unpacking keeps ownership and creates whiteout devices)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="pystack-image-bench-"))
    os.environ["PYSTACK_ROOT"] = str(work / "root")
    from pystack.runtime.image.store import ImageStore

    rows: list[tuple[str, float, float, str]] = []
    proc = None
    try:
        print(f"building a {args.mb} MB synthetic tree ...", file=sys.stderr)
        tree = work / "tree"
        tree.mkdir()
        size = make_tree(tree, args.mb)
        tar_path, gz_path = work / "rootfs.tar", work / "rootfs.tar.gz"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            for e in sorted(tree.iterdir()):
                tar.add(e, arcname=e.name)
        with open(tar_path, "rb") as src, gzip.open(gz_path, "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        mb = size / 1e6
        nfiles = sum(1 for _ in tree.rglob("*"))

        os.sync()          # flush the tree we just wrote: syncfs() below must not pay for it
        # the physical floor: GNU tar (C) extracting the same tarball, sha256 of it
        floor = {}
        for name, argv in (("tar -x", ["tar", "-xf", str(tar_path)]),
                           ("tar -xz", ["tar", "-xzf", str(gz_path)])):
            dest = work / f"floor-{len(floor)}"
            dest.mkdir()
            floor[name] = sh(f"floor: {name}", *argv, "-C", str(dest), "--same-owner", "-p")
            shutil.rmtree(dest)
        floor["sha256sum"] = sh("floor: sha256sum", "sha256sum", str(tar_path))

        store = ImageStore()

        def step(name: str, fn: Callable[[], Any], rate: bool = True,
                 vs: str | None = None) -> Any:
            t, out = timed(fn, name)
            note = f"{t / floor[vs]:.1f}x {vs}" if vs else ""
            rows.append((name, t, mb / t if rate else 0.0, note))
            return out

        img = step("import rootfs.tar (hash+copy+unpack)",
                   lambda: store.import_rootfs(tar_path, "bench/plain:1"), vs="tar -x")
        step("import the same tar again (layer shared)",
             lambda: store.import_rootfs(tar_path, "bench/plain:2"), vs="sha256sum")
        gz_img = step("import rootfs.tar.gz", lambda: store.import_rootfs(gz_path, "bench/gz:1"),
                      vs="tar -xz")
        again = step("get() for a 2nd container (no unpack)", lambda: store.get("bench/gz:1"),
                     rate=False)
        assert again.layer_dirs == gz_img.layer_dirs

        if shutil.which("docker-registry"):
            proc, host = start_registry(work)
            ref = f"{host}/bench/gz:1"
            store.tag("bench/gz:1", ref)
            step("push gz image to local registry", lambda: store.push(ref))
            fresh = ImageStore(work / "root2" / "images")
            pulled = step("pull it into an empty store (+unpack)", lambda: fresh.pull(ref),
                          vs="tar -xz")
            step("pull again (everything present)", lambda: fresh.pull(ref), rate=False)
            assert pulled.id in (img.id, gz_img.id)
        else:
            print("docker-registry not installed: pull/push skipped", file=sys.stderr)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"image: {mb:.0f} MB of file data, {nfiles} entries; "
          f"{tar_path.name if args.keep else 'rootfs.tar'}")
    print(f"{'operation':44} {'wall s':>8} {'MB/s':>8} {'cpu s':>7}  wall vs floor")
    for name, sec, rate in ((k, v, mb / v) for k, v in floor.items()):
        print(f"{'floor: ' + name:44} {sec:8.3f} {rate:8.1f} {CPU.get('floor: ' + name, 0):7.2f}")
    for name, sec, rate, note in rows:
        print(f"{name:44} {sec:8.3f} {rate if rate else float('nan'):8.1f} "
              f"{CPU.get(name, 0):7.2f}  {note}")
    print("(cpu s: user+sys of the process doing the work; the pull's server side is not "
          "counted)")
    print("docker load / podman load: not measured (no engine on this machine; "
          "the peers' RESULTS.md has no image figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
