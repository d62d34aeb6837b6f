"""`build:` in a stack file, through the real CLI: a `build: .` stack comes up without any
pull, `up --build` recreates only the service whose image changed, `pystack build` and
`pystack image build` errors are located and leave no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.runtime.image.store import ImageStore
from tests.integration.stack.conftest import Project, pystack_argv

pytestmark = pytest.mark.root

STACK = """
services:
  app:
    build: ./app
    command: ["sleep", "300"]
  web:
    image: built-web:dev
    build:
      context: ./web
      args: {WORD: hello}
      dockerfile_inline: |
        FROM local/busybox:latest
        ARG WORD
        RUN echo $$WORD > /w
        CMD ["sleep", "300"]
"""


@pytest.fixture
def project(tmp_path: Path, busybox_image: str) -> Iterator[Project]:
    (tmp_path / "app").mkdir()
    (tmp_path / "web").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM local/busybox:latest\nCOPY msg /msg\n")
    (tmp_path / "app" / "msg").write_text("one\n")
    p = Project(tmp_path, STACK)
    p.write(STACK.replace("built-web", f"{p.name}-web"))     # images are session-wide
    yield p
    p.run("down", check=False)


def test_up_builds_and_rebuild_recreates_only_what_changed(project: Project) -> None:
    r = project.run("up", "-d")
    assert "not supported yet: services.app.build" not in r.stderr
    assert "[app 2/2] COPY msg /msg" in r.stderr and "[web 2/2] RUN echo $WORD > /w" in r.stderr
    store = ImageStore()
    assert store.exists(f"{project.name}-app") and store.exists(f"{project.name}-web:dev")
    ids = project.ids()
    assert project.run("exec", "app", "cat", "/msg").stdout == "one\n"
    assert project.run("exec", "web", "cat", "/w").stdout == "hello\n"
    r = project.run("up", "-d", "--build")
    assert r.stderr.count("CACHED") == 2
    assert project.ids() == ids                      # nothing changed: nothing recreated
    (project.dir / "app" / "msg").write_text("two\n")
    project.run("up", "-d", "--build")
    now = project.ids()
    web, app = f"{project.name}-web-1", f"{project.name}-app-1"
    assert now[web] == ids[web] and now[app] != ids[app]
    assert project.run("exec", "app", "cat", "/msg").stdout == "two\n"


def test_build_command_and_no_build(project: Project) -> None:
    r = project.run("build", "app")
    assert "[app 2/2] COPY msg /msg" in r.stderr and "web" not in r.stderr
    r = project.run("up", "-d", "--no-build", "web", check=False)
    assert r.returncode != 0 and "is not built" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_errors_are_located(tmp_path: Path, busybox_image: str) -> None:
    import subprocess

    (tmp_path / "Dockerfile").write_text("FROM local/busybox:latest\nRUNN echo\n")
    r = subprocess.run(pystack_argv("image", "build", "-t", "built:bad", str(tmp_path)),
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "Dockerfile:2: unknown instruction: RUNN (did you mean run?)" in r.stderr
    (tmp_path / "Dockerfile").write_text("FROM local/busybox:latest\nRUN echo oops; exit 4\n")
    r = subprocess.run(pystack_argv("image", "build", "-q", "-t", "built:bad", str(tmp_path)),
                       capture_output=True, text=True)
    assert r.returncode != 0 and "oops" in r.stderr and "exit code: 4" in r.stderr
    assert "Dockerfile:2" in r.stderr and not ImageStore().exists("built:bad")


def test_run_build_uses_the_fresh_image(project: Project) -> None:
    project.run("up", "-d", "web")                    # the project's network exists
    (project.dir / "app" / "msg").write_text("fresh\n")
    r = project.run("run", "--rm", "--build", "-T", "app", "cat", "/msg")
    assert r.stdout == "fresh\n" and "[app 2/2] COPY msg /msg" in r.stderr


def test_additional_contexts(tmp_path: Path, busybox_image: str) -> None:
    for d in ("base", "app", "assets"):
        (tmp_path / d).mkdir()
    (tmp_path / "base" / "Dockerfile").write_text("FROM local/busybox:latest\n"
                                                  "RUN echo from-base > /base\n")
    (tmp_path / "assets" / "logo.txt").write_text("logo\n")
    (tmp_path / "app" / "Dockerfile").write_text("FROM base\nCOPY --from=assets logo.txt /\n"
                                                 "COPY --from=bb /etc/passwd /bb-passwd\n")
    p = Project(tmp_path, "services:\n  app:\n    build:\n      context: ./app\n"
                          "      additional_contexts:\n        assets: ./assets\n"
                          "        base: service:base\n"
                          "        bb: docker-image://local/busybox:latest\n"
                          "  base:\n    build: ./base\n")
    try:
        # `create app`: base is not among app's dependencies, yet its image is built first
        # (as Compose's addBuildDependencies) and only app gets a container
        p.run("create", "app")
        assert ImageStore().exists(f"{p.name}-base")
        assert [r["Service"] for r in p.ps()] == ["app"]
    finally:
        p.run("down", check=False)
    p.run("build", "app")
    from tests.integration.build.conftest import image_file

    ref = f"{p.name}-app"
    assert image_file(ref, "base") == "from-base\n"       # FROM the service's built image
    assert image_file(ref, "logo.txt") == "logo\n"
    assert "app:x:1000" in (image_file(ref, "bb-passwd") or "")


def test_compose_labels_and_one_step_numbering(project: Project) -> None:
    """Compose's labels on the built images (build.labels win over them, as
    getImageBuildLabels), and `pystack build` numbers steps #1.. across services."""
    text = STACK.replace("built-web", f"{project.name}-web").replace(
        "      args: {WORD: hello}\n",
        "      args: {WORD: hello}\n      labels: {com.docker.compose.service: mine, x: y}\n")
    project.write(text)
    r = project.run("build")
    numbers = [int(ln.split()[0][1:]) for ln in r.stderr.splitlines()
               if ln.startswith("#") and " [" in ln or " exporting to image" in ln]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == 6, r.stderr
    app = ImageStore().get(f"{project.name}-app").config.labels
    web = ImageStore().get(f"{project.name}-web:dev").config.labels
    assert app["com.docker.compose.project"] == project.name
    assert app["com.docker.compose.service"] == "app"
    assert app["com.docker.compose.version"].count(".") == 2
    assert web["com.docker.compose.service"] == "mine" and web["x"] == "y"
    assert web["com.docker.compose.project"] == project.name
