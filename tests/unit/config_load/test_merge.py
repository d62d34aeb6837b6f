"""merge.py: several -f files merged by Compose v2's rules (each case checked against
Docker Compose v2.40.3's `config`)."""

from __future__ import annotations

from pathlib import Path

from .conftest import load_ok, write

A = """\
services:
  web:
    image: a
    command: [run, a]
    entrypoint: /a
    environment: {A: "1", B: "2"}
    labels: [l1=a, l2=b]
    ports: ["8080:80", "9000:9000/udp"]
    volumes: ["./a:/data", "/x:/y"]
    depends_on: [db]
    networks: [front]
    healthcheck: {test: [CMD, a], interval: 10s}
    build: ./ctx
    dns: [1.1.1.1]
    logging: {driver: json-file, options: {max-size: 1m}}
    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}
    secrets: [s1]
  db:
    image: db
"""
B = """\
services:
  web:
    image: b
    command: [run, b]
    environment: [B=3, C=4]
    labels: {l2: c, l3: d}
    ports: ["8080:80", "8081:81"]
    volumes: ["./b:/data", {type: bind, source: ./z, target: /z}]
    depends_on: {cache: {condition: service_healthy}}
    networks: {back: {aliases: [w]}}
    healthcheck: {test: [CMD, b]}
    build: {dockerfile: Other}
    dns: [8.8.8.8, 1.1.1.1]
    logging: {options: {max-file: "3"}}
    ulimits: {nofile: {soft: 15, hard: 30}, nproc: 7}
    secrets: [{source: s1, target: /run/secrets/s1, mode: 0400}]
  cache:
    image: redis
"""


def test_two_files_merge_like_compose_v2(proj: Path) -> None:
    write(proj, {"a.yaml": A, "b.yaml": B})
    raw = load_ok("a.yaml", "b.yaml")
    web = raw.data["services"]["web"]
    assert web["image"] == "b"
    assert web["command"] == ["run", "b"]  # replaced, not appended
    assert web["entrypoint"] == "/a"
    assert web["healthcheck"] == {"test": ["CMD", "b"], "interval": "10s"}
    assert web["environment"] == ["A=1", "B=3", "C=4"]  # unique by key, later wins in place
    assert web["labels"] == ["l1=a", "l2=c", "l3=d"]
    assert web["ports"] == ["8080:80", "9000:9000/udp", "8081:81"]
    assert web["volumes"] == ["./b:/data", "/x:/y", {"type": "bind", "source": "./z",
                                                      "target": "/z"}]
    assert web["depends_on"] == {
        "db": {"condition": "service_started", "required": True},
        "cache": {"condition": "service_healthy"}}
    assert web["networks"] == {"front": None, "back": {"aliases": ["w"]}}
    assert web["build"] == {"context": "./ctx", "dockerfile": "Other"}
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert web["logging"] == {"driver": "json-file",
                              "options": {"max-size": "1m", "max-file": "3"}}
    assert web["ulimits"] == {"nofile": {"soft": 15, "hard": 30}, "nproc": 7}
    assert web["secrets"] == [{"source": "s1", "target": "/run/secrets/s1", "mode": 256}]
    assert sorted(raw.data["services"]) == ["cache", "db", "web"]
    assert raw.files == (str(proj / "a.yaml"), str(proj / "b.yaml"))


def test_marks_follow_the_file_a_value_came_from(proj: Path) -> None:
    write(proj, {"a.yaml": A, "b.yaml": B})
    raw = load_ok("a.yaml", "b.yaml")
    assert str(raw.marks.value(("services", "web", "image"))) == "b.yaml:3:12"
    assert str(raw.marks.value(("services", "web", "entrypoint"))) == "a.yaml:5:17"
    assert str(raw.marks.value(("services", "web", "ports", 2))) == "b.yaml:7:24"
    assert str(raw.marks.value(("services", "db", "image"))) == "a.yaml:19:12"


