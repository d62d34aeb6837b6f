"""The canonical model: short syntaxes expanded, units converted, config hash stable."""

from __future__ import annotations

from pathlib import Path

from pystack.orchestrator.config import model as m
from tests.unit.config_model.conftest import Loader

STACK = """
services:
  web:
    image: nginx
    command: echo "hello world"
    ports: ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp"]
    volumes: ["./data:/data:ro", "cache:/cache", "/anon"]
    environment: [A=1, B, C=]
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started, required: false, restart: true}
    healthcheck: {test: curl -f localhost, interval: 1m30s, timeout: 500ms, retries: 3}
    ulimits: {nofile: 1024, nproc: {soft: 10, hard: 20}}
    mem_limit: 512m
    shm_size: 64m
    stop_grace_period: 5s
    extra_hosts: ["host.one:1.2.3.4"]
    secrets: [token]
    networks:
      back: {aliases: [www], ipv4_address: 10.5.0.5, priority: 10}
    deploy: {replicas: 2, resources: {limits: {cpus: "0.5", pids: 50}}}
    develop: {watch: [{path: ., action: sync, target: /src}]}
  db:
    image: postgres
    healthcheck: {test: ["CMD", "pg_isready"]}
    network_mode: none
  cache:
    image: redis
    links: ["db:database"]
networks:
  back: {ipam: {config: [{subnet: 10.5.0.0/24}]}}
volumes:
  cache: {}
secrets:
  token: {file: ./token.txt}
"""


def test_short_syntax_expanded(load: Loader, tmp_path: Path) -> None:
    p = load(STACK, environ={"B": "from-shell"})
    web = p.services["web"]
    assert web.command == ("echo", "hello world")
    assert web.ports == (
        m.PortMapping(target=80, published="8080", host_ip="127.0.0.1"),
        m.PortMapping(target=9000, published="9000", protocol="udp"),
        m.PortMapping(target=9001, published="9001", protocol="udp"),
    )
    assert web.volumes[0] == m.VolumeMount(
        type="bind", target="/data", source=str(tmp_path / "data"), read_only=True,
        bind=m.BindOptions(create_host_path=True))
    assert web.volumes[1] == m.VolumeMount(type="volume", target="/cache", source="cache",
                                           volume=m.VolumeOptions())
    assert web.volumes[2].source is None
    assert web.environment == {"A": "1", "B": "from-shell", "C": ""}
    assert web.depends_on == {
        "db": m.DependsOn(condition="service_healthy"),
        "cache": m.DependsOn(condition="service_started", required=False, restart=True)}
    assert web.healthcheck == m.Healthcheck(test=("CMD-SHELL", "curl -f localhost"),
                                            interval=90.0, timeout=0.5, retries=3)
    assert web.ulimits == {"nofile": m.Ulimit(1024, 1024), "nproc": m.Ulimit(10, 20)}
    assert web.mem_limit == 512 << 20
    assert web.shm_size == 64 << 20
    assert web.stop_grace_period == 5.0
    assert web.cpus == 0.5 and web.pids_limit == 50
    assert web.scale == 2
    assert web.extra_hosts == (("host.one", "1.2.3.4"),)
    assert web.secrets == (m.FileReference(source="token", target="/run/secrets/token"),)
    assert web.networks["back"] == m.ServiceNetwork(aliases=("www",), ipv4_address="10.5.0.5",
                                                    priority=10)
    assert "develop" not in web.unsupported        # acted on by `pystack watch`
    assert web.watch == (m.WatchRule(path=str(tmp_path), action="sync", target="/src"),)
    assert p.services["db"].networks == {}
    assert p.services["cache"].networks == {"default": m.ServiceNetwork()}
    assert p.services["cache"].dependencies() == ("db",)
    assert p.networks["back"].name == "demo_back"
    assert p.networks["back"].ipam_config == (m.IpamPool(subnet="10.5.0.0/24"),)
    assert p.networks["default"].name == "demo_default"
    assert p.volumes["cache"].name == "demo_cache"
    assert p.secrets["token"].file == str(tmp_path / "token.txt")


def test_environment_without_value_is_none_when_unset(load: Loader) -> None:
    p = load("services:\n  web: {image: x, environment: [UNSET]}\n")
    assert p.services["web"].environment == {"UNSET": None}


def test_unsupported_keys_warn_once(load: Loader) -> None:
    p = load("services:\n  web:\n    image: x\n    develop: {watch: []}\n    gpus: all\n"
             "  api:\n    image: x\n    build: .\n")
    assert [w for w in p.warnings if w.startswith("not supported")] == [
        "not supported yet: services.web.gpus"]
    assert p.services["api"].build is not None      # build: is acted on (docs/build.md)


def test_config_hash_ignores_scale_and_order(load: Loader) -> None:
    a = load("services:\n  web:\n    image: x\n    environment: {A: '1', B: '2'}\n"
             "    labels: {x: y}\n")
    b = load("services:\n  web:\n    labels: {x: y}\n    scale: 3\n"
             "    environment: {B: '2', A: '1'}\n    image: x\n")
    c = load("services:\n  web:\n    image: x\n    environment: {A: '1', B: '3'}\n"
             "    labels: {x: y}\n")
    assert a.config_hash("web") == b.config_hash("web")
    d = load("services:\n  web:\n    image: x\n    environment: {A: '1', B: '2'}\n"
             "    labels: {x: y}\n    deploy: {replicas: 4}\n    profiles: [p]\n"
             "    pull_policy: always\n    depends_on: [db]\n  db: {image: y}\n",
             profiles=("p",))
    assert a.config_hash("web") == d.config_hash("web")
    assert a.config_hash("web") != c.config_hash("web")
    assert len(a.config_hash("web")) == 64


def test_unknown_service_lookup_is_not_found(load: Loader) -> None:
    import pytest

    from pystack.orchestrator.errors import NotFoundError

    p = load("services:\n  web: {image: x}\n")
    with pytest.raises(NotFoundError):
        p.service("nope")


def test_service_extensions_kept_in_model_not_printed(load: Loader) -> None:
    from pystack.orchestrator.config.output import document

    p = load("services:\n  web: {image: x, x-team: core}\nx-top: 1\n")
    assert p.services["web"].extensions == {"x-team": "core"}
    assert p.extensions == {"x-top": 1}
    doc = document(p)
    assert "x-team" not in doc["services"]["web"] and doc["x-top"] == 1


def test_unsupported_keys_kept_raw(load: Loader) -> None:
    p = load("services:\n  web: {image: x, pull_refresh_after: 1h, models: [llm]}\n"
             "models:\n  llm: {model: ai/smollm2}\n")
    assert p.services["web"].unsupported == {"models": {"llm": None},
                                             "pull_refresh_after": "1h"}
    assert p.unsupported == {"models": {"llm": {"model": "ai/smollm2"}}}
    assert "not supported yet: models" in p.warnings


def test_dropped_command_tail_is_warned(load: Loader) -> None:
    p = load("services:\n  web: {image: x, command: 'run && echo never'}\n")
    assert p.services["web"].command == ("run",)
    assert ("services.web.command: '&& echo never' is ignored, as Compose ignores it (no shell "
            "runs the command; use sh -c '...' or a list)") in p.warnings
