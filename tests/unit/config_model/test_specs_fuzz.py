"""Hypothesis: every project that config accepts turns into container specs (engine/specs.py)
without error, and the runtime's and net's own input checks that do not depend on the host
(signals, ports, restart policies, tmpfs mounts, ulimit names) accept what the specs carry
(issue 10 item 4: a file that passes `pystack config` never fails later on its own content).

The examples are derandomized (the same every run, so CI cannot turn red on a new random
draw); drop derandomize and raise max_examples to explore further.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pystack.net.names import check_dns
from pystack.net.ports import validate as validate_port
from pystack.orchestrator.config import normalize, profiles, schema_check, semantic
from pystack.orchestrator.config.build import build_project
from pystack.orchestrator.config.marks import Marks
from pystack.orchestrator.config.model import Project
from pystack.orchestrator.config.project import late_checks
from pystack.orchestrator.engine import specs as S
from pystack.runtime.cgroups.validate import validate as validate_resources
from pystack.runtime.checks import parse_signal
from pystack.runtime.image.model import Image, ImageConfig
from pystack.runtime.security import caps
from pystack.runtime.security.paths import check_sysctl
from pystack.runtime.security.plan import RLIMITS
from pystack.runtime.spec import Mount
from tests.unit.config_model.test_fuzz import NASTY_SERVICE, TYPED_SERVICE

TEXT = st.text(alphabet="0123456789:=,./-+ abcdefhgikmnorstuxSIGTERMRT", max_size=14)
SOME = st.one_of(TEXT, st.integers(-70000, 70000), st.none(), st.booleans(),
                 st.floats(allow_nan=True))
ENGINE_SERVICE = st.fixed_dictionaries({"image": st.just("x")}, optional={
    "restart": st.one_of(st.sampled_from(["no", "always", "on-failure", "on-failure:3",
                                          "unless-stopped", "on-failure:x", "sometimes",
                                          "always:1", "on-failure:-1", ""]), SOME),
    "stop_signal": st.one_of(st.sampled_from(["SIGTERM", "term", "9", "SIGRTMIN+3",
                                              "RTMAX-1", "SIGNOPE", "0", "65", ""]), SOME),
    "logging": st.fixed_dictionaries({}, optional={
        "driver": st.sampled_from(["json-file", "local", "none"]),
        "options": st.dictionaries(st.sampled_from(["max-size", "max-file", "compress"]),
                                   st.one_of(st.sampled_from(["10m", "abc", "0", "-1", "3",
                                                              "1.5k", ""]), SOME),
                                   max_size=3)}),
    "tmpfs": st.one_of(TEXT, st.lists(st.one_of(
        st.sampled_from(["/run", "/x:size=lots", "/t:size=64k,mode=1777,noexec", "/t:mode=9",
                         "/t:ro,uid=1", "/t:bogus", "rel", "/t:size=-1", "/t:size="]),
        st.builds(lambda a, b: f"/t:{a}={b}", st.sampled_from(["size", "mode", "uid"]), TEXT)),
        max_size=3)),
    "ulimits": st.dictionaries(st.sampled_from(["nofile", "nproc", "core", "nofiles", "bogus"]),
                               st.one_of(st.integers(-3, 2**64), st.fixed_dictionaries(
                                   {"soft": st.integers(-3, 99), "hard": st.integers(-3, 99)})),
                               max_size=2),
    "ports": st.lists(st.one_of(
        st.sampled_from(["8080:80", "0:80", "80", "1-3:1-3", "127.0.0.1::80/udp", "65535:1",
                         "1:0", "0:0"]),
        st.fixed_dictionaries({"target": st.integers(-1, 70000)}, optional={
            "published": st.one_of(st.integers(-2, 70000), TEXT),
            "protocol": st.sampled_from(["tcp", "udp", "sctp", "x"])})), max_size=3),
    "environment": st.one_of(st.lists(st.sampled_from(["A=1", "=x", "B", " =1"]), max_size=2),
                             st.dictionaries(st.sampled_from(["A", "", " "]), st.just("v"),
                                             max_size=2)),
    "sysctls": st.one_of(st.lists(st.sampled_from(["net.core.somaxconn=1", "=1"]), max_size=2),
                         st.dictionaries(st.sampled_from(["net.ipv4.ip_forward", ""]),
                                         st.just(1), max_size=1)),
    "stop_grace_period": st.one_of(st.sampled_from(["10s", "99999999999999999h", "1e400s",
                                                    "-1s"]), SOME),
    "healthcheck": st.fixed_dictionaries({"test": st.just(["CMD", "true"])}, optional={
        "retries": st.integers(-6, 2**40),
        "interval": st.sampled_from(["1s", "2562048h", "1ns", "0", "999us", "1ms"]),
        "timeout": st.sampled_from(["1s", "1ns", "0s"])}),
    "cpuset": st.sampled_from(["0", "0-3,5", "abc", "3-1", "0,,1", ""]),
    "shm_size": st.one_of(st.sampled_from(["64m", "8192p", ".inf"]), SOME),
    "hostname": st.sampled_from(["web", "a b", "x" * 300, "a.b-c", "-x"]),
    "dns": st.lists(st.sampled_from(["1.1.1.1", "::1", "nope", "8.8.8.8#x"]), max_size=2),
    "dns_search": st.lists(st.sampled_from(["example.com", "a b", "."]), max_size=2),
    "extra_hosts": st.lists(st.sampled_from(["h:1.1.1.1", "h:host-gateway", "x y:1.1.1.1",
                                             "z:nope", "h=::1"]), max_size=2),
    "cap_add": st.lists(st.sampled_from(["NET_ADMIN", "cap_sys_time", "ALL", "FLY"]),
                        max_size=2),
    "working_dir": st.sampled_from(["/app", "app", ""]),
    "security_opt": st.lists(st.sampled_from(
        ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=false",
         "no-new-privileges:yes", "seccomp:unconfined", "seccomp", "apparmor=x", "label:disable",
         "systempaths=unconfined", "systempaths=x", "bogus"]), max_size=3),
    "network_mode": st.sampled_from(["host", "none", "bridge"]),
    "mem_limit": st.sampled_from(["1k", "6m", "1g", 0, "0", -1]),
    "mem_reservation": st.sampled_from(["1k", "6m", 0]),
    "memswap_limit": st.sampled_from(["1k", "6m", "2g", -1, 0]),
    "cpus": st.sampled_from([0, 0.001, 0.5, "2", 100]),
    "cpu_quota": st.sampled_from([0, 10, 1000, -1, 50000]),
    "cpu_period": st.sampled_from([0, 10, 100000, 2_000_000]),
    "blkio_config": st.fixed_dictionaries({}, optional={"weight": st.sampled_from(
        [0, 5, 10, 500, 1000, 2000])}),
    "deploy": st.fixed_dictionaries({}, optional={"resources": st.fixed_dictionaries(
        {}, optional={"limits": st.fixed_dictionaries({}, optional={
            "cpus": st.sampled_from([0, "0.001", "0.5"]),
            "memory": st.sampled_from(["1k", "8m", 0])})})}),
    "volumes": st.lists(st.fixed_dictionaries(
        {"type": st.just("tmpfs"), "target": st.sampled_from(["/t", "t"])},
        optional={"tmpfs": st.fixed_dictionaries({}, optional={"size": SOME, "mode": SOME})}),
        max_size=2),
})


def accepted(data: dict[str, Any]) -> Project | None:
    """The project config builds from `data`, or None when config rejects it."""
    marks = Marks()
    problems = schema_check.validate(data, marks)
    sel = profiles.select(data, marks, ())
    problems += sel.problems + semantic.check(sel.data, marks, sel.disabled, None, "demo")
    if problems:
        return None
    try:
        canonical = normalize.normalize(sel.data, normalize.Context("demo", "/proj", {}))
    except ValueError:
        return None         # an env file that cannot be read: project.py reports it
    if late_checks(canonical, marks):
        return None
    return build_project(canonical, working_dir="/proj", files=(), profiles=(), disabled=(),
                         environment={}, warnings=())


IMAGE = Image(id="sha256:" + "1" * 64, names=("x",), layer_dirs=(),
              config=ImageConfig(cmd=("/bin/sh",)))


def specs_of(project: Project) -> None:
    for net in project.networks.values():
        S.network_spec(project, net)
    for svc in project.services.values():
        cid = "a" * 64
        mounts = [S.tmpfs_mount(t) for t in svc.tmpfs]
        mounts += [Mount("tmpfs", v.target, tmpfs_size=v.tmpfs.size if v.tmpfs else None,
                         tmpfs_mode=v.tmpfs.mode if v.tmpfs else None)
                   for v in svc.volumes if v.type == "tmpfs"]
        mode = "host" if svc.network_mode == "host" else "ns"
        spec = S.container_spec(project, svc, container_id=cid, name=f"demo-{svc.name}-1",
                                number=1, image=IMAGE, image_ref="x", config_hash="h",
                                mounts=tuple(mounts), net=S.NetPlacement(mode))
        S.attach_specs(project, svc, spec.name, cid)
        dns = S.dns_config(svc, cid)
        check_dns(replace(dns, extra_hosts=tuple(
            (h, "127.0.0.1" if ip == "host-gateway" else ip) for h, ip in dns.extra_hosts)))
        caps.resolve(spec.cap_add, spec.cap_drop, spec.privileged)
        for key in spec.sysctls:
            check_sysctl(key, own_netns=spec.network_mode != "host")
        assert (spec.working_dir or "/").startswith("/")
        for port in S.port_specs(svc):
            validate_port(port)
        if spec.stop_signal is not None:
            parse_signal(spec.stop_signal)
        assert spec.restart.name in ("no", "always", "on-failure", "unless-stopped")
        assert spec.restart.max_retries is None or spec.restart.max_retries >= 0
        assert spec.log.max_size is None or spec.log.max_size > 0
        assert spec.log.max_file >= 1
        for u in spec.ulimits:
            assert u.name in RLIMITS and u.soft <= u.hard
        for m in spec.mounts:
            assert m.target.startswith("/")
            assert m.tmpfs_size is None or m.tmpfs_size >= 0
            assert m.tmpfs_mode is None or 0 <= m.tmpfs_mode <= 0o7777
        assert spec.stop_grace_period >= 0
        if spec.healthcheck is not None:
            assert spec.healthcheck.retries >= 0
            for d in (spec.healthcheck.interval, spec.healthcheck.timeout):
                assert d is None or d == 0 or d >= 0.001
        # the runtime's resource checks on a host big enough for any CPU or node count
        validate_resources(spec.resources, ncpu=1 << 16, online_cpus=set(range(1 << 16)),
                           online_mems=set(range(1 << 10)))   # raises on a bad cpuset list


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"services": st.fixed_dictionaries({"web": ENGINE_SERVICE})}))
@example({"services": {"web": {"image": "x", "ports": [{"target": 0}]}}})
@example({"services": {"web": {"image": "x", "volumes": [{"type": "tmpfs", "target": "t"}]}}})
def test_every_accepted_service_makes_a_container_spec(data: dict[str, Any]) -> None:
    project = accepted(data)
    if project is not None:
        specs_of(project)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"services": st.dictionaries(
    st.sampled_from(["web", "db", "a"]), st.one_of(ENGINE_SERVICE, TYPED_SERVICE,
                                                   NASTY_SERVICE), min_size=1, max_size=3)},
    optional={"networks": st.dictionaries(st.sampled_from(["default", "n"]),
                                          st.just({}), max_size=2),
              "volumes": st.dictionaries(st.sampled_from(["v", "a"]), st.just({}), max_size=2),
              "secrets": st.just({"s": {"file": "./s"}})}))
@example({"services": {"web": {"image": "x", "restart": "on-failure:x"}}})
@example({"services": {"web": {"image": "x", "logging": {"options": {"max-size": "abc"}}}}})
@example({"services": {"web": {"image": "x", "tmpfs": ["/x:size=lots"]}}})
@example({"services": {"web": {"image": "x", "ports": [{"published": -1, "target": 80}]}}})
@example({"services": {"web": {"image": "x", "stop_signal": "SIGNOPE"}}})
def test_every_accepted_project_makes_container_specs(data: dict[str, Any]) -> None:
    project = accepted(data)
    if project is not None:
        specs_of(project)
