"""extends.py and include.py: same-file, other-file and chained extends, loops, include in
short and long form, relative paths of other directories (checked against Docker Compose
v2.40.3: the same trees give the same `config` output)."""

from __future__ import annotations

from pathlib import Path

from .conftest import load_ok, problems, write


def test_extends_chain_across_files_rebases_paths(proj: Path) -> None:
    write(proj, {
        "compose.yaml": """\
            services:
              web:
                extends: {file: sub/base.yaml, service: app}
                image: web
                environment: {W: "1"}
                command: [web]
              chain:
                extends: web
                expose: ["81"]
              local:
                extends: {service: chain}
                volumes: ["./here:/here"]
            """,
        "sub/base.yaml": """\
            services:
              app:
                extends: {file: deeper/root.yaml, service: root}
                build: ./appctx
                environment: {A: "1"}
                volumes: ["./data:/data", "named:/named"]
                env_file: app.env
                command: [app]
            """,
        "sub/deeper/root.yaml": """\
            services:
              root:
                image: root
                labels: {root: "yes"}
                volumes: ["./rootdata:/rootdata"]
            """})
    raw = load_ok("compose.yaml")
    s = raw.data["services"]
    sub = proj / "sub"
    assert s["web"] == {
        "image": "web",
        "labels": {"root": "yes"},
        "volumes": [f"{sub}/deeper/rootdata:/rootdata", f"{sub}/data:/data", "named:/named"],
        "build": f"{sub}/appctx",
        "environment": ["A=1", "W=1"],
        "env_file": f"{sub}/app.env",
        "command": ["web"],
    }
    assert s["chain"] == {**s["web"], "expose": ["81"]}
    assert s["local"]["volumes"][-1] == "./here:/here"
    # marks still point at the file each value came from
    assert str(raw.marks.value(("services", "web", "labels", "root"))) == \
        "sub/deeper/root.yaml:4:20"


