"""Real builds on pystack's own engine (root, real kernel, the local busybox fixture image):
instructions, multi-stage with COPY --from and target, heredocs, FROM scratch, whiteouts,
image config, RUN networking and cache mounts."""

from __future__ import annotations

import secrets

import pytest

from pystack.runtime import layerview
from pystack.runtime.build.errors import BuildError, StepFailedError
from pystack.runtime.image.store import ImageStore
from tests.integration.build.conftest import Ctx, image_file

pytestmark = pytest.mark.root


def test_instructions_and_config(ctx: Ctx) -> None:
    ctx.write("src/app.sh", "echo app\n")
    ctx.write("notes.txt", "n\n")
    r = ctx.build("""
FROM local/busybox:latest
ARG WHO=world
ENV GREETING="hello $WHO" APP=/srv/app
LABEL org.example.who=$WHO
WORKDIR $APP
COPY --chown=app:staff --chmod=0750 src/ ./bin/
COPY notes.txt /etc/notes
RUN echo "$GREETING" > greeting && chown app /srv/app/greeting && rm /etc/hostname
USER app
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting"]
""", tags=("built:one",))
    info = ImageStore().inspect("built:one")
    cfg = info["Config"]
    assert info["Id"] == r.image_id
    assert "GREETING=hello world" in cfg["Env"] and "APP=/srv/app" in cfg["Env"]
    assert any(e.startswith("PATH=") for e in cfg["Env"])
    assert cfg["Labels"] == {"org.example.who": "world"}
    assert cfg["WorkingDir"] == "/srv/app" and cfg["User"] == "app"
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000,
                                  "Retries": 2}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat greeting"]
    assert image_file("built:one", "srv/app/greeting") == "hello world\n"
    assert image_file("built:one", "srv/app/bin/app.sh") == "echo app\n"
    assert image_file("built:one", "etc/notes") == "n\n"
    assert image_file("built:one", "etc/hostname") is None       # the whiteout took
    layers = [d.resolve() for d in reversed(ImageStore().get("built:one").layer_dirs)]
    hit = layerview.resolve(layers, "srv/app/bin/app.sh")
    assert hit is not None
    st = hit[0].joinpath(*hit[1]).stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 50, 0o750)


def test_entrypoint_resets_inherited_cmd(ctx: Ctx) -> None:
    ctx.build('FROM local/busybox:latest\nENTRYPOINT ["/bin/echo"]\n', tags=("built:ep",))
    cfg = ImageStore().inspect("built:ep")["Config"]
    assert cfg["Entrypoint"] == ["/bin/echo"] and "Cmd" not in cfg


def test_multistage_target_and_unused_stage(ctx: Ctx) -> None:
    df = """
FROM local/busybox:latest AS compile
RUN mkdir /out && echo binary > /out/app
FROM local/busybox:latest AS broken
RUN echo this stage must not run && exit 9
FROM scratch AS final
COPY --from=compile /out/app /app
FROM compile AS debug
RUN echo debug > /out/debug
"""
    ctx.build(df, target="final", tags=("built:final",))
    assert not any("broken" in e.name or "debug" in e.name for e in ctx.events)
    assert image_file("built:final", "app") == "binary\n"
    assert len(ImageStore().get("built:final").layer_dirs) == 1
    ctx.build(df, target="debug", tags=("built:debug",))
    assert image_file("built:debug", "out/debug") == "debug\n"
    assert image_file("built:debug", "out/app") == "binary\n"
    with pytest.raises(BuildError, match="target stage 'nope' could not be found"):
        ctx.build(df, target="nope")


def test_heredocs(ctx: Ctx) -> None:
    ctx.build(
        "FROM local/busybox:latest\n"
        "ARG NAME=pystack\n"
        "RUN <<EOF\necho first > /one\necho \"$NAME\" >> /one\nEOF\n"
        "RUN <<-A cat > /two && <<\"B\" cat > /three\n\tchomped $NAME\n\tA\nkept $NAME\nB\n"
        "COPY <<EOF <<'RAW' /docs/\nexpanded $NAME\nEOF\nliteral $NAME\nRAW\n",
        tags=("built:here",))
    assert image_file("built:here", "one") == "first\npystack\n"
    assert image_file("built:here", "two") == "chomped pystack\n"
    assert image_file("built:here", "three") == "kept $NAME\n"
    assert image_file("built:here", "docs/EOF") == "expanded pystack\n"
    assert image_file("built:here", "docs/RAW") == "literal $NAME\n"


