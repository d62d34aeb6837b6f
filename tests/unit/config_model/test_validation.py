"""Schema and semantic checks: one exact message per check, every problem in one run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.orchestrator.config import schema_check
from tests.unit.config_model.conftest import Loader

Problems = Callable[..., list[str]]
# The Compose Specification's schema (github.com/compose-spec/compose-spec,
# schema/compose-spec.json) is not vendored; PYSTACK_REFERENCE_DIR names a folder that holds it.
REFERENCE_DIR = os.environ.get("PYSTACK_REFERENCE_DIR", "")
REFERENCE_SCHEMA = Path(REFERENCE_DIR, "compose-spec.json") if REFERENCE_DIR else None


def test_schema_is_valid_draft_2020_12() -> None:
    from jsonschema import Draft202012Validator

    schema = schema_check.schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_covers_every_key_of_the_compose_spec() -> None:
    if REFERENCE_SCHEMA is None or not REFERENCE_SCHEMA.is_file():
        pytest.skip("set PYSTACK_REFERENCE_DIR to a folder holding compose-spec.json (from "
                    "github.com/compose-spec/compose-spec, schema/compose-spec.json) to run it")
    ref = json.loads(REFERENCE_SCHEMA.read_text())
    ours = schema_check.schema()

    def names(node: object, path: str, out: set[str]) -> None:
        # Dotted paths made of property names only (combinators and $defs wrappers skipped).
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    for prop, sub in v.items():
                        out.add(f"{path}.{prop}")
                        names(sub, f"{path}.{prop}", out)
                elif k in ("definitions", "$defs") and isinstance(v, dict):
                    for name, sub in v.items():
                        names(sub, f"#{name}", out)
                elif isinstance(v, dict | list):
                    names(v, path, out)
        elif isinstance(node, list):
            for v in node:
                names(v, path, out)

    theirs: set[str] = set()
    mine: set[str] = set()
    names(ref, "", theirs)
    names(ours, "", mine)
    assert len(theirs) > 300
    assert theirs == mine


@pytest.mark.parametrize(("yaml", "line"), [
    ("services:\n  web:\n    image: x\n    enviroment: [A=1]\n",
     "compose.yaml:4:5: services.web.enviroment: unknown key 'enviroment' "
     "(did you mean 'environment'?)"),
    ("services:\n  web:\n    image: x\n    ports: {a: 1}\n",
     "compose.yaml:4:12: services.web.ports: must be a list"),
    ("services:\n  web:\n    image: x\n    command: 5\n",
     "compose.yaml:4:14: services.web.command: must be a string or a list"),
    ("services:\n  web:\n    image: x\n    depends_on: {db: {condition: soon}}\n  db: {image: x}\n",
     "compose.yaml:4:34: services.web.depends_on.db.condition: 'soon' is not allowed "
     "(use one of: service_started, service_healthy, service_completed_successfully)"),
    ("services:\n  'bad name': {image: x}\n",
     "compose.yaml:2:3: services.bad name: invalid name 'bad name' "
     "(use only letters, digits, '.', '_' and '-')"),
    ("services:\n  web:\n    image: x\n    ports: [{target: 80, bogus: 1}]\n",
     "compose.yaml:4:26: services.web.ports[0].bogus: unknown key 'bogus' (known keys: "
     "app_protocol, host_ip, mode, name, protocol, published, target)"),
    ("services:\n  web:\n    image: x\n    ulimits: {nofile: {soft: 1}}\n",
     "compose.yaml:4:23: services.web.ulimits.nofile: soft limit 1 is above the hard limit 0 "
     "(the soft limit must be at most the hard limit)"),
    ("services:\n  web: {image: x}\nvolumes:\n  v: {driverr: local}\n",
     "compose.yaml:4:7: volumes.v.driverr: unknown key 'driverr' (did you mean 'driver'?)"),
])
def test_schema_messages(problems: Problems, yaml: str, line: str) -> None:
    assert problems(yaml) == [line]


@pytest.mark.parametrize(("yaml", "line"), [
    ("services:\n  web: {image: x, depends_on: [dbx]}\n  db: {image: x}\n",
     "compose.yaml:2:32: services.web.depends_on[0]: unknown service 'dbx' "
     "(did you mean 'db'?)"),
    ("services:\n  web: {image: x, links: [nolink]}\n",
     "compose.yaml:2:27: services.web.links[0]: unknown service 'nolink' "
     "(define it under services)"),
    ("services:\n  web: {image: x, network_mode: 'service:nonet'}\n",
     "compose.yaml:2:33: services.web.network_mode: unknown service 'nonet' "
     "(define it under services)"),
    ("services:\n  web: {image: x, volumes_from: [novol]}\n",
     "compose.yaml:2:34: services.web.volumes_from[0]: unknown service 'novol' "
     "(define it under services)"),
    ("services:\n  web: {image: x, pid: 'service:nopid'}\n",
     "compose.yaml:2:24: services.web.pid: unknown service 'nopid' (define it under services)"),
    ("services:\n  web: {image: x, networks: [nope]}\n",
     "compose.yaml:2:30: services.web.networks[0]: undefined network 'nope' "
     "(define it under the top-level networks key)"),
    ("services:\n  web: {image: x, volumes: ['data:/data']}\n",
     "compose.yaml:2:29: services.web.volumes[0]: undefined volume 'data' "
     "(define it under the top-level volumes key)"),
    ("services:\n  web: {image: x, secrets: [nope]}\n",
     "compose.yaml:2:29: services.web.secrets[0]: undefined secret 'nope' "
     "(define it under the top-level secrets key)"),
    ("services:\n  web: {image: x, configs: [nope]}\n",
     "compose.yaml:2:29: services.web.configs[0]: undefined config 'nope' "
     "(define it under the top-level configs key)"),
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n"
     "  c: {image: x, depends_on: [a]}\n",
     "compose.yaml:2:17: services.a.depends_on: dependency cycle: a -> b -> c -> a "
     "(remove one of these dependencies)"),
    ("services:\n  a: {image: x, ports: ['8080:80']}\n  b: {image: x, ports: ['8080:81']}\n",
     "compose.yaml:3:25: services.b.ports[0]: host port 0.0.0.0:8080/tcp is already "
     "published by services.a.ports[0] (publish each host port once)"),
    ("services:\n  web:\n    image: x\n    healthcheck: {test: 'true', interval: 5x}\n",
     "compose.yaml:4:43: services.web.healthcheck.interval: invalid duration '5x' "
     "(use a number and a unit: 10s, 1m30s, 500ms)"),
    ("services:\n  web: {image: x, shm_size: lots}\n",
     "compose.yaml:2:29: services.web.shm_size: invalid byte size 'lots' "
     "(use a number and a unit: 512m, 2g, 100k)"),
    ("services:\n  web: {image: x, ports: ['1-2:5-7']}\n",
     "compose.yaml:2:27: services.web.ports[0]: invalid port mapping '1-2:5-7' "
     "(the host and container ranges differ in size)"),
    ("services:\n  web: {image: x, ports: ['70000:80']}\n",
     "compose.yaml:2:27: services.web.ports[0]: invalid port '70000' (ports are 0 to 65535)"),
    ("services:\n  web: {image: x, ports: ['localhost:80:80']}\n",
     "compose.yaml:2:27: services.web.ports[0]: invalid host_ip 'localhost' "
     "(use an IPv4 or IPv6 address, like 127.0.0.1 or ::1)"),
    ("services:\n  web: {image: x, volumes: ['./a:/a:bogus']}\n",
     "compose.yaml:2:29: services.web.volumes[0]: invalid volume option 'bogus' in "
     "'./a:/a:bogus' (use ro, rw, z, Z, nocopy or a propagation mode)"),
    ("services:\n  web: {image: x, volumes: [{type: bind, source: /a}]}\n",
     "compose.yaml:2:29: services.web.volumes[0]: missing required key 'target' "
     "(the path inside the container)"),
    ("services:\n  web: {image: x, scale: 2, deploy: {replicas: 3}}\n",
     "compose.yaml:2:26: services.web.scale: scale 2 differs from deploy.replicas 3 "
     "(set only one of them)"),
    ("services:\n  web: {image: x, healthcheck: {test: [WRONG, x]}}\n",
     "compose.yaml:2:39: services.web.healthcheck.test: a healthcheck test list must start "
     "with CMD, CMD-SHELL or NONE, not 'WRONG' (for example [\"CMD\", \"curl\", \"-f\", "
     "\"http://localhost\"])"),
    ("services:\n  web: {image: x, extra_hosts: [nocolon]}\n",
     "compose.yaml:2:33: services.web.extra_hosts[0]: invalid extra host 'nocolon' "
     "(use HOST:IP or HOST=IP)"),
    ("services:\n  web: {image: x}\nvolumes:\n  v: {external: true, driver: local}\n",
     "compose.yaml:4:23: volumes.v.driver: external volume 'v' cannot set driver (an external "
     "volume is created outside pystack)"),
    ("services:\n  web: {image: x}\nsecrets:\n  s: {file: ./s, environment: X}\n",
     "compose.yaml:4:3: secrets.s: secret 's' sets file and environment "
     "(set exactly one of file or environment, or external: true)"),
    ("services:\n  web: {image: x}\nconfigs:\n  c: {}\n",
     "compose.yaml:4:3: configs.c: config 'c' has no file or environment or content "
     "(set exactly one of file or environment or content, or external: true)"),
    ("services:\n  a: {image: x, container_name: same}\n  b: {image: x, container_name: same}\n",
     "compose.yaml:3:33: services.b.container_name: container name 'same' is already used by "
     "service 'a' (container names are unique on the host)"),
    ("services:\n  web: {image: x, blkio_config: {weight: heavy}}\n",
     "compose.yaml:2:42: services.web.blkio_config.weight: 'heavy' is not an integer"),
    ("services:\n  web:\n    image: x\n"
     "    volumes: [{type: tmpfs, target: /t, tmpfs: {mode: zz}}]\n",
     "compose.yaml:4:55: services.web.volumes[0].tmpfs.mode: invalid mode 'zz' "
     "(use octal permission bits like 1777)"),
    ("services:\n  web: {image: x, command: \"echo 'open\"}\n",
     "compose.yaml:2:28: services.web.command: invalid command line string 'echo 'open' "
     "(unbalanced quotes or brackets) (or write it as a list)"),
    ("services:\n  web: {image: x, cpus: -1}\n",
     "compose.yaml:2:25: services.web.cpus: invalid cpus '-1' (must be a positive number)"),
    ("services:\n  web: {image: x, env_file: [missing.env]}\n",
     "compose.yaml:2:30: services.web.env_file[0]: env file missing.env not found "
     "(create it, or use the long form with required: false)"),
    ("services:\n  web: {image: x, container_name: one, scale: 2}\n",
     "compose.yaml:2:35: services.web.container_name: container_name 'one' cannot be used "
     "with 2 replicas (container names are unique: remove container_name or use 1 replica)"),
])
def test_semantic_messages(problems: Problems, yaml: str, line: str) -> None:
    assert problems(yaml) == [line]


def test_every_problem_in_one_run(problems: Problems) -> None:
    found = problems(
        "services:\n"
        "  web:\n"
        "    image: x\n"
        "    enviroment: []\n"
        "    depends_on: [nope]\n"
        "    stop_grace_period: forever\n"
        "bogus: 1\n")
    assert [p.split(": ")[1] for p in found] == [
        "services.web.enviroment", "services.web.depends_on[0]",
        "services.web.stop_grace_period", "bogus"]


def test_valid_file_has_no_problems(load: Loader) -> None:
    project = load("services:\n  web: {image: x}\n")
    assert list(project.services) == ["web"]