def test_logging_with_another_driver_replaces(proj: Path) -> None:
    write(proj, {
        "a.yaml": "services:\n  w:\n    image: a\n    logging: {driver: a, options: {x: 1}}\n",
        "b.yaml": "services:\n  w:\n    logging: {driver: b, options: {y: 2}}\n"})
    raw = load_ok("a.yaml", "b.yaml")
    assert raw.data["services"]["w"]["logging"] == {"driver": "b", "options": {"y": 2}}


def test_reset_and_override_tags(proj: Path) -> None:
    write(proj, {"a.yaml": """\
        x-base: &base
          image: base
          ports: ["80:80"]
        services:
          web:
            <<: *base
            command: [a]
            ports: !reset []
            labels: {a: "1"}
            environment: {A: "1"}
            volumes: ["/a:/a"]
          db:
            image: db
            environment: [X=1]
        """, "b.yaml": """\
        services:
          web:
            environment: !override {B: "2"}
            volumes: !override ["/b:/b"]
            command: !reset null
            labels: !reset {}
          db:
            environment: !reset []
            image: !override db2
        """})
    one = load_ok("a.yaml")
    # in a single file, a !reset key can still be filled by a << merge (compose v2 does so)
    assert one.data["services"]["web"]["ports"] == ["80:80"]
    both = load_ok("a.yaml", "b.yaml")
    assert both.data["services"] == {
        "web": {"image": "base", "ports": ["80:80"], "environment": {"B": "2"},
                "volumes": ["/b:/b"]},
        "db": {"image": "db2"},
    }


def test_reset_of_a_whole_service(proj: Path) -> None:
    write(proj, {"a.yaml": "services:\n  a: {image: a}\n  b: {image: b}\n",
                 "b.yaml": "services:\n  b: !reset\n"})
    assert load_ok("a.yaml", "b.yaml").data["services"] == {"a": {"image": "a"}}


def test_null_override_keeps_base_and_extension_keys_replace(proj: Path) -> None:
    write(proj, {"a.yaml": "services:\n  a:\n    image: a\n    x-k: {a: 1}\n",
                 "b.yaml": "services:\n  a:\n    image:\n    x-k: {b: 2}\n"})
    assert load_ok("a.yaml", "b.yaml").data["services"]["a"] == {"image": "a",
                                                                 "x-k": {"b": 2}}


def test_sequences_in_one_file_are_made_unique(proj: Path) -> None:
    write(proj, {"a.yaml": """\
        services:
          a:
            image: a
            environment: [A=1, B=2, A=3]
            ports: ["80:80", "80:80"]
        """})
    a = load_ok("a.yaml").data["services"]["a"]
    assert a["environment"] == ["A=3", "B=2"]
    assert a["ports"] == ["80:80"]


def test_short_and_long_forms_index_alike(proj: Path) -> None:
    write(proj, {
        "a.yaml": """\
            services:
              w:
                image: x
                ports: ["8080:80", "127.0.0.1:53:53/udp", "9000"]
                dns: [1.1.1.1]
                configs: [c]
                secrets: [s]
            """,
        "b.yaml": """\
            services:
              w:
                ports: [{target: 80, published: "8080"}, {target: 53, published: "53",
                         host_ip: 127.0.0.1, protocol: udp}, {target: 9000}]
                dns: 8.8.8.8
                configs: [{source: c}]
                secrets: [{source: s, target: /run/secrets/s}]
            """})
    w = load_ok("a.yaml", "b.yaml").data["services"]["w"]
    assert w["ports"] == [{"target": 80, "published": "8080"},
                          {"target": 53, "published": "53", "host_ip": "127.0.0.1",
                           "protocol": "udp"},
                          {"target": 9000}]
    assert w["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert w["configs"] == [{"source": "c"}]
    assert w["secrets"] == [{"source": "s", "target": "/run/secrets/s"}]
