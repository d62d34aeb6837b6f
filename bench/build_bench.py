"""Builder benchmark: three Dockerfiles (a 10-step app image, a multi-stage compile-style one,
a heredoc one) built with `pystack image build -q` (the CLI, as a user runs it): cold (no build
cache), no-op rebuild, one-source-file-changed rebuild; and the per-RUN overhead (a file of 10
`RUN true` minus one without RUN, over 10). Prints a markdown table.

    python bench/build_bench.py [--runs 3] [--network none|default]

Runs in its own PYSTACK_ROOT (a temp dir) on the busybox fixture image; medians of --runs.
BuildKit (`docker build` with DOCKER_BUILDKIT=1) and `buildah bud --layers` are measured in the
same run when PYSTACK_BENCH_DOCKER / PYSTACK_BENCH_BUILDAH name their binaries; `bench/peers.sh`
installs and starts them (`eval "$(sh bench/peers.sh env)"` sets every variable read here).
All builders build the same context directories with the same base image (one `docker save`
tarball: `pystack image load`, `docker load`, `buildah pull docker-archive:`), nothing is
pulled, and the timed builds interleave (each repetition runs every builder in turn, the order
rotating from one repetition to the next).
Never a test: it prints numbers and exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAG = "pystack-bench:x"
Phase = tuple[str, str]                                # (Dockerfile name, phase)

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

# the heredoc file's work without heredocs, for the peers whose frontends predate them
# (BuildKit 0.8 in dockerd 20.10, buildah 1.28); the heredoc COPY becomes a RUN
HEREDOC_PLAIN = """FROM local/busybox:latest
COPY src/ /src/
RUN set -e; mkdir -p /out; for f in /src/*.c; do wc -c "$f" >> /out/sizes; done
RUN printf 'mode=bench\\n' > /etc/app.conf
RUN echo alpha > /out/a && echo beta > /out/b
"""
FILES = {"app-10": APP, "multi-stage": MULTI, "heredoc": HEREDOC, "heredoc as RUN": HEREDOC_PLAIN}


def make_context(d: Path, dockerfile: str) -> None:
    """50 source files and a config dir (the same for every Dockerfile) and the Dockerfile."""
    (d / "src").mkdir(parents=True)
    (d / "config").mkdir()
    for i in range(50):
        (d / "src" / f"m{i}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n" * 20)
    (d / "config" / "app.ini").write_text("[app]\nport=8080\n")
    (d / "Dockerfile").write_text(dockerfile)


class BuildFailed(Exception):
    pass


@dataclass
class Builder:
    """One builder's command line; `cpu` reads the CPU seconds its daemons used so far."""

    name: str
    argv: Callable[[Path, bool], list[str]]            # context, no_cache -> command
    env: dict[str, str]
    cpu: Callable[[], float] = lambda: 0.0
    wall: dict[Phase, list[float]] = field(default_factory=dict)
    cpus: dict[Phase, list[float]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)   # Dockerfile -> why
    ids: dict[str, list[str]] = field(default_factory=dict)  # Dockerfile -> image ids built

    def run(self, argv: list[str]) -> str:
        """Run one command; its last output line (`build -q` prints the image id)."""
        p = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)
        if p.returncode:
            lines = [s for s in p.stderr.splitlines() if s.strip()]
            raise BuildFailed(lines[-1][:160] if lines else f"exit {p.returncode}")
        out = p.stdout.split()
        return out[-1] if out else ""

    def timed(self, key: Phase, ctx: Path, no_cache: bool) -> None:
        r0, c0 = resource.getrusage(resource.RUSAGE_CHILDREN), self.cpu()
        t0 = time.perf_counter()
        image = self.run(self.argv(ctx, no_cache))
        wall = time.perf_counter() - t0
        self.ids.setdefault(key[0], []).append(image)
        r1, c1 = resource.getrusage(resource.RUSAGE_CHILDREN), self.cpu()
        self.wall.setdefault(key, []).append(wall)
        self.cpus.setdefault(key, []).append(
            r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime + c1 - c0)

    def median(self, key: Phase, cpu: bool = False) -> float | None:
        vals = (self.cpus if cpu else self.wall).get(key)
        return statistics.median(vals) if vals else None


def proc_cpu(pids: list[int]) -> Callable[[], float]:
    """CPU seconds (own + reaped children) of daemon processes, from /proc/PID/stat."""
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15])    # utime stime cutime cstime
        return total / tick
    return read


def base_image(base: Path) -> Path:
    """The busybox fixture as a `docker save` tarball named local/busybox:latest, with a
    history entry (buildah 1.28 fails to commit on a base image without history)."""
    from tests.support.busybox import IMAGE_CMD, IMAGE_ENV, build_rootfs
    from tests.support.images import OCI_CONFIG, OCI_MANIFEST, Built, dir_tar, docker_save, sha

    layer = dir_tar(build_rootfs(base / "rootfs"))
    created = "2024-01-02T03:04:05Z"
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": IMAGE_ENV, "Cmd": IMAGE_CMD, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        "history": [{"created": created, "created_by": "busybox rootfs (bench fixture)"}],
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(layer), "size": len(layer)}]}).encode()
    return docker_save(Built(config, manifest, [layer], [sha(layer)]), base / "busybox.tar",
                       tags=("local/busybox:latest",))


def builders(base: Path, network: str) -> tuple[list[Builder], list[tuple[Builder, list[str]]]]:
    """The builders to measure and, for each, the commands that load the base image."""
    pystack = str(Path(sys.executable).parent / "pystack")
    env = dict(os.environ, PYSTACK_ROOT=str(base / "root"), PYSTACK_RUN=str(base / "run"),
               PYSTACK_CGROUP_PARENT=f"pystack-bench-{os.getpid()}")
    out = [Builder("pystack", lambda c, nc: [
        pystack, "image", "build", "-q", f"--network={network}", *(["--no-cache"] * nc),
        "-t", TAG, str(c)], env)]
    load = [(out[0], [pystack, "image", "load", "-q", "-i", "{tar}"])]
    docker = os.environ.get("PYSTACK_BENCH_DOCKER")
    if docker:
        denv = dict(os.environ, DOCKER_BUILDKIT="1")
        if os.environ.get("PYSTACK_BENCH_DOCKER_HOST"):
            denv["DOCKER_HOST"] = os.environ["PYSTACK_BENCH_DOCKER_HOST"]
        pids = [int(p) for p in os.environ.get("PYSTACK_BENCH_DOCKER_PIDS", "").split()]
        b = Builder("BuildKit", lambda c, nc: [
            docker, "build", "-q", f"--network={network}", *(["--no-cache"] * nc),
            "-t", TAG, str(c)], denv, proc_cpu(pids))
        out.append(b)
        load.append((b, [docker, "builder", "prune", "-af"]))
        load.append((b, [docker, "load", "-q", "-i", "{tar}"]))
    buildah = os.environ.get("PYSTACK_BENCH_BUILDAH")
    if buildah:
        benv = dict(os.environ)
        for var, to in (("PYSTACK_BENCH_BUILDAH_STORAGE", "CONTAINERS_STORAGE_CONF"),
                        ("PYSTACK_BENCH_BUILDAH_CONF", "CONTAINERS_CONF")):
            if os.environ.get(var):
                benv[to] = os.environ[var]
        b = Builder("buildah", lambda c, nc: [
            buildah, "bud", "--layers", "-q", "--pull=never", f"--network={network}",
            *(["--no-cache"] * nc), "-t", TAG, str(c)], benv)
        out.append(b)
        load.append((b, [buildah, "rmi", "-af"]))
        load.append((b, [buildah, "pull", "-q", "docker-archive:{tar}"]))
    return out, load


def measure(bs: list[Builder], name: str, ctx: Path, phase: str, runs: int,
            prepare: Callable[[int], None] = lambda i: None, no_cache: bool = False) -> None:
    """`runs` repetitions; in each, every builder still working on `name` builds in turn (the
    order rotates, so no builder is always the first after a change or a busy spell)."""
    for i in range(runs):
        prepare(i)
        for b in bs[i % len(bs):] + bs[:i % len(bs)]:
            if name in b.failed:
                continue
            try:
                b.timed((name, phase), ctx, no_cache)
            except BuildFailed as e:
                b.failed[name] = str(e)


def cache_check(b: Builder, name: str, runs: int) -> str | None:
    """What is wrong with the image ids `name` gave: after the cold builds and the untimed
    warm-up build, the no-op rebuilds must give the warm-up's id and every one-file-changed
    rebuild a new one (else the timing measured the wrong thing)."""
    ids = b.ids.get(name, [])
    if name in b.failed or len(ids) != 3 * runs + 1:
        return None
    warm, noop, changed = ids[runs], ids[runs + 1:2 * runs + 1], ids[2 * runs + 1:]
    if any(i != warm for i in noop):
        return "a no-op rebuild gave a new image id"
    if len(set(changed)) != runs or warm in changed:
        return "a one-file-changed rebuild gave an image id seen before"
    return None


def fmt(v: float | None, ms: bool = False) -> str:
    return "fails" if v is None else f"{v * 1000:.0f} ms" if ms else f"{v:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None or b <= 0 else f"{a / b:.2f}"


def table(bs: list[Builder], keys: list[Phase], cpu: bool) -> list[str]:
    peers = bs[1:]
    head = ["Dockerfile", "phase", *(b.name for b in bs), *(f"pystack/{b.name}" for b in peers)]
    rows = [f"| {' | '.join(head)} |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for key in keys:
        vals = [b.median(key, cpu) for b in bs]
        ms = key[1] == "per-RUN overhead"
        rows.append(f"| {key[0]} | {key[1]} | " + " | ".join(
            [fmt(v, ms) for v in vals] + [ratio(vals[0], v) for v in vals[1:]]) + " |")
    return rows


def overhead(bs: list[Builder]) -> None:
    """per-RUN overhead = (10 x RUN true - no RUN) / 10, both built without cache."""
    for b in bs:
        ten, zero = b.wall.get(("10 x RUN true", "cold")), b.wall.get(("no RUN", "cold"))
        if ten and zero:
            b.wall[("per-RUN", "per-RUN overhead")] = [
                (statistics.median(ten) - statistics.median(zero)) / 10]
        tc, zc = b.cpus.get(("10 x RUN true", "cold")), b.cpus.get(("no RUN", "cold"))
        if tc and zc:
            b.cpus[("per-RUN", "per-RUN overhead")] = [
                (statistics.median(tc) - statistics.median(zc)) / 10]


def describe(bs: list[Builder], runs: int, network: str) -> list[str]:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                      capture_output=True, text=True, check=False).stdout.strip():
        commit += " + local changes"
    lines = [f"pystack build bench, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
             f"checkout {commit or '?'}, median of {runs}, RUN network {network}, "
             f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (start)"]
    for b in bs[1:]:
        argv = {"BuildKit": [b.argv(Path("."), False)[0], "version", "--format",
                             "dockerd {{.Server.Version}} (client {{.Client.Version}})"],
                "buildah": [b.argv(Path("."), False)[0], "--version"]}[b.name]
        v = subprocess.run(argv, env=b.env, capture_output=True, text=True, check=False)
        lines.append(f"{b.name}: {v.stderr.strip()[:120] if v.returncode else v.stdout.strip()}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--network", choices=("none", "default"), default="none",
                    help="network of the RUN steps, for every builder (default: none)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root")
        return 0
    base = Path(tempfile.mkdtemp(prefix="pystack-build-bench-"))
    bs, load = builders(base, args.network)
    t_start = time.monotonic()
    try:
        lines = describe(bs, args.runs, args.network)
        tar = base_image(base)
        for b, argv in load:                   # a peer that cannot load it is not measured
            try:
                if b in bs:
                    b.run([a.replace("{tar}", str(tar)) for a in argv])
            except (BuildFailed, OSError) as e:
                lines.append(f"{b.name}: not measured (loading the base image failed: {e})")
                bs.remove(b)
        keys: list[Phase] = []
        for name, text in FILES.items():
            ctx = base / name.replace(" ", "-")
            make_context(ctx, text)
            measure(bs, name, ctx, "cold", args.runs, no_cache=True)
            for b in bs:                           # the cache a no-op rebuild starts from
                if name not in b.failed:
                    b.ids.setdefault(name, []).append(b.run(b.argv(ctx, False)))
            measure(bs, name, ctx, "no-op", args.runs)

            def change(i: int, c: Path = ctx) -> None:
                (c / "src" / "m7.c").write_text(f"int f7(void) {{ return {i + 100}; }}\n")
            measure(bs, name, ctx, "1 file changed", args.runs, prepare=change)
            keys += [(name, p) for p in ("cold", "no-op", "1 file changed")]
        for name, text in (("10 x RUN true", "".join(f"RUN true {i}\n" for i in range(10))),
                           ("no RUN", "LABEL x=y\n")):
            ctx = base / name.replace(" ", "-")
            ctx.mkdir()
            (ctx / "Dockerfile").write_text("FROM local/busybox:latest\n" + text)
            measure(bs, name, ctx, "cold", args.runs, no_cache=True)
        overhead(bs)
        keys += [("10 x RUN true", "cold"), ("no RUN", "cold"), ("per-RUN", "per-RUN overhead")]
        lines.append(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (end), "
                     f"{time.monotonic() - t_start:.0f} s in all")
        print("\n".join(lines))
        print("\nWall seconds (median):\n")
        print("\n".join(table(bs, keys, cpu=False)))
        print("\nCPU seconds, user+sys (median; pystack and buildah: the command and the "
              "descendants reaped along the chain, not detached ones; BuildKit: the docker "
              "client + dockerd + containerd and their reaped children):\n")
        print("\n".join(table(bs, keys, cpu=True)))
        for b in bs:
            for name, why in b.failed.items():
                print(f"\n{b.name} fails on {name}: {why}")
            for name in FILES:
                if (wrong := cache_check(b, name, args.runs)) is not None:
                    print(f"\n{b.name} on {name}: CACHE CHECK FAILED: {wrong}")
        print("\nImage ids checked: every no-op rebuild gave the same image, every "
              "one-file-changed rebuild a new one, except where said above.")
        return 0
    finally:
        cleanup(bs, base)


def cleanup(bs: list[Builder], base: Path) -> None:
    """Remove what the run put into each builder's store, then the temp dir."""
    for b in bs:
        exe = b.argv(base, False)[0]
        cmds = {"pystack": [[exe, "image", "prune", "-a", "-f"]],
                "BuildKit": [[exe, "rmi", "-f", TAG, "local/busybox:latest"],
                             [exe, "builder", "prune", "-af"]],
                "buildah": [[exe, "rm", "--all"], [exe, "rmi", "-af"]]}[b.name]
        for argv in cmds:
            subprocess.run(argv, env=b.env, capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
