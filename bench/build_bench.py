"""Builder benchmark: three Dockerfiles (a 10-step app image, a multi-stage compile-style one,
a heredoc one) built with `pystack image build -q` (the CLI, as a user runs it): cold (empty
cache), no-op rebuild, one-source-file-changed rebuild; and the per-RUN overhead (a file of 10
`RUN true` minus one without RUN, over 10).

    python bench/build_bench.py [--runs 3]

Runs in its own PYSTACK_ROOT (a temp dir) on the busybox fixture image; medians of --runs.
BuildKit (`docker build` with DOCKER_BUILDKIT=1) and `buildah bud --layers` are measured in
the same run, alternating, when PYSTACK_BENCH_DOCKER / PYSTACK_BENCH_BUILDAH name their
binaries (with a local busybox image named `local/busybox:latest`); otherwise not measured.
Never a test: it prints numbers and exits 0.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP = """FROM local/busybox:latest
ENV APP=/app MODE=bench
WORKDIR /app
COPY config/ ./config/
RUN mkdir -p /app/data && echo ready > /app/data/flag
COPY src/ ./src/
RUN cat src/*.c > /app/all.c
RUN wc -l /app/all.c > /app/lines
LABEL bench=app
EXPOSE 8080
CMD ["cat", "/app/lines"]
"""
MULTI = """FROM local/busybox:latest AS compile
WORKDIR /build
COPY src/ ./src/
RUN cat src/*.c | sort > app.bin && md5sum app.bin > app.sum
FROM local/busybox:latest AS test
COPY --from=compile /build/app.bin /t/
RUN test -s /t/app.bin
FROM local/busybox:latest
COPY --from=compile /build/app.bin /build/app.sum /usr/local/bin/
CMD ["cat", "/usr/local/bin/app.sum"]
"""
HEREDOC = """FROM local/busybox:latest
COPY src/ /src/
RUN <<EOF
set -e
mkdir -p /out
for f in /src/*.c; do wc -c "$f" >> /out/sizes; done
EOF
COPY <<EOF /etc/app.conf
mode=bench
EOF
RUN <<A cat > /out/a && <<B cat > /out/b
alpha
A
beta
B
"""


def make_context(d: Path) -> None:
    (d / "src").mkdir(parents=True)
    (d / "config").mkdir()
    for i in range(50):
        (d / "src" / f"m{i}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n" * 20)
    (d / "config" / "app.ini").write_text("[app]\nport=8080\n")


CPU: list[float] = []                  # CPU seconds (user+sys) of the last median_of's runs


def median_of(fn: Callable[[], None], runs: int) -> float:
    """Median wall seconds of `runs` calls; their median CPU seconds (children) into CPU
    (steadier than wall time on a busy machine)."""
    out = []
    cpu = []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    CPU[:] = [statistics.median(cpu)]
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root")
        return 0
    base = Path(tempfile.mkdtemp(prefix="pystack-build-bench-"))
    env = dict(os.environ, PYSTACK_ROOT=str(base / "root"), PYSTACK_RUN=str(base / "run"),
               PYSTACK_CGROUP_PARENT=f"pystack-bench-{os.getpid()}")
    os.environ.update(env)
    pystack = str(Path(sys.executable).parent / "pystack")
    try:
        from pystack.runtime.image.model import ImageConfig
        from pystack.runtime.image.store import ImageStore
        from tests.support.busybox import IMAGE_CMD, IMAGE_ENV, build_rootfs, rootfs_tar

        tar = rootfs_tar(build_rootfs(base / "rootfs"), base / "rootfs.tar")
        ImageStore().import_rootfs(tar, "local/busybox:latest",
                                   ImageConfig(env=tuple(IMAGE_ENV), cmd=tuple(IMAGE_CMD)))

        def pybuild(ctx: Path, *extra: str) -> None:
            subprocess.run([pystack, "image", "build", "-q", *extra, "-t", "bench:x", str(ctx)],
                           check=True, env=env, stdout=subprocess.DEVNULL)

        builders: dict[str, Callable[[Path, bool], None]] = {
            "pystack": lambda c, cold: pybuild(c, *(["--no-cache"] if cold else []))}
        docker = os.environ.get("PYSTACK_BENCH_DOCKER")
        if docker:
            builders["BuildKit"] = lambda c, cold: subprocess.run(
                [docker, "build", "-q", *(["--no-cache"] if cold else []), "-t", "bench:x",
                 str(c)], check=True, env=dict(os.environ, DOCKER_BUILDKIT="1"),
                stdout=subprocess.DEVNULL)
        buildah = os.environ.get("PYSTACK_BENCH_BUILDAH")
        if buildah:
            builders["buildah"] = lambda c, cold: subprocess.run(
                [buildah, "bud", "--layers", "-q", *(["--no-cache"] if cold else []),
                 "-t", "bench:x", str(c)], check=True, stdout=subprocess.DEVNULL)
        print(f"{'Dockerfile':10} {'builder':9} {'cold':>8} {'no-op':>8} {'1 file':>8}   "
              f"(seconds, median of {args.runs}; CPU of pystack's processes)")
        for name, text in (("app-10", APP), ("multi", MULTI), ("heredoc", HEREDOC)):
            ctx = base / name
            make_context(ctx)
            (ctx / "Dockerfile").write_text(text)
            rows: dict[str, list[float]] = {b: [] for b in builders}
            cpus: list[float] = []
            n = [0]
            for phase in ("cold", "noop", "changed"):
                for bname, fn in builders.items():           # alternating, phase by phase
                    if phase == "noop":
                        fn(ctx, False)

                    def step(fn: Callable[[Path, bool], None] = fn, phase: str = phase,
                             c: Path = ctx, n: list[int] = n) -> None:
                        if phase == "changed":
                            n[0] += 1
                            (c / "src" / "m7.c").write_text(
                                f"int f7(void) {{ return {n[0]}; }}\n")
                        fn(c, phase == "cold")
                    rows[bname].append(median_of(step, args.runs))
                    if bname == "pystack":
                        cpus.append(CPU[0])
            for bname, (cold, noop, changed) in rows.items():
                cpu = ("   CPU " + " ".join(f"{c:.3f}" for c in cpus)) if bname == "pystack" \
                    else f"   no-op pystack/{bname}: {rows['pystack'][1] / noop:.2f}"
                print(f"{name:10} {bname:9} {cold:8.3f} {noop:8.3f} {changed:8.3f}{cpu}")

        runs = base / "runs"
        runs.mkdir()
        (runs / "Dockerfile").write_text("FROM local/busybox:latest\n" +
                                         "".join(f"RUN true {i}\n" for i in range(10)))
        zero = base / "zero"
        zero.mkdir()
        (zero / "Dockerfile").write_text("FROM local/busybox:latest\nLABEL x=y\n")
        t10 = median_of(lambda: pybuild(runs, "--no-cache"), args.runs)
        t0 = median_of(lambda: pybuild(zero, "--no-cache"), args.runs)
        print(f"per-RUN overhead: {(t10 - t0) / 10 * 1000:.0f} ms "
              f"(10 x RUN true: {t10:.3f} s, no RUN: {t0:.3f} s)")
        for var, label in (("PYSTACK_BENCH_DOCKER", "BuildKit"),
                           ("PYSTACK_BENCH_BUILDAH", "buildah")):
            if not os.environ.get(var):
                print(f"{label}: not measured ({var} not set)")
        # (the peers build the same contexts: they need `local/busybox:latest` in their own
        # image store; pystack's per-RUN overhead is measured alone)
        return 0
    finally:
        subprocess.run([pystack, "image", "prune", "-a", "-f"], env=env,
                       capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
