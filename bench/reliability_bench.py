"""Fault injection and endurance through the CLI (issue 15; root; never a test).

    sudo .venv/bin/python bench/reliability_bench.py storm [--rounds 50]
    sudo .venv/bin/python bench/reliability_bench.py cycles [--cycles 200]

storm: each round breaks an `up -d` of a 5-service healthchecked stack in one of four ways,
in turn: SIGKILL to the CLI at a random moment; the CLI killed at a named point inside
container creation (runtime.faults, PYSTACK_CRASH_AT); SIGKILL to a random shim while `up`
waits on a healthcheck; SIGKILL to a random shim of a stack that is up.  Then `up -d --wait`
must bring every service back (the published port answers), and every 10 rounds `down -v`
must leave nothing (no container dir, link, cgroup, nft rule, mount or process).
cycles: `up -d --wait` / `down` of 6 services with 100 ms healthchecks and a 2 s grace period;
the time of every `down` against the grace period.

Uses its own temporary PYSTACK_ROOT/RUN, cgroup parent, link prefix and nft table
(bench/stack_bench.py's set-up).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stack_bench import PYSTACK, REPO, setup_env  # type: ignore[import-not-found]

POINTS = ["create:recorded", "create:sandbox", "runtime-create:dirs", "write-tmp:spec.json",
          "runtime-create:state", "write-tmp:project-state", "shim:before-report"]

STORM = """
services:
  db:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 0.3; touch /tmp/ok; sleep 86400 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 0.1s, retries: 100}
  web:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /etc & wait"]
    ports: ["127.0.0.1:PORT:8080"]
    depends_on: {db: {condition: service_healthy}}
"""
WORKER = """  w{i}:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    depends_on: [web]
"""
CYCLE = """  s{i}:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    stop_grace_period: 2s
    healthcheck: {{test: ["CMD", "true"], interval: 0.1s}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(d: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYSTACK, "--progress", "plain", "-f", str(d / "stack.yml"), "-p",
                           d.name, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ))


def shims(project: str) -> list[int]:
    root = Path(os.environ["PYSTACK_ROOT"]) / "containers"
    out = []
    for c in root.iterdir() if root.is_dir() else ():
        try:
            import json

            st = json.loads((c / "state.json").read_text())
        except (OSError, ValueError):
            continue
        if st.get("labels", {}).get("com.docker.compose.project") == project and \
                st.get("shim_pid") and st.get("status") == "running":
            out.append(int(st["shim_pid"]))
    return out


def leftovers(env: dict[str, str]) -> dict[str, list[str]]:
    sys.path.insert(0, str(REPO))
    from tests.support.hostenv import leftovers as left

    found = left(dict(env, PYSTACK_TEST_BASE=env["PYSTACK_BENCH_BASE"]))
    cdir = Path(env["PYSTACK_ROOT"]) / "containers"
    if cdir.is_dir() and os.listdir(cdir):
        found["container dirs"] = os.listdir(cdir)
    return found


def storm(rounds: int, env: dict[str, str]) -> None:
    base = Path(env["PYSTACK_BENCH_BASE"])
    d = base / "stormp"
    d.mkdir()
    port = free_port()
    (d / "stack.yml").write_text(STORM.replace("PORT", str(port)) +
                                 "".join(WORKER.format(i=i) for i in range(3)))
    rng = random.Random(15)
    ok = 0
    recover: list[float] = []
    for r in range(rounds):
        mode = ("cli-random", "cli-point", "shim-while-waiting", "shim-after-up")[r % 4]
        note = ""
        if mode == "cli-random":
            p = subprocess.Popen([PYSTACK, "-f", str(d / "stack.yml"), "-p", d.name, "up",
                                  "-d"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            delay = rng.uniform(0.05, 1.5)
            note = f"after {delay:.2f}s"
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
        elif mode == "cli-point":
            point = POINTS[(r // 4) % len(POINTS)]
            note = point
            cli(d, "up", "-d", env=dict(os.environ, PYSTACK_CRASH_AT=point))
        elif mode == "shim-while-waiting":
            cli(d, "down")
            p = subprocess.Popen([PYSTACK, "-f", str(d / "stack.yml"), "-p", d.name, "up",
                                  "-d"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
            deadline = time.monotonic() + 30
            while not shims(d.name) and time.monotonic() < deadline:
                time.sleep(0.01)
            victims = shims(d.name)
            if victims:
                os.kill(rng.choice(victims), signal.SIGKILL)
            try:
                p.communicate(timeout=60)
                note = f"up returned {p.returncode}"
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                note = "UP HUNG 60s"
        else:
            cli(d, "up", "-d", "--wait")
            victims = shims(d.name)
            if victims:
                os.kill(rng.choice(victims), signal.SIGKILL)
        t0 = time.monotonic()
        res = cli(d, "up", "-d", "--wait", "--wait-timeout", "60")
        took = time.monotonic() - t0
        good = res.returncode == 0
        if good:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/passwd", timeout=5) as u:
                    good = b"root:" in u.read()
            except OSError:
                good = False
        ok += good
        recover.append(took)
        print(f"round {r + 1:2d} {mode:19s} {note:28s} recovered={good} in {took:.2f}s"
              + ("" if good else f"\n   {res.stderr.strip()[-400:]}"), flush=True)
        if (r + 1) % 10 == 0 or r + 1 == rounds:
            dn = cli(d, "down", "-v")
            left = leftovers(env)
            print(f"  down -v rc={dn.returncode} leftovers={left or 'none'}", flush=True)
    print(f"\nstorm: {ok}/{rounds} rounds recovered; recovery up -d --wait median "
          f"{statistics.median(recover):.2f}s max {max(recover):.2f}s")


def cycles(n: int, env: dict[str, str]) -> None:
    base = Path(env["PYSTACK_BENCH_BASE"])
    d = base / "cyclep"
    d.mkdir()
    (d / "stack.yml").write_text("services:\n" + "".join(CYCLE.format(i=i) for i in range(6)))
    downs: list[float] = []
    fails = 0
    for i in range(n):
        up = cli(d, "up", "-d", "--wait")
        t0 = time.monotonic()
        dn = cli(d, "down")
        downs.append(time.monotonic() - t0)
        if up.returncode or dn.returncode:
            fails += 1
            print(f"cycle {i + 1}: up rc={up.returncode} down rc={dn.returncode}\n"
                  f"{up.stderr[-300:]}{dn.stderr[-300:]}", flush=True)
        if (i + 1) % 25 == 0:
            print(f"{i + 1} cycles: down median {statistics.median(downs):.3f}s "
                  f"max {max(downs):.3f}s", flush=True)
    over = [x for x in downs if x > 2.0 + 2.0]
    print(f"\ncycles: {n}, failures {fails}; down median {statistics.median(downs):.3f}s, "
          f"p99 {sorted(downs)[int(0.99 * (n - 1))]:.3f}s, max {max(downs):.3f}s; "
          f"over grace (2 s) + 2 s: {len(over)}; leftovers={leftovers(env) or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["storm", "cycles"])
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=200)
    a = ap.parse_args()
    env = setup_env()
    if a.what == "storm":
        storm(a.rounds, env)
    else:
        cycles(a.cycles, env)


if __name__ == "__main__":
    main()
