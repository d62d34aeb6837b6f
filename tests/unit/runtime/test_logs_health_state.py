"""json-file writer/reader with rotation, health rules, the spec codec, signal names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pystack.runtime import logs, state
from pystack.runtime.checks import check_sysctl, parse_signal
from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.health import Checker, effective
from pystack.runtime.image.model import HealthConfig, ImageConfig
from pystack.runtime.spec import (
    ContainerSpec,
    Healthcheck,
    LogConfig,
    Mount,
    Resources,
    RestartPolicy,
    Ulimit,
    effective_healthcheck,
)


def test_writer_lines_partials_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = logs.LogWriter(path, max_size=300, max_file=2)
    w.write("stdout", b"hel")
    w.write("stdout", b"lo\nwor")
    w.write("stderr", "é\n".encode())
    w.close()                                   # flushes the partial "wor"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(r["log"], r["stream"]) for r in recs] == [("hello\n", "stdout"), ("é\n", "stderr"),
                                                        ("wor", "stdout")]
    assert recs[0]["time"].endswith("Z") and len(recs[0]["time"]) == 30
    w = logs.LogWriter(path, max_size=300, max_file=2)
    for i in range(20):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-json.log", "c-json.log.1"]
    got = [e.line for e in logs.read(path)]
    assert got[-1] == "line 19\n" and got == [f"line {i}\n" for i in range(20 - len(got), 20)]
    assert [e.line for e in logs.read(path, tail=1)] == ["line 19\n"]
    assert logs.read(path, tail=0) == []
    first = logs.read(path)[0].time
    assert logs.read(path, since="9999") == [] and logs.read(path, until=first)[0].time == first


def test_long_lines_are_split(tmp_path: Path) -> None:
    w = logs.LogWriter(tmp_path / "l", None, 1)
    w.write("stdout", b"x" * (logs.MAX_LINE + 5) + b"\n")
    w.close()
    assert [len(e.line) for e in logs.read(tmp_path / "l")] == [logs.MAX_LINE, 6]


def test_health_rules() -> None:
    c = Checker(Healthcheck(test=("CMD", "true"), interval=1, retries=2, start_period=100,
                            start_interval=0.5))
    assert c.argv() == ("true",) and c.next_delay(0) == 0.5
    c.record("t", 1, "no")                      # inside start_period: does not count
    assert (c.status, c.streak) == ("starting", 0)
    c.record("t", 0, "ok")
    assert c.status == "healthy" and c.next_delay(0) == 1
    c.record("t", 1, "x")
    assert c.status == "healthy"
    c.record("t", 1, "x" * 10000)
    assert (c.status, c.streak) == ("unhealthy", 2)
    for _ in range(5):
        c.record("t", 1, "")
    assert len(c.to_json()["log"]) == 5 and len(c.log[0]["output"]) <= 4096


def test_health_spec_over_image() -> None:
    img = ImageConfig(healthcheck=HealthConfig(test=("CMD-SHELL", "curl x"), interval=5.0))
    base = dict(id="0" * 64, name="c", image_id="", lower_dirs=())
    hc = effective(ContainerSpec(image=img, **base))  # type: ignore[arg-type]
    assert hc is not None and hc.interval == 5.0 and hc.retries == 3
    assert Checker(hc).argv() == ("/bin/sh", "-c", "curl x")
    assert effective(ContainerSpec(image=img, healthcheck=Healthcheck(test=("NONE",)),
                                   **base)) is None  # type: ignore[arg-type]


def test_spec_codec_round_trip(tmp_path: Path) -> None:
    spec = ContainerSpec(
        id="a" * 64, name="n", image=ImageConfig(cmd=("sh",), healthcheck=HealthConfig(("NONE",))),
        image_id="sha256:x", lower_dirs=("/l1", "/l2"), command=("a", "b"), env={"K": "v"},
        mounts=(Mount(type="tmpfs", target="/t", tmpfs_size=5),), ulimits=(Ulimit("nofile", 1, 2),),
        resources=Resources(memory=1, cpus=0.5), restart=RestartPolicy("on-failure", 3),
        log=LogConfig(10, 2), healthcheck=Healthcheck(test=("CMD", "x"), interval=2))
    p = state.Paths(dir=tmp_path, id=spec.id)
    state.save_spec(p, spec)
    assert state.load_spec(p) == spec
    with pytest.raises(ContainerRuntimeError, match="no such container"):
        state.load_spec(state.Paths(dir=tmp_path / "gone", id="x"))


def test_signal_names_and_sysctls() -> None:
    assert parse_signal("SIGTERM") == parse_signal("term") == parse_signal(15) == 15
    assert parse_signal("9") == 9
    with pytest.raises(ContainerRuntimeError, match="invalid signal: SIGNOPE"):
        parse_signal("SIGNOPE")
    check_sysctl("net.ipv4.ip_forward", "ns")
    check_sysctl("kernel.shmmax", "host")
    check_sysctl("net/ipv4/conf/eth0.1/rp_filter", "ns")
    with pytest.raises(ContainerRuntimeError, match=r"'net\.core\.somaxconn' is not allowed"):
        check_sysctl("net.core.somaxconn", "host")
    with pytest.raises(ContainerRuntimeError, match="not in a separate kernel namespace"):
        check_sysctl("kernel.panic", "ns")
    # joining the host's ipc namespace: its sysctls are the host's
    check_sysctl("kernel.shmmax", "ns", ipc_namespace="/nonexistent/ns/ipc")
    with pytest.raises(ContainerRuntimeError, match="not allowed in the host's ipc namespace"):
        check_sysctl("kernel.shmmax", "ns", ipc_namespace="/proc/self/ns/ipc")


def test_follow_gets_the_lines_written_just_before_the_exit(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = logs.LogWriter(path)
    w.write("stdout", b"one\n")
    calls = []

    def running() -> bool:
        calls.append(1)
        if len(calls) == 1:
            w.write("stdout", b"two\n")         # the last line lands as the container exits
            w.close()
            return False
        return True

    got = [e.line for e in logs.follow(path, running, poll=0.001)]
    assert got == ["one\n", "two\n"]
    assert [e.line for e in logs.follow(path, lambda: False, tail=1)] == ["two\n"]


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8),
       garbage=st.binary(max_size=200))
@example(text="x", cuts=[], garbage=b"0").via("a JSON line that is not an object")
@example(text="x", cuts=[], garbage=b'["log"]').via("a JSON line that is not an object")
def test_log_round_trip_and_garbage(tmp_path_factory: pytest.TempPathFactory, text: str,
                                    cuts: list[int], garbage: bytes) -> None:
    path = tmp_path_factory.mktemp("l") / "c-json.log"
    raw = text.encode()
    w = logs.LogWriter(path, max_size=300, max_file=50)
    last = 0
    for c in sorted(min(c, len(raw)) for c in cuts):
        w.write("stdout", raw[last:c])
        last = c
    w.write("stdout", raw[last:])
    w.close()
    entries = logs.read(path)
    assert "".join(e.line for e in entries) == text
    assert all(e.line.endswith("\n") for e in entries[:-1])
    with open(path, "ab") as f:
        f.write(garbage + b"\n")                # a torn or foreign line is skipped
    assert "".join(e.line for e in logs.read(path)) == text


@pytest.mark.parametrize(("mine", "image", "want"), [
    (None, None, None),
    (None, HealthConfig(test=("NONE",)), None),
    (Healthcheck(test=("NONE",)), HealthConfig(test=("CMD", "x")), None),
    (None, HealthConfig(test=("CMD", "x"), interval=0, retries=0),
     Healthcheck(test=("CMD", "x"), interval=30.0, timeout=30.0, retries=3)),
    (Healthcheck(test=(), interval=2.0, timeout=0, retries=0, start_interval=0),
     HealthConfig(test=("CMD", "x"), timeout=4.0, start_period=9.0),
     Healthcheck(test=("CMD", "x"), interval=2.0, timeout=4.0, retries=3, start_period=9.0)),
    (Healthcheck(test=("CMD", "mine"), interval=0, timeout=0, retries=5, start_interval=0),
     None, Healthcheck(test=("CMD", "mine"), interval=30.0, timeout=30.0, retries=5)),
])
def test_one_healthcheck_rule_zero_is_not_set(mine: Healthcheck | None,
                                              image: HealthConfig | None,
                                              want: Healthcheck | None) -> None:
    assert effective_healthcheck(mine, image) == want