def test_extends_with_reset_and_override(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          base:
            image: b
            ports: ["80:80"]
            environment: {A: "1"}
          web:
            extends: base
            ports: !reset []
            environment: !override {B: "2"}
        """})
    assert load_ok("compose.yaml").data["services"]["web"] == {
        "image": "b", "environment": {"B": "2"}}


def test_extends_loops_and_missing_services(proj: Path) -> None:
    write(proj, {"compose.yaml": """\
        services:
          a:
            extends: b
            image: a
          b:
            extends: c
          c:
            extends: a
          d:
            extends: nope
          e:
            extends: {file: nofile.yaml, service: x}
          f:
            extends: 3
        """})
    assert problems("compose.yaml") == [
        "compose.yaml:3:14: services.a.extends: extends loop: a -> b -> c -> a",
        "compose.yaml:10:14: services.d.extends: cannot extend service 'd': "
        "service 'nope' not found",
        "compose.yaml:12:14: services.e.extends: nofile.yaml: no such file (check the path)",
        "compose.yaml:14:14: services.f.extends: must be a service name or a mapping "
        "with `service`",
    ]


def test_include_short_and_long_forms(proj: Path) -> None:
    write(proj, {
        "compose.yaml": """\
            include:
              - lib/compose.yaml
              - path: [other/a.yaml, other/b.yaml]
                project_directory: other
                env_file: other/vars.env
            services:
              web:
                image: "web:${TAG:-none}"
            """,
        "lib/compose.yaml": """\
            include:
              - inner/compose.yaml
            services:
              libsvc:
                image: "lib:${LIBTAG:-default}"
                build: ./ctx
                volumes: ["./data:/data"]
            volumes:
              libvol: {}
            """,
        "lib/.env": "LIBTAG=fromdotenv\n",
        "lib/inner/compose.yaml": "services:\n  innersvc:\n    image: inner\n",
        "other/a.yaml": """\
            services:
              osvc:
                image: "o:${OTAG}"
            secrets:
              sec: {file: ./secret.txt}
            """,
        "other/b.yaml": "services:\n  osvc:\n    environment: [B=1]\n",
        "other/vars.env": "OTAG=fromenvfile\nTAG=notvisible\n",
    })
    raw = load_ok("compose.yaml")
    s = raw.data["services"]
    assert sorted(s) == ["innersvc", "libsvc", "osvc", "web"]
    assert s["web"]["image"] == "web:none"  # an include's env does not leak to the parent
    assert s["libsvc"] == {"image": "lib:fromdotenv", "build": f"{proj}/lib/ctx",
                           "volumes": [f"{proj}/lib/data:/data"]}
    assert s["osvc"] == {"image": "o:fromenvfile", "environment": ["B=1"]}
    assert raw.data["secrets"] == {"sec": {"file": f"{proj}/other/secret.txt"}}
    assert raw.data["volumes"] == {"libvol": {}}
    assert "include" not in raw.data
    assert str(raw.marks.value(("services", "osvc", "image"))) == "other/a.yaml:3:12"


def test_include_errors(proj: Path) -> None:
    write(proj, {
        "a.yaml": "include: [b.yaml]\nservices:\n  a:\n    image: a\n",
        "b.yaml": "include: [a.yaml]\nservices:\n  b:\n    image: b\n",
        "c.yaml": "include: [c2.yaml]\nservices:\n  s:\n    image: one\n",
        "c2.yaml": "services:\n  s:\n    image: two\n",
        "d.yaml": "include: [nothere.yaml, {path: 3}]\nservices:\n  s:\n    image: one\n",
        "e.yaml": "include: [c2.yaml]\nservices:\n  s:\n    image: two\n",
    })
    assert problems("a.yaml") == [
        "b.yaml:1:11: include[0]: include cycle: a.yaml -> b.yaml -> a.yaml"]
    assert problems("c.yaml") == [
        "c.yaml:3:3: services.s: conflicts with imported resource (an included file defines "
        "services.s differently; rename one of them)"]
    assert problems("d.yaml") == [
        "d.yaml:1:11: include[0]: nothere.yaml: no such file (included file not found)",
        "d.yaml:1:25: include[1].path: must be a file path or a list of file paths",
    ]
    # the same definition twice is fine
    assert load_ok("e.yaml").data["services"] == {"s": {"image": "two"}}


def test_include_env_file_does_not_override_the_parent_environment(proj: Path) -> None:
    write(proj, {
        "compose.yaml": "include:\n  - path: lib/c.yaml\n    env_file: lib/v.env\n"
                        "services:\n  main:\n    image: \"m:${TAG}\"\n",
        "lib/c.yaml": """\
            services:
              inc:
                image: "i:${TAG}-${ONLY}"
                build:
                  additional_contexts: {other: ./other, img: "docker-image://alpine"}
            """,
        "lib/v.env": "TAG=file\nONLY=fromfile\n"})
    s = load_ok(env={"TAG": "shell"}).data["services"]
    assert s["main"]["image"] == "m:shell"
    assert s["inc"]["image"] == "i:shell-fromfile"
    assert s["inc"]["build"] == {"context": f"{proj}/lib", "additional_contexts": {
        "other": f"{proj}/lib/other", "img": "docker-image://alpine"}}


def test_extends_and_include_paths_are_relative_to_the_project_directory(proj: Path) -> None:
    # compose-go resolves them against the working directory, not the file's directory;
    # extends inside an extended file are relative to that file.
    write(proj, {
        "sub/compose.yaml": """\
            include: [lib.yaml]
            services:
              w:
                extends: {file: base.yaml, service: b}
            """,
        "sub/base.yaml": "services:\n  b:\n    image: fromsub\n",
        "sub/lib.yaml": "services:\n  l:\n    image: libsub\n",
        "pd/base.yaml": "services:\n  b:\n    extends: {file: deep/b2.yaml, service: c}\n",
        "pd/deep/b2.yaml": "services:\n  c:\n    image: deepfrompd\n",
        "pd/lib.yaml": "services:\n  l:\n    image: libpd\n",
    })
    s = load_ok("sub/compose.yaml", project_directory="pd").data["services"]
    assert s == {"w": {"image": "deepfrompd"}, "l": {"image": "libpd"}}
    s = load_ok("sub/compose.yaml").data["services"]
    assert s == {"w": {"image": "fromsub"}, "l": {"image": "libsub"}}
