"""The values the engine acts on are parsed once, in config (issue 10 item 4, issue 15 item 5):
each bad one is a FILE:LINE:COL problem line, each good one reaches the model typed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pystack.orchestrator.config.model import Restart, Tmpfs
from tests.unit.config_model.conftest import Loader

Problems = Callable[..., list[str]]


def _one(problems: Problems, lines: str) -> str:
    text = "services:\n  web:\n    image: x\n" + lines
    (line,) = problems(text)
    return line


@pytest.mark.parametrize(("lines", "want"), [
    ('    restart: "on-failure:x"\n',
     "compose.yaml:4:14: services.web.restart: invalid restart policy 'on-failure:x' (the "
     "retry count after on-failure: must be a whole number, like on-failure:3)"),
    ("    restart: sometimes\n",
     "compose.yaml:4:14: services.web.restart: invalid restart policy 'sometimes' (use no, "
     "always, on-failure, on-failure:N or unless-stopped)"),
    ("    restart: always:3\n",
     "compose.yaml:4:14: services.web.restart: invalid restart policy 'always:3' (only "
     "on-failure takes a retry count)"),
    ("    logging: {options: {max-size: abc}}\n",
     "compose.yaml:4:35: services.web.logging.options.max-size: invalid byte size 'abc' (use "
     "a number and a unit: 512m, 2g, 100k)"),
    ("    logging: {options: {max-size: 0}}\n",
     "compose.yaml:4:35: services.web.logging.options.max-size: invalid max-size '0' (must be "
     "a positive size like 10m)"),
    ("    logging: {options: {max-file: x}}\n",
     "compose.yaml:4:35: services.web.logging.options.max-file: invalid max-file 'x' (must be "
     "a whole number of files, at least 1)"),
    ('    tmpfs: ["/x:size=lots"]\n',
     "compose.yaml:4:13: services.web.tmpfs[0]: invalid byte size 'lots' (use a number and a "
     "unit: 512m, 2g, 100k)"),
    ("    tmpfs: /x:mode=9\n",
     "compose.yaml:4:12: services.web.tmpfs: invalid tmpfs mode '9' (use octal permission "
     "bits like 1777)"),
    ("    tmpfs: /x:bogus\n",
     "compose.yaml:4:12: services.web.tmpfs: invalid tmpfs option 'bogus' (use size=, mode= "
     "or mount flags like ro, noexec, nosuid)"),
    ("    stop_signal: SIGNOPE\n",
     "compose.yaml:4:18: services.web.stop_signal: unknown signal 'SIGNOPE' (use a name like "
     "SIGTERM, SIGINT, SIGQUIT, or a number)"),
    ("    stop_signal: '99'\n",
     "compose.yaml:4:18: services.web.stop_signal: invalid signal '99' (signal numbers are 1 "
     "to 64)"),
    ("    ports: [{published: -1, target: 80}]\n",
     "compose.yaml:4:25: services.web.ports[0].published: invalid port '-1' (use a number or "
     "a range like 8000-8010)"),
    ("    ports: [{published: 70000, target: 80}]\n",
     "compose.yaml:4:25: services.web.ports[0].published: invalid port '70000' (ports are 0 "
     "to 65535)"),
    ('    environment: ["=x"]\n',
     "compose.yaml:4:19: services.web.environment[0]: '=x' has no name before '=' (write "
     "NAME=value)"),
    ('    sysctls: ["=1"]\n',
     "compose.yaml:4:15: services.web.sysctls[0]: '=1' has no name before '=' (write "
     "NAME=value)"),
    ("    stop_grace_period: 99999999999999999h\n",
     "compose.yaml:4:24: services.web.stop_grace_period: invalid duration "
     "'99999999999999999h' (too long: at most 2562047h)"),
    ("    healthcheck: {test: [CMD, 'true'], retries: -5}\n",
     "compose.yaml:4:49: services.web.healthcheck.retries: -5 is out of range (use a whole "
     "number from 0 to 2147483647)"),
    ("    shm_size: .inf\n",
     "compose.yaml:4:15: services.web.shm_size: invalid byte size 'inf' (too large: at most "
     "8191p)"),
    ("    ulimits: {nofile: {soft: 20, hard: 10}}\n",
     "compose.yaml:4:23: services.web.ulimits.nofile: soft limit 20 is above the hard limit 10 "
     "(the soft limit must be at most the hard limit)"),
    ("    ulimits: {nofiles: 10}\n",
     "compose.yaml:4:15: services.web.ulimits.nofiles: unknown ulimit 'nofiles' (use one of: "
     "as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, "
     "rtprio, rttime, sigpending, stack)"),
    ("    mem_limit: 1k\n",
     "compose.yaml:4:16: services.web.mem_limit: 1024 bytes is below the minimum of 6 MiB (use "
     "at least 6m, or leave it out for no limit)"),
    ("    mem_limit: -1\n",
     "compose.yaml:4:16: services.web.mem_limit: must not be negative (leave the limit out for "
     "no limit (-1 is for memswap_limit only))"),
    ("    memswap_limit: 1g\n",
     "compose.yaml:4:20: services.web.memswap_limit: memswap_limit needs a memory limit (set "
     "mem_limit too, or use -1 for unlimited swap)"),
    ("    cpus: 0.5\n    cpu_quota: 5000\n",
     "compose.yaml:5:16: services.web.cpu_quota: cpus and cpu_quota cannot both be set (set "
     "only one of them)"),
    ("    ports: [{target: 0}]\n",
     "compose.yaml:4:22: services.web.ports[0].target: invalid container port 0 (the port the "
     "service listens on, 1 to 65535)"),
    ("    healthcheck: {test: [CMD, 'true'], interval: 1ns}\n",
     "compose.yaml:4:50: services.web.healthcheck.interval: interval 1ns is below the minimum "
     "of 1ms (use a duration like 1s, or 0 for the default)"),
    ("    cpuset: '3-1'\n",
     "compose.yaml:4:13: services.web.cpuset: invalid cpuset '3-1' (use CPU numbers and "
     "ranges like 0-3,5)"),
    ('    volumes: ["v:/g"]\n',
     "compose.yaml:4:15: services.web.volumes[0]: invalid mount target 'v:/g' (a one-letter "
     "name before ':' reads as a Windows drive; use an absolute path inside the container, "
     "like /data)"),
    # integer settings that interpolation does not cast: one rule (units.parse_int); '²'
    # passed str.isdigit() and then int() raised (a traceback), '1_0' reached the model as 10
    ("    blkio_config: {weight: '²'}\n",
     "compose.yaml:4:28: services.web.blkio_config.weight: '²' is not an integer"),
    ("    blkio_config: {weight: '1_0'}\n",
     "compose.yaml:4:28: services.web.blkio_config.weight: '1_0' is not an integer"),
    ("    deploy: {resources: {limits: {pids: '²'}}}\n",
     "compose.yaml:4:41: services.web.deploy.resources.limits.pids: '²' is not an integer"),
    ("    logging: {options: {max-file: '²'}}\n",
     "compose.yaml:4:35: services.web.logging.options.max-file: invalid max-file '²' (must be "
     "a whole number of files, at least 1)"),
])
def test_bad_values_are_config_errors(problems: Problems, lines: str, want: str) -> None:
    assert _one(problems, lines) == want


def test_service_needs_an_image_or_a_build(problems: Problems, load: Loader) -> None:
    assert problems("services:\n  web: {}\n") == [
        "compose.yaml:2:3: services.web: service 'web' has neither an image nor a build "
        "context (add an image: key, or build:)"]
    load("services:\n  web: {build: .}\n")          # build: without image: stays valid


@pytest.mark.parametrize("name", ["a/b", "../x", "x" * 300, "-lead"])
def test_network_names_are_checked_in_config(problems: Problems, name: str) -> None:
    text = (f"services:\n  web:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n"
            f"    name: '{name}'\n")
    (line,) = problems(text)
    assert line.startswith("compose.yaml:7:11: networks.n.name: invalid network name ")


def test_a_long_network_key_makes_a_long_name(problems: Problems) -> None:
    key = "k" * 260
    (line,) = problems(f"services:\n  web: {{image: x, networks: [{key}]}}\n"
                       f"networks:\n  {key}: {{}}\n")
    assert line.startswith("compose.yaml:4:3: networks." + key + ": invalid network name ")


def test_good_values_reach_the_model_typed(load: Loader) -> None:
    p = load("services:\n  web:\n    image: x\n"
             "    restart: on-failure:3\n"
             "    stop_signal: '3'\n"
             "    tmpfs: ['/run:size=64k,mode=1777,noexec,ro', /tmp]\n"
             "    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}\n"
             "    ports: [{published: 0, target: 80}]\n"
             "  db:\n    image: x\n    restart: 'no'\n    stop_signal: rtmin+2\n")
    web, db = p.services["web"], p.services["db"]
    assert web.restart == Restart("on-failure", 3) and db.restart == Restart("no")
    assert web.stop_signal == "SIGQUIT" and db.stop_signal == "36"
    assert web.tmpfs == (Tmpfs("/run", 65536, 0o1777, ("noexec", "ro")), Tmpfs("/tmp"))
    assert web.tmpfs[0].read_only and not web.tmpfs[1].read_only
    assert web.logging is not None and (web.logging.max_size, web.logging.max_file) == (
        10 << 20, 3)
    assert web.logging.options == {"max-size": "10m", "max-file": "3"}
    # the printed config keeps Compose's spelling
    assert p.data["services"]["web"]["restart"] == "on-failure:3"
    assert p.data["services"]["web"]["stop_signal"] == "3"


def test_engine_specs_take_the_parsed_values(load: Loader) -> None:
    from pystack.orchestrator.engine import specs as S

    p = load("services:\n  web:\n    image: x\n    restart: on-failure:2\n"
             "    logging: {options: {max-size: 1k}}\n    ports: ['0:80', '8080:81']\n")
    web = p.services["web"]
    assert S.restart_policy(web).max_retries == 2
    assert S.log_config(web).max_size == 1024 and S.log_config(web).max_file == 1
    assert [(x.target, x.published) for x in S.port_specs(web)] == [(80, None), (81, 8080)]
    assert S.tmpfs_mount(Tmpfs("/r", 5, 0o700, ("ro",))).read_only


def test_kill_takes_the_same_signal_rule() -> None:
    from pystack.orchestrator.config.units import parse_signal

    assert parse_signal("kill") == parse_signal(9) == "SIGKILL"
    assert parse_signal("SIGRTMIN+1") == "35"


def test_environment_and_command_must_fit_execve(problems: Problems) -> None:
    # 60 x 20 KB fit in one variable each but not together; one 140 KB argument never fits
    big = "x" * 20000
    env = "".join(f"      V{i}: *big\n" for i in range(60))
    text = (f"x-big: &big {big}\nservices:\n  web:\n    image: x\n    environment:\n{env}"
            f"    command: [a, '{'y' * 140000}']\n")
    assert problems(text) == [
        "compose.yaml:6:7: services.web.environment: the environment and command take 1340293 "
        "bytes, more than the 1048576 pystack leaves for them (pass big values in a file: a "
        "volume, a config or a secret)",
        "compose.yaml:66:14: services.web.command: an argument of 140001 bytes is more than the "
        "131072 the kernel passes for one argument (pass big values in a file)"]


def test_an_env_file_counts_towards_the_limit(problems: Problems, tmp_path: Path) -> None:
    (tmp_path / "big.env").write_text("".join(f"V{i}={'z' * 20000}\n" for i in range(60)))
    (line,) = problems("services:\n  web:\n    image: x\n    env_file: big.env\n")
    assert line.startswith("compose.yaml:3:5: services.web.environment: the environment and "
                           "command take ")


def test_names_addresses_caps_sysctls_workdir_use_net_and_runtime_rules(
        problems: Problems) -> None:
    text = ("services:\n  web:\n    image: x\n    hostname: 'a b'\n    dns: [notanip]\n"
            "    extra_hosts: ['h:host-gateway', 'x y:1.1.1.1', 'z:nope']\n"
            "    cap_add: [NET_ADMIN, FLY]\n"
            "    sysctls: {vm.swappiness: 1, net.core.somaxconn: 5}\n    working_dir: app\n"
            "    networks:\n      default:\n        aliases: ['bad alias']\n"
            "  host:\n    image: x\n    network_mode: host\n    sysctls: [net.core.somaxconn=1]\n")
    assert problems(text) == [
        "compose.yaml:4:15: services.web.hostname: invalid hostname 'a b': use letters, digits, "
        "'-', '_', '.'",
        "compose.yaml:5:11: services.web.dns[0]: invalid dns server 'notanip': not an IP address",
        "compose.yaml:6:37: services.web.extra_hosts[1]: invalid extra_hosts name 'x y': use "
        "letters, digits, '-', '_', '.'",
        "compose.yaml:6:52: services.web.extra_hosts[2]: invalid extra_hosts address of z "
        "'nope': not an IP address",
        "compose.yaml:7:26: services.web.cap_add[1]: unknown capability: 'FLY' (use a name like "
        "NET_ADMIN or CAP_NET_ADMIN)",
        "compose.yaml:8:14: services.web.sysctls: sysctl 'vm.swappiness' is not in a separate "
        "kernel namespace (a container may set kernel.msg*, kernel.sem, kernel.shm*, "
        "fs.mqueue.* and, without network_mode: host, net.*)",
        "compose.yaml:9:18: services.web.working_dir: the working directory 'app' is not an "
        "absolute path (use a path like /app)",
        "compose.yaml:12:18: services.web.networks.default.aliases: invalid alias 'bad alias': "
        "use letters, digits, '-', '_', '.'",
        "compose.yaml:16:14: services.host.sysctls: sysctl 'net.core.somaxconn' is not allowed "
        "in the host's network namespace (a container may set kernel.msg*, kernel.sem, "
        "kernel.shm*, fs.mqueue.* and, without network_mode: host, net.*)"]


def test_security_opt_is_parsed_once(problems: Problems, load: Loader) -> None:
    assert problems("services:\n  web:\n    image: x\n"
                    "    security_opt: ['no-new-privileges:yes', seccomp, bogus]\n") == [
        "compose.yaml:4:20: services.web.security_opt[0]: invalid security_opt "
        "'no-new-privileges:yes' (no-new-privileges takes true or false)",
        "compose.yaml:4:45: services.web.security_opt[1]: invalid security_opt 'seccomp' "
        "(seccomp needs a value, like seccomp:unconfined)",
        "compose.yaml:4:54: services.web.security_opt[2]: invalid security_opt 'bogus' (use "
        "no-new-privileges, seccomp:PROFILE, apparmor:PROFILE, label:..., "
        "systempaths=unconfined)"]
    p = load("services:\n  web:\n    image: x\n"
             "    security_opt: [no-new-privileges, 'seccomp=unconfined', 'apparmor:x']\n"
             "  db:\n    image: x\n    security_opt: ['no-new-privileges:false']\n")
    from pystack.orchestrator.engine import specs as S

    assert S.security(p.services["web"]) == (True, "unconfined")
    assert S.security(p.services["db"]) == (False, None)
    assert "not supported yet: services.web.security_opt[2] (apparmor: ignored)" in p.warnings


def test_link_aliases_follow_nets_rule(problems: Problems) -> None:
    assert problems("services:\n  web:\n    image: x\n    links: ['db:bad alias']\n"
                    "  db:\n    image: x\n") == [
        "compose.yaml:4:13: services.web.links[0]: invalid alias 'bad alias': use letters, "
        "digits, '-', '_', '.'"]
