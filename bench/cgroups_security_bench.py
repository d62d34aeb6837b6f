"""Benchmark of pystack.runtime.cgroups and pystack.runtime.security (root; never a test).

  .venv/bin/python bench/cgroups_security_bench.py [--runs 20] [--no-floor]

1. cgroup lifecycle per container (create in every hierarchy, limits + device rules, join one
   process, kill_all, remove), one after the other and 20 at once in threads, beside the
   physical floor's cgroup share: floor-containers.sh -c minus floor-containers.sh (mkdir,
   join, rmdir in 3 v1 hierarchies with shell tools), run here in the same process
   (RESULTS.md: 0.036 - 0.018 = 0.018 s for 1, 0.496 - 0.240 = 0.256 s for 20 sequential).
2. freeze + thaw and kill_all latency of a 1-process group.
3. Seccomp: compiling the default profile, installing it, and the per-syscall cost of the
   filter (getppid loop with and without it); capability apply.
Docker/podman are not running on this machine: no peer figures for these primitives exist in
the peers' RESULTS.md (bench/README.md) beyond the floor, so only the floor is compared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FLOOR = Path(__file__).resolve().parent / "floor" / "floor-containers.sh"
os.environ["PYSTACK_CGROUP_PARENT"] = f"pystack-bench-{os.getpid()}"

from pystack.runtime.cgroups import open_cgroup  # noqa: E402
from pystack.runtime.security import caps, seccomp  # noqa: E402
from pystack.runtime.spec import Resources  # noqa: E402

RES = Resources(memory=256 << 20, pids_limit=100, cpus=0.5)


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def spawn_true() -> int:
    """A child that waits for a byte, then execs /bin/true (joins nothing by itself)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os.execv("/bin/true", ["/bin/true"])
    os.close(r)
    return pid * 1000 + w          # packed: pid and the write end


CG_TIME: list[float] = []     # seconds spent in cgroup calls, per container


def one_container(i: int, with_cgroup: bool) -> None:
    packed = spawn_true()
    pid, w = divmod(packed, 1000)
    cg = None
    spent = 0.0
    if with_cgroup:
        t = time.perf_counter()
        cg = open_cgroup(f"b{i}")
        cg.create()
        cg.apply(RES)
        cg.add_pid(pid)
        spent += time.perf_counter() - t
    os.write(w, b"x")
    os.close(w)
    os.waitpid(pid, 0)
    if cg is not None:
        t = time.perf_counter()
        cg.kill_all()
        cg.remove()
        spent += time.perf_counter() - t
        CG_TIME.append(spent)


