"""pystack `up -d` / `down` of the benchmark stacks a, b, c (bench/stacks), alternating
UP DOWN UP DOWN ..., one warm-up pair not counted, medians with min-max, beside the peers'
figures from the peers' RESULTS.md (bench/README.md; Compose v1/v2 and podman-compose are NOT
installed on this machine: their numbers are the ones measured there, on the same machine kind),
and the resident memory (PSS) of everything pystack leaves running for stack b.

    sudo .venv/bin/python bench/stack_bench.py [--pairs 5] [--stacks a,b,c]
    sudo .venv/bin/python bench/stack_bench.py --floor [--pairs 5]

--floor: stack b's `up -d` + `down` beside the by-hand floor for the same work, measured in the
same run, rounds interleaved: bench/floor/floor-containers.sh -p -c 20 (20 containers in
parallel: unshare, overlay, chroot, cgroup v1 dirs) plus floor-net.sh up/down 20 direct (a
bridge, 20 netns, 20 veth pairs created inside them, addresses); prints the ratio.

Uses its own temporary PYSTACK_ROOT/RUN, cgroup parent, link prefix and nft table, and imports
the busybox image (tests/support/busybox.py) as local/busybox:latest first.  Never a test.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STACKS = HERE / "stacks"
PYSTACK = str(Path(sys.executable).parent / "pystack")

# Medians (seconds) from the peers' RESULTS.md (bench/README.md), main pass: (up -d, down).
PEERS = {
    "a": {"compose-v2": (1.078, 0.644), "compose-v1": (1.411, 0.991),
          "podman-compose": (1.427, 1.182)},
    "b": {"compose-v2": (3.816, 1.718), "compose-v1": (4.277, 2.242),
          "podman-compose": (8.774, 5.942)},
    "c": {"compose-v2": (4.177, 0.662), "compose-v1": (4.115, 1.165)},
}
DOCKER_ENGINE_PSS_MIB = 139.1           # dockerd + containerd, 20 containers up (RESULTS.md)
DOCKER_SHIM_PSS_MIB = 2.9               # per containerd-shim-runc-v2


def setup_env() -> dict[str, str]:
    tag = secrets.token_hex(2)
    base = Path(tempfile.mkdtemp(prefix=f"pystack-bench-{tag}-"))
    env = {
        "PYSTACK_ROOT": str(base / "root"), "PYSTACK_RUN": str(base / "run"),
        "PYSTACK_CGROUP_PARENT": f"pystack-bench-{tag}", "PYSTACK_IFPREFIX": "b" + tag[:3],
        "PYSTACK_NFT_TABLE": f"pystack_b{tag}", "PYSTACK_BENCH_BASE": str(base),
    }
    os.environ.update(env)
    # A user's install has byte-compiled modules; this sandbox sets PYTHONDONTWRITEBYTECODE,
    # which would make every run compile pystack's sources again (~0.15 s).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import compileall

    for d in ("orchestrator", "runtime", "net"):
        compileall.compile_dir(str(REPO / d), quiet=1)
    sys.path.insert(0, str(REPO))
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.image.store import ImageStore
    from tests.support.busybox import IMAGE_CMD, IMAGE_ENV, build_rootfs, rootfs_tar

    tar = rootfs_tar(build_rootfs(base / "rootfs"), base / "rootfs.tar")
    ImageStore().import_rootfs(tar, "local/busybox:latest",
                               ImageConfig(env=tuple(IMAGE_ENV), cmd=tuple(IMAGE_CMD)))
    return env


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    return dt


def pss_of(marker: str) -> tuple[int, float, float]:
    """(processes, PSS MiB, RSS MiB) of every process with `marker` in its argv."""
    n, pss, rss = 0, 0, 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if marker.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return n, pss / 1024, rss / 1024


def bench_stack(key: str, pairs: int) -> tuple[list[float], list[float], tuple[int, float, float]]:
    f = str(STACKS / f"stack-{key}.yml")
    base = [PYSTACK, "--progress", "quiet", "-f", f, "-p", f"bench{key}"]
    ups: list[float] = []
    downs: list[float] = []
    mem = (0, 0.0, 0.0)
    for i in range(pairs + 1):
        u = timed([*base, "up", "-d"])
        if i == pairs:
            mem = pss_of(os.environ["PYSTACK_ROOT"])
        d = timed([*base, "down"])
        if i:                           # the first pair warms up
            ups.append(u)
            downs.append(d)
    return ups, downs, mem


FLOOR = HERE / "floor"


def floor_round(base: Path) -> tuple[float, float]:
    """(containers s, network up + down s) of the by-hand floor for stack b."""
    env = dict(os.environ, TMPDIR=str(base))
    t0 = time.perf_counter()
    subprocess.run(["sh", str(FLOOR / "floor-containers.sh"), "-p", "-c", "20"], env=env,
                   check=True, capture_output=True)
    t1 = time.perf_counter()
    subprocess.run(["sh", str(FLOOR / "floor-net.sh"), "up", "20", "direct"], env=env,
                   check=True, capture_output=True)
    subprocess.run(["sh", str(FLOOR / "floor-net.sh"), "down", "20", "direct"], env=env,
                   check=True, capture_output=True)
    t2 = time.perf_counter()
    while any(n.startswith("pfh") for n in os.listdir("/sys/class/net")):
        time.sleep(0.05)                # not timed: the kernel frees the pairs after netns del
    return t1 - t0, t2 - t1


def against_floor(pairs: int) -> None:
    base = Path(os.environ["PYSTACK_BENCH_BASE"])
    (base / "pystack-busybox-rootfs").symlink_to(base / "rootfs")   # the floor script's name
    f = str(STACKS / "stack-b.yml")
    cmd = [PYSTACK, "--progress", "quiet", "-f", f, "-p", "benchfloor"]
    ups: list[float] = []
    downs: list[float] = []
    floors: list[tuple[float, float]] = []
    for i in range(pairs + 1):          # interleaved rounds; the first warms up
        u, d = timed([*cmd, "up", "-d"]), timed([*cmd, "down"])
        fl = floor_round(base)
        if i:
            ups.append(u)
            downs.append(d)
            floors.append(fl)
    mu, md = statistics.median(ups), statistics.median(downs)
    fc = statistics.median(x[0] for x in floors)
    fn = statistics.median(x[1] for x in floors)
    ft = statistics.median(x[0] + x[1] for x in floors)
    print(f"stack b, {pairs} interleaved rounds after 1 warm-up, medians "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus):")
    print(f"  pystack up -d {mu:.3f} s + down {md:.3f} s = {mu + md:.3f} s")
    print(f"  floor: containers {fc:.3f} s + network up/down {fn:.3f} s = {ft:.3f} s")
    print(f"  ratio (up + down) / floor = {(mu + md) / ft:.2f}x")


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.3f} ({min(xs):.3f}-{max(xs):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--stacks", default="a,b,c")
    ap.add_argument("--floor", action="store_true",
                    help="stack b against the by-hand floor, in the same run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    env = setup_env()
    if args.floor:
        try:
            against_floor(args.pairs)
        finally:
            subprocess.run(["umount", "-R", "-l", env["PYSTACK_BENCH_BASE"]],
                           capture_output=True)
            shutil.rmtree(env["PYSTACK_BENCH_BASE"], ignore_errors=True)
        return
    print(f"pystack up -d / down, {args.pairs} counted pairs after 1 warm-up pair; peers from "
          "their RESULTS.md (bench/README.md; not installed here)\n")
    print(f"{'stack':5} {'pystack up -d':24} {'pystack down':24} peers' medians (up/down) "
          "and pystack's speed-up")
    try:
        for key in args.stacks.split(","):
            ups, downs, mem = bench_stack(key, args.pairs)
            mu, md = statistics.median(ups), statistics.median(downs)
            peers = "; ".join(f"{name} {u:.2f}/{d:.2f} (x{u / mu:.1f}/x{d / md:.1f})"
                              for name, (u, d) in PEERS.get(key, {}).items())
            print(f"{key:5} {fmt(ups):24} {fmt(downs):24} {peers}")
            if key == "b":
                print(f"      physical floor (RESULTS.md, shell tools, 20 containers + netns + "
                      f"veth): ~0.50 s (0.75 s with cgroups) -> pystack up x{mu / 0.75:.1f} "
                      "of it")
                n, pss, rss = mem
                docker = DOCKER_ENGINE_PSS_MIB + 20 * DOCKER_SHIM_PSS_MIB
                print(f"      resident with stack b up: {n} pystack processes, PSS "
                      f"{pss:.1f} MiB (RSS {rss:.1f} MiB); docker engine+20 shims PSS "
                      f"{docker:.1f} MiB -> x{docker / pss:.1f} less" if pss else "")
    finally:
        base = env["PYSTACK_BENCH_BASE"]
        subprocess.run(["umount", "-R", "-l", base], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
