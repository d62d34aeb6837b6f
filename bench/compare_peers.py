"""pystack beside Docker Compose v2/v1 and podman-compose, measured in ONE run, as ratios.

For each stack of bench/stacks, rounds alternate between the systems (pystack pair,
compose-v2 pair, compose-v1 pair, podman-compose pair, then again ...), each pair being
`up -d` then `down` timed as whole processes; one warm-up round is not counted.  A peer is
included only when it is set up (bench/README.md); otherwise its column says
"not installed".  Never a test.

    .venv/bin/python bench/compare_peers.py [--rounds 5] [--stacks a,b,c]
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

REPO = Path(__file__).resolve().parent.parent
STACKS = REPO / "bench" / "stacks"
PYSTACK = str(Path(sys.executable).parent / "pystack")
VENV = Path(os.environ.get("PEERS_VENV", Path(tempfile.gettempdir()) / "peers-venv"))


def peer_commands(stack: Path, project: str) -> dict[str, tuple[str, str]]:
    """Every system that is set up here -> (up command, down command)."""
    out = {"pystack": (f"{PYSTACK} -p {project} -f {stack} up -d",
                       f"{PYSTACK} -p {project} -f {stack} down")}
    ok = subprocess.run("docker info >/dev/null 2>&1", shell=True).returncode == 0
    if ok and subprocess.run("docker compose version >/dev/null 2>&1",
                             shell=True).returncode == 0:
        out["compose-v2"] = (f"docker compose -p {project} -f {stack} up -d",
                             f"docker compose -p {project} -f {stack} down")
    if ok and shutil.which("docker-compose") and "1.29" in subprocess.run(
            ["docker-compose", "version", "--short"], capture_output=True, text=True).stdout:
        out["compose-v1"] = (f"docker-compose -p {project} -f {stack} up -d",
                             f"docker-compose -p {project} -f {stack} down")
    pc = VENV / "bin" / "podman-compose"
    if pc.exists() and shutil.which("podman") and "healthcheck" not in stack.read_text():
        out["podman-compose"] = (f"{pc} -p {project} -f {stack} up -d",
                                 f"{pc} -p {project} -f {stack} down")
    return out


def timed(cmd: str, env: dict[str, str]) -> float:
    t0 = time.monotonic()
    r = subprocess.run(["sh", "-c", cmd], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: {cmd}\n{r.stderr.decode(errors='replace')[-800:]}")
    return wall


def import_image(env: dict[str, str]) -> None:
    sys.path.insert(0, str(REPO))
    from tests.support.busybox import build_rootfs, rootfs_tar

    tmp = Path(tempfile.mkdtemp())
    tar = rootfs_tar(build_rootfs(tmp / "rootfs"), tmp / "rootfs.tar")
    subprocess.run([PYSTACK, "image", "import", "--change", 'CMD ["/bin/sh"]', "--change",
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    str(tar), "local/busybox:latest"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(tmp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stacks", default="a,b,c")
    a = ap.parse_args()
    tag = secrets.token_hex(2)
    base = Path(tempfile.mkdtemp(prefix=f"pystack-cmp-{tag}-"))
    env = dict(os.environ, PYSTACK_ROOT=str(base / "root"), PYSTACK_RUN=str(base / "run"),
               PYSTACK_CGROUP_PARENT=f"pystack-cmp-{tag}", PYSTACK_IFPREFIX="c" + tag[:3],
               PYSTACK_NFT_TABLE=f"pystack_c{tag}")
    import_image(env)
    print(f"{'stack':<6}{'system':<16}{'up -d median':>13}{'down median':>13}"
          f"{'pystack/peer up':>17}{'down':>7}")
    for s in a.stacks.split(","):
        stack = STACKS / f"stack-{s}.yml"
        systems = peer_commands(stack, f"cmp{s}")
        times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in systems}
        for rnd in range(a.rounds + 1):
            for name, (up, down) in systems.items():
                u, d = timed(up, env), timed(down, env)
                if rnd:
                    times[name][0].append(u)
                    times[name][1].append(d)
        pu = statistics.median(times["pystack"][0])
        pd = statistics.median(times["pystack"][1])
        for name in ("pystack", "compose-v2", "compose-v1", "podman-compose"):
            if name not in times:
                print(f"{s:<6}{name:<16}{'not installed here':>26}")
                continue
            mu, md = statistics.median(times[name][0]), statistics.median(times[name][1])
            print(f"{s:<6}{name:<16}{mu:>12.3f}s{md:>12.3f}s{pu / mu:>16.2f}x{pd / md:>6.2f}x")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