def timed(fn: object, runs: int) -> list[float]:
    assert callable(fn)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def twenty(with_cgroup: bool, parallel: bool) -> None:
    if not parallel:
        for i in range(20):
            one_container(i, with_cgroup)
        return
    ts = [threading.Thread(target=one_container, args=(i, with_cgroup)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def floor(runs: int) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="pystack-bench-floor-")
    root = Path(tmp, "pystack-busybox-rootfs", "bin")
    root.mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "busybox")
    (root / "true").symlink_to("busybox")
    env = {**os.environ, "TMPDIR": tmp}
    out: dict[str, float] = {}
    try:
        for key, args, k in (("1", ["1"], runs), ("1c", ["-c", "1"], runs),
                             ("20", ["20"], max(5, runs // 2)),
                             ("20c", ["-c", "20"], max(5, runs // 2)),
                             ("20p", ["-p", "20"], max(5, runs // 2)),
                             ("20pc", ["-p", "-c", "20"], max(5, runs // 2))):
            out[key] = med(timed(lambda a=args: subprocess.run(  # type: ignore[misc]
                ["sh", str(FLOOR), *a], env=env, check=True), k))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def syscall_ns(n: int = 200_000) -> float:
    """ns per getppid(2) from Python (best of 5 loops)."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            os.getppid()
        best = min(best, (time.perf_counter() - t) / n * 1e9)
    return best


def in_child(fn: object) -> float:
    assert callable(fn)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, repr(fn()).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 100)
    os.waitpid(pid, 0)
    return float(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-floor", action="store_true")
    a = ap.parse_args()
    n = a.runs
    print(f"cgroup layout: {open_cgroup('x').__class__.__name__}  runs={n} (medians)")

    timed(lambda: one_container(0, True), n)
    per = med(CG_TIME)
    base20p = med(timed(lambda: twenty(False, True), max(3, n // 4)))
    cg20p = med(timed(lambda: twenty(True, True), max(3, n // 4)))
    ours = {"1": per, "20": 20 * per, "20p": cg20p - base20p}
    print("\n1. cgroup share of a container start+stop, seconds: pystack = time inside the "
          "cgroup calls (create in 8 v1 hierarchies + v2, limits, device rules, join, "
          "kill_all, remove); 20 one after the other = 20x that; 20 in parallel = wall "
          "difference with/without; floor = floor-containers.sh -c minus without")
    fl: dict[str, float] | None = None
    if not a.no_floor and FLOOR.exists():
        f = floor(n)
        fl = {"1": f["1c"] - f["1"], "20": f["20c"] - f["20"], "20p": f["20pc"] - f["20p"]}
        print("   floor now (s): " + "  ".join(f"{k}={v:.3f}" for k, v in f.items()))
    rows = [("1 container", "1"), ("20 one after the other", "20"), ("20 in parallel", "20p")]
    print(f"{'':26}{'pystack':>10}{'floor (run now)':>17}{'RESULTS.md':>12}{'ratio':>8}")
    published = {"1": 0.036 - 0.018, "20": 0.496 - 0.240, "20p": 0.220 - 0.115}
    for label, k in rows:
        fv = fl.get(k) if fl else None
        ratio = f"{ours[k] / fv:.2f}x" if fv else "-"
        fs = f"{fv:.4f}" if fv is not None else "-"
        print(f"{label:26}{ours[k]:>10.4f}{fs:>17}{published[k]:>12.3f}{ratio:>8}")

    cg = open_cgroup("bf")
    cg.create()
    p = subprocess.Popen(["/bin/sleep", "60"])
    cg.add_pid(p.pid)
    def freeze_thaw() -> None:
        cg.freeze()
        cg.thaw()
    fz = med(timed(freeze_thaw, n))
    t = time.perf_counter()
    cg.kill_all()
    kill = time.perf_counter() - t
    p.wait()
    cg.remove()
    print(f"\n2. freeze+thaw {fz * 1e3:.2f} ms   kill_all (1 process) {kill * 1e3:.2f} ms")

    seccomp._default_cache.clear()
    t = time.perf_counter()
    prog = seccomp.build_filter(caps.DEFAULT, None)
    build = time.perf_counter() - t
    assert prog is not None
    cached = med(timed(lambda: seccomp.build_filter(caps.DEFAULT, None), n))

    def install_and_measure() -> float:
        caps.set_no_new_privs()
        t0 = time.perf_counter()
        seccomp.install(prog)
        return time.perf_counter() - t0
    inst = in_child(install_and_measure)
    plain = in_child(syscall_ns)

    def filtered() -> float:
        caps.set_no_new_privs()
        seccomp.install(prog)
        return syscall_ns()
    filt = in_child(filtered)
    capt = in_child(lambda: timed(lambda: caps.apply(caps.DEFAULT), 1)[0])
    print(f"\n3. seccomp default profile: {len(prog) // 8} BPF instructions; compile "
          f"{build * 1e3:.2f} ms (cached {cached * 1e6:.1f} µs), install {inst * 1e3:.3f} ms")
    print(f"   getppid from Python: {plain:.0f} ns without filter, {filt:.0f} ns with "
          f"(+{filt - plain:.0f} ns per syscall, {filt / plain:.2f}x)")
    print(f"   caps.apply(Docker default): {capt * 1e3:.3f} ms")
    for d in Path("/sys/fs/cgroup").iterdir():
        try:
            os.rmdir(d / os.environ["PYSTACK_CGROUP_PARENT"])
        except OSError:
            pass


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    main()
