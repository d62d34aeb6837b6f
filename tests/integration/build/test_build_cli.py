"""The rest of the build surface, for real: a built image pushed to the local registry and
read back with skopeo, `image history`, `builder du|prune`, `down --rmi local`, and the
progress output's shape."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pystack.runtime.image.store import ImageStore
from tests.integration.build.conftest import Ctx
from tests.integration.image.conftest import Registry, registry  # noqa: F401 (fixture)
from tests.integration.stack.conftest import Project, pystack_argv

pytestmark = pytest.mark.root


def pystack(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(pystack_argv(*args), capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.mark.registry
def test_built_image_pushed_and_checked_with_skopeo(ctx: Ctx, registry: Registry,  # noqa: F811
                                                    ) -> None:
    exe = shutil.which("skopeo")
    if exe is None:
        pytest.skip("skopeo is not installed")
    ctx.write("hello.txt", "pushed\n")
    ref = registry.ref("built/app:1")
    r = ctx.build("FROM local/busybox:latest\nCOPY hello.txt /\nRUN echo ran > /ran\n"
                  'CMD ["cat", "/hello.txt"]\n', tags=(ref,))
    digest = ImageStore().push(ref, insecure=True)
    raw = json.loads(subprocess.run([exe, "inspect", "--raw", "--tls-verify=false",
                                     f"docker://{ref}"], capture_output=True, text=True,
                                    check=True).stdout)
    assert raw["config"]["digest"] == r.image_id and len(raw["layers"]) == 3
    cfg = json.loads(subprocess.run([exe, "inspect", "--config", "--tls-verify=false",
                                     f"docker://{ref}"], capture_output=True, text=True,
                                    check=True).stdout)
    assert cfg["config"]["Cmd"] == ["cat", "/hello.txt"]
    assert [h["created_by"] for h in cfg["history"]][-3:] == [
        "COPY hello.txt / # buildkit", "RUN echo ran > /ran # buildkit",
        'CMD ["cat" "/hello.txt"] # buildkit']
    assert digest.startswith("sha256:")


def test_progress_history_and_builder_commands(ctx: Ctx) -> None:
    ctx.write("Dockerfile", "FROM local/busybox:latest\nENV A=1\nRUN echo out-line\n")
    r = pystack("image", "build", "-t", "built:cli", str(ctx.root))
    lines = r.stderr.splitlines()
    assert "#1 [1/2] FROM local/busybox:latest" in lines
    assert "#2 [2/2] RUN echo out-line" in lines
    assert any(ln.startswith("#2 ") and ln.endswith(" out-line") for ln in lines)
    assert any(ln.startswith("#2 DONE ") for ln in lines)
    assert r.stdout.strip() == ImageStore().resolve("built:cli")
    again = pystack("image", "build", "-t", "built:cli", str(ctx.root))
    assert "#2 CACHED" in again.stderr.splitlines()
    hist = pystack("image", "history", "--no-trunc", "built:cli").stdout
    assert "RUN echo out-line # buildkit" in hist and "ENV A=1 # buildkit" in hist
    assert "Build cache records:" in pystack("builder", "du").stdout
    assert "Deleted build cache objects:" in pystack("builder", "prune", "-f").stdout
    assert "Build cache records: 0" in pystack("builder", "du").stdout
    assert ImageStore().exists("built:cli")                   # images are kept
    cold = pystack("image", "build", "-t", "built:cli", str(ctx.root))
    assert "CACHED" not in cold.stderr


def test_down_rmi_local_removes_built_images(tmp_path: Path, busybox_image: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Dockerfile").write_text("FROM local/busybox:latest\n"
                                               'CMD ["sleep", "300"]\n')
    p = Project(tmp_path, "services:\n  a:\n    build: ./a\n"
                          "  b:\n    image: local/busybox:latest\n"
                          "    command: [sleep, '300']\n")
    try:
        p.run("up", "-d")
        assert ImageStore().exists(f"{p.name}-a")
    finally:
        p.run("down", "--rmi", "local")
    assert not ImageStore().exists(f"{p.name}-a")
    assert ImageStore().exists("local/busybox:latest")


def test_run_default_network_is_a_pystack_network_with_nat(ctx: Ctx) -> None:
    ctx.write("Dockerfile", "FROM local/busybox:latest\n"
                            "RUN ip -4 route && ping -c1 -W5 "
                            "$(ip route | awk '/default/ {print $3}') && cat /proc/net/dev\n"
                            "RUN --network=none cat /proc/net/dev\n")
    r = pystack("image", "build", "--no-cache", "-t", "built:net", str(ctx.root))
    first, second = r.stderr.split("[3/3]")
    assert "default via " in first and "1 packets received" in first and "eth0:" in first
    assert "eth0:" not in second and "lo:" in second
    # the build's network and sandboxes are gone: the session's leak check also says so
    import os

    prefix = os.environ["PYSTACK_IFPREFIX"]
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(prefix)]


def test_default_network_sandboxes_are_reused_with_their_files_as_made(ctx: Ctx) -> None:
    # RUN steps in a row share one pooled sandbox (the same netns), and what a RUN did to
    # /etc/hosts (content, mode, owner) is undone before the next one gets it.
    ctx.write("Dockerfile", "FROM local/busybox:latest\n"
                            "RUN readlink /proc/self/ns/net && echo evil > /etc/hosts && "
                            "chmod 600 /etc/hosts && chown 1:1 /etc/hosts\n"
                            "RUN readlink /proc/self/ns/net && ls -ln /etc/hosts && "
                            "cat /etc/hosts && ping -c1 -W5 "
                            "$(ip route | awk '/default/ {print $3}')\n")
    r = pystack("image", "build", "--no-cache", "-t", "built:pool",
                str(ctx.root))
    first, second = r.stderr.split("[3/3]")
    ns = [ln.split()[-1] for ln in r.stderr.splitlines() if "net:[" in ln]
    assert len(ns) == 2 and ns[0] == ns[1], r.stderr
    assert "evil" not in second and "buildkitsandbox" in second
    assert "-rw-r--r--" in second and " 0 " in second.split("-rw-r--r--")[1].split("/etc")[0]
    assert "1 packets received" in second


def test_build_secrets_reach_run_and_never_a_layer(tmp_path: Path, busybox_image: str) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "token.txt").write_text("s3cr3t-file")
    (tmp_path / "app" / "Dockerfile").write_text(
        "FROM local/busybox:latest\n"
        "RUN --mount=type=secret,id=tok --mount=type=secret,id=other,target=/o,required=true "
        "cat /run/secrets/tok /o > /dev/null && stat -c %a /run/secrets/tok > /mode\n"
        "RUN --mount=type=secret,id=absent ls /run/secrets 2>/dev/null | wc -l > /count\n")
    p = Project(tmp_path, "services:\n  app:\n    build:\n      context: ./app\n"
                          "      secrets: [tok, {source: env_sec, target: other}]\n"
                          "secrets:\n  tok: {file: ./token.txt}\n"
                          "  env_sec: {environment: BUILD_SECRET_VAL}\n")
    import os

    os.environ["BUILD_SECRET_VAL"] = "s3cr3t-env"
    try:
        _secrets_checks(p, tmp_path)
    finally:
        del os.environ["BUILD_SECRET_VAL"]


def _secrets_checks(p: Project, tmp_path: Path) -> None:
    p.run("build")
    from tests.integration.build.conftest import image_file

    ref = f"{p.name}-app"
    assert image_file(ref, "mode") == "400\n" and image_file(ref, "count") == "0\n"
    assert image_file(ref, "run/secrets/tok") is None and image_file(ref, "o") is None
    for d in ImageStore().get(ref).layer_dirs:
        for f in d.resolve().rglob("*"):
            if f.is_file() and not f.is_symlink():
                assert b"s3cr3t" not in f.read_bytes()
    (tmp_path / "app" / "Dockerfile").write_text(
        "FROM local/busybox:latest\nRUN --mount=type=secret,id=nope,required=true true\n")
    r = p.run("build", check=False)
    assert r.returncode != 0 and "secret 'nope' was not given" in r.stderr


@pytest.mark.registry
def test_compose_build_push(tmp_path: Path, busybox_image: str,
                            registry: Registry) -> None:  # noqa: F811
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Dockerfile").write_text("FROM local/busybox:latest\nRUN echo p > /p\n")
    ref = registry.ref(f"pushed/{tmp_path.name.lower()}:1")
    p = Project(tmp_path, f"services:\n  a:\n    image: {ref}\n    build: ./a\n")
    r = p.run("build", "--push")
    digest = r.stdout.strip().rsplit(" ", 1)[-1]
    assert digest.startswith("sha256:") and ImageStore().get(ref).digest == digest
