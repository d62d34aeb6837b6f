#!/usr/bin/env python3
"""Benchmark of pystack's container runtime (never a test): run as root from a checkout,

    .venv/bin/python bench/runtime_bench.py [--runs 10] [--parallel 20] [--floor]

1. create+start+stop+delete of one container (busybox `sleep`), sequentially, N runs: median;
   also the create+start part alone, and `true` run to completion (create+start+wait+delete);
2. the same cycle for 20 containers in parallel (threads; each start spawns its own shim);
3. the shims' memory with 20 containers running: PSS and RSS per shim (/proc/PID/smaps_rollup).
Printed beside the physical floor and docker/podman figures of the peers' RESULTS.md
(bench/README.md; docker and podman are not run here); --floor also runs
bench/floor/floor-containers.sh on this machine now.  Uses its own PYSTACK_ROOT/RUN/cgroup parent
and removes everything.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# the peers' RESULTS.md (bench/README.md), 2026-11-22 (medians, seconds / MiB)
FLOOR_1 = 0.018
FLOOR_1_CG = 0.036
FLOOR_20_PAR = 0.115
FLOOR_20_PAR_CG = 0.220
DOCKER_RUN = 0.304          # docker run --rm --network none busybox true
PODMAN_RUN = 0.217          # podman run --rm --network none busybox true
SHIM_PSS_DOCKER = 2.9       # containerd-shim-runc-v2 PSS per container
SHIM_PSS_PODMAN = 0.4       # conmon
SHIM_RSS_DOCKER = 12.9


def build_rootfs(root: Path) -> Path:
    bb = shutil.which("busybox") or "/bin/busybox"
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(bb, root / "bin" / "busybox")
    for a in ("sh", "sleep", "true"):
        os.symlink("busybox", root / "bin" / a)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


def measure_floor(runs: int = 5) -> tuple[float, float] | None:
    """Run bench/floor/floor-containers.sh -c 1 and -p -c 20 now: medians."""
    script = Path(__file__).resolve().parent / "floor" / "floor-containers.sh"
    if not script.exists():
        print(f"floor: {script} not found")
        return None
    base = Path(tempfile.mkdtemp(prefix="pystack-rtbench-floor-"))
    out = []
    try:
        build_rootfs(base / "pystack-busybox-rootfs")
        env = dict(os.environ, TMPDIR=str(base))
        for args in (["-c", "1"], ["-p", "-c", "20"]):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                r = subprocess.run(["sh", str(script), *args], capture_output=True, text=True,
                                   env=env)
                times.append(time.perf_counter() - t0)
                if r.returncode:
                    print(f"floor failed: {r.stderr.strip()[:200]}")
                    return None
            out.append(statistics.median(times))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--floor", action="store_true", help="also run the peers' floor script")
    a = ap.parse_args()
    floor_now = measure_floor() if a.floor else None
    base = Path(tempfile.mkdtemp(prefix="pystack-rtbench-"))
    os.environ.update(PYSTACK_ROOT=str(base / "root"), PYSTACK_RUN=str(base / "run"),
                      PYSTACK_CGROUP_PARENT=f"pystack-rtbench-{secrets.token_hex(2)}")
    from pystack.runtime.image.model import ImageConfig
    from pystack.runtime.linux_runtime import LinuxRuntime
    from pystack.runtime.spec import ContainerSpec

    rootfs = build_rootfs(base / "pystack-busybox-rootfs")    # the floor script's name
    rt = LinuxRuntime()

    def spec(*cmd: str) -> ContainerSpec:
        return ContainerSpec(id=secrets.token_hex(32), name="b-" + secrets.token_hex(6),
                             image=ImageConfig(env=("PATH=/bin",)), image_id="sha256:bench",
                             lower_dirs=(str(rootfs),), command=cmd, network_mode="none",
                             stop_grace_period=0)

    def cycle() -> tuple[float, float]:
        s = spec("sleep", "100")
        t0 = time.perf_counter()
        rt.create(s)
        rt.start(s.id)
        t1 = time.perf_counter()
        rt.stop(s.id, timeout=0)
        rt.delete(s.id)
        return t1 - t0, time.perf_counter() - t0

    def run_true() -> float:
        s = spec("true")
        t0 = time.perf_counter()
        rt.create(s)
        rt.start(s.id)
        rt.wait(s.id)
        rt.delete(s.id)
        return time.perf_counter() - t0

    try:
        cold, _ = cycle()                                  # warm-up: starts the zygote
        starts, cycles = zip(*(cycle() for _ in range(a.runs)), strict=True)
        trues = [run_true() for _ in range(a.runs)]
        pars = []
        for _ in range(3):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(a.parallel) as ex:
                list(ex.map(lambda _: cycle(), range(a.parallel)))
            pars.append(time.perf_counter() - t0)
        from pystack.runtime.spec import ExecSpec

        s = spec("sleep", "100")
        rt.create(s)
        rt.start(s.id)
        execs = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            rt.exec(s.id, ExecSpec(argv=("true",)))
            execs.append(time.perf_counter() - t0)
        rt.delete(s.id, force=True)
        specs = [spec("sleep", "100") for _ in range(a.parallel)]
        for s in specs:
            rt.create(s)
            rt.start(s.id)
        pss = rss = 0
        n = 0
        for st in rt.list_containers():
            import json

            shim = json.loads((base / "root" / "containers" / st.id / "state.json")
                              .read_text())["shim_pid"]
            with open(f"/proc/{shim}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
            n += 1
        for s in specs:
            rt.delete(s.id, force=True)
    finally:
        for st in rt.list_containers():
            rt.delete(st.id, force=True)
        shutil.rmtree(base, ignore_errors=True)

    med = statistics.median
    print(f"pystack runtime bench ({a.runs} runs, medians; peers from their RESULTS.md,"
          f" not run here; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    f1, f20 = floor_now if floor_now else (None, None)
    print(f"{'what':56} {'pystack':>8} {'floor':>7} {'ratio':>5} {'floor now':>9} {'ratio':>5}")
    rows = [("create+start (sleep), 1 container", med(starts), FLOOR_1_CG, f1),
            ("create+start+stop+delete, 1 container", med(cycles), FLOOR_1_CG, f1),
            ("create+start+wait+delete of `true`", med(trues), FLOOR_1_CG, f1),
            (f"{a.parallel} x create+start+stop+delete, in parallel", med(pars),
             FLOOR_20_PAR_CG, f20)]
    for what, v, floor, now in rows:
        tail = f" {now:8.3f}s {v / now:4.1f}x" if now else ""
        print(f"{what:56} {v:7.3f}s {floor:6.3f}s {v / floor:4.1f}x{tail}")
    print(f"{'exec of `true` in a running container':56} {med(execs):7.3f}s")
    print(f"{'first create+start of a process (starts the shim zygote)':56} {cold:7.3f}s")
    print(f"vs docker run --rm --network none true {DOCKER_RUN:.3f}s: "
          f"{med(trues) / DOCKER_RUN:.2f}x; podman {PODMAN_RUN:.3f}s: "
          f"{med(trues) / PODMAN_RUN:.2f}x")
    print(f"shim memory with {n} running: PSS {pss / 1024 / n:.2f} MiB/shim "
          f"(containerd-shim {SHIM_PSS_DOCKER} MiB, conmon {SHIM_PSS_PODMAN} MiB), "
          f"RSS {rss / 1024 / n:.2f} MiB/shim (containerd-shim {SHIM_RSS_DOCKER} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