def test_from_scratch_copy_and_wildcards(ctx: Ctx) -> None:
    for n in ("a.txt", "b.txt", "c.md"):
        ctx.write(f"files/{n}", n)
    ctx.build("FROM scratch\nCOPY files/*.txt /txt/\nCOPY files/c.md /doc\n",
              tags=("built:scratch",))
    assert image_file("built:scratch", "txt/a.txt") == "a.txt"
    assert image_file("built:scratch", "txt/b.txt") == "b.txt"
    assert image_file("built:scratch", "txt/c.md") is None
    assert image_file("built:scratch", "doc") == "c.md"


def test_failing_run_tags_nothing(ctx: Ctx) -> None:
    before = ImageStore().content.read_tags()
    with pytest.raises(StepFailedError) as e:
        ctx.build("FROM local/busybox:latest\nRUN true\nRUN echo about to fail && exit 7\n",
                  tags=("built:never",))
    assert e.value.step_exit_code == 7 and e.value.where == "Dockerfile:3"
    assert "about to fail" in e.value.tail
    assert "exit code: 7" in e.value.message
    assert ImageStore().content.read_tags() == before


def test_run_network_none_sees_only_lo(ctx: Ctx) -> None:
    ctx.build("FROM local/busybox:latest\nRUN --network=none cat /proc/net/dev\n")
    names = {ln.split(":")[0].strip() for ln in ctx.output() if ":" in ln}
    assert names == {"lo"}


def test_cache_mount_persists(ctx: Ctx) -> None:
    tag = secrets.token_hex(4)
    df = ("FROM local/busybox:latest\nARG N\n"
          f"RUN --mount=type=cache,target=/cache,id=t-{tag} "
          "echo $N >> /cache/log && cat /cache/log\n")
    ctx.build(df, build_args={"N": "one"}, tags=("built:cm",))
    ctx.build(df, build_args={"N": "two"}, tags=("built:cm",))
    assert ctx.output() == ["one", "two"]
    assert image_file("built:cm", "cache/log") is None


def test_independent_stages_run_in_parallel(ctx: Ctx) -> None:
    """Each stage waits (through a shared cache mount) for the other to have started: built
    one after the other, the first would give up after 30 s and fail the build."""
    sync = f"sync-{secrets.token_hex(4)}"
    wait = ("RUN --mount=type=cache,target=/sync,id={id} touch /sync/{me} && "
            "for i in $(seq 600); do [ -f /sync/{other} ] && break; sleep 0.05; done && "
            "[ -f /sync/{other} ] && echo {me} > /{me}\n")
    ctx.build("FROM local/busybox:latest AS a\n" + wait.format(id=sync, me="a", other="b") +
              "FROM local/busybox:latest AS b\n" + wait.format(id=sync, me="b", other="a") +
              "FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n", tags=("built:par",))
    assert image_file("built:par", "a") == "a\n" and image_file("built:par", "b") == "b\n"


def test_bind_mounts_from_context_and_stage(ctx: Ctx) -> None:
    ctx.write("data/in.txt", "v1\n")
    df = ("FROM local/busybox:latest AS tools\nRUN echo tool > /tool\n"
          "FROM local/busybox:latest\n"
          "RUN --mount=type=bind,source=data,target=/d "
          "--mount=type=bind,from=tools,source=/tool,target=/t "
          "--mount=type=cache,target=/c,sharing=locked "
          "cat /d/in.txt /t > /seen && ! touch /d/new 2>/dev/null\n")
    ctx.build(df, tags=("built:bind",))
    assert image_file("built:bind", "seen") == "v1\ntool\n"
    for stub in ("d", "t", "c"):                                  # mounts leave no trace
        assert image_file("built:bind", stub) is None
    ctx.build(df, tags=("built:bind",))
    assert any("RUN --mount" in n for n in ctx.cached())          # unchanged: a hit
    ctx.write("data/in.txt", "v2\n")                              # what the bind shows: a miss
    ctx.build(df, tags=("built:bind",))
    assert image_file("built:bind", "seen") == "v2\ntool\n"
