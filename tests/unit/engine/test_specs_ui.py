"""Service -> specs translation, host-side volumes/secrets, and the renderers' output."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from pystack.orchestrator.config.model import (
    FileObject,
    FileReference,
    Healthcheck,
    PortMapping,
    Restart,
    ServiceNetwork,
    Tmpfs,
    Volume,
    VolumeMount,
)
from pystack.orchestrator.engine import specs as S
from pystack.orchestrator.engine.volumes import prepare_mounts
from pystack.orchestrator.errors import NotFoundError
from pystack.orchestrator.ui.logs import LogPrinter
from pystack.runtime.api import LogEntry
from pystack.runtime.image.model import HealthConfig, Image, ImageConfig
from pystack.runtime.spec import effective_healthcheck
from tests.unit.engine.fakes import FakeImages, project, svc


def image(tmp: Path, health: HealthConfig | None = None) -> Image:
    layer = tmp / "layer"
    (layer / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (layer / "data" / "seed.txt").write_text("seed\n")
    return Image(id="sha256:" + "1" * 64, names=("x",), layer_dirs=(layer,),
                 config=ImageConfig(cmd=("/bin/sh",), healthcheck=health))


def test_attach_ports_dns_labels() -> None:
    s = svc("web", networks={"front": ServiceNetwork(aliases=("www",), priority=5),
                             "default": ServiceNetwork()},
            ports=(PortMapping(8080, "18080", "127.0.0.1"), PortMapping(53, None,
                                                                         protocol="udp")),
            links=("db:database",), dns=("10.0.0.1",), extra_hosts=(("h", "1.2.3.4"),))
    p = project("demo", s)
    p = replace(p, networks={})
    with pytest.raises(Exception, match="undefined network front"):
        S.attach_specs(p, s, "demo-web-1", "a" * 64)
    from pystack.orchestrator.config.model import Network

    p = replace(p, networks={"front": Network("front", "demo_front")})
    atts = S.attach_specs(p, s, "demo-web-1", "a" * 64)
    assert [a.network for a in atts] == ["demo_front", "demo_default"]
    assert atts[0].aliases == ("demo-web-1", "web", "a" * 12, "www")   # links: the asker's
    assert atts[0].priority == 5
    ports = S.port_specs(s)
    assert [(x.target, x.published, x.host_ip, x.protocol) for x in ports] == [
        (8080, 18080, "127.0.0.1", "tcp"), (53, None, "", "udp")]
    dns = S.dns_config(s, "b" * 64)
    assert dns.servers == ("10.0.0.1",) and dns.hostname == "b" * 12
    assert dns.embedded and dns.links == (("database", "db"),)
    labels = S.compose_labels(p, svc("web", deps={"db": "service_healthy"}), 2, "hh", "img")
    assert labels["com.docker.compose.depends_on"] == "db:service_healthy:false"
    assert labels["com.docker.compose.container-number"] == "2"
    assert labels["com.docker.compose.project.config_files"] == "/tmp/stack.yml"


def test_healthcheck_merges_with_image_and_restart_policy(tmp_path: Path) -> None:
    img = image(tmp_path, HealthConfig(test=("CMD", "img-check"), interval=5.0, retries=7))
    mine = S.healthcheck(svc("a", healthcheck=Healthcheck(interval=1.0, retries=0)), img)
    assert mine is not None and (mine.test, mine.interval, mine.retries) == ((), 1.0, 0)
    hc = effective_healthcheck(mine, img.config.healthcheck)     # the runtime's one rule
    assert hc is not None and (hc.test, hc.interval, hc.timeout, hc.retries) == (
        ("CMD", "img-check"), 1.0, 30.0, 7)                       # 0 = not set, as Docker
    off = S.healthcheck(svc("a", healthcheck=Healthcheck(disable=True)), img)
    assert off is not None and off.test == ("NONE",)
    assert effective_healthcheck(off, img.config.healthcheck) is None
    assert S.healthcheck(svc("a"), img) is None          # None = the image's own
    assert S.restart_policy(svc("a", restart=Restart("on-failure", 3))).max_retries == 3
    assert S.restart_policy(svc("a", restart=Restart("unless-stopped"))).name == \
        "unless-stopped"
    assert S.restart_policy(svc("a")).name == "no"


def test_volumes_binds_tmpfs_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTACK_ROOT", str(tmp_path / "root"))
    img = image(tmp_path)
    s = svc("a", volumes=(
        VolumeMount("volume", "/data", "vol"),
        VolumeMount("volume", "/anon"),
        VolumeMount("bind", "/src", str(tmp_path / "made-for-me")),
        VolumeMount("tmpfs", "/scratch"),
    ), tmpfs=(Tmpfs("/run/x", 1 << 20, 0o1777),),
        secrets=(FileReference("token"),), configs=(FileReference("conf", "/etc/app.conf"),))
    p = project("demo", s)
    p = replace(p, volumes={"vol": Volume("vol", "demo_vol")},
                secrets={"token": FileObject("token", "demo_token", content="s3cret")},
                configs={"conf": FileObject("conf", "demo_conf", environment="CONF")},
                environment={"CONF": "k=v"})
    created: list[str] = []
    mounts = prepare_mounts(p, s, 1, img, created, images=FakeImages(tmp_path))
    by = {m.target: m for m in mounts}
    vol = Path(by["/data"].source)
    assert vol == tmp_path / "root" / "volumes" / "demo_vol" / "_data"
    assert (vol / "seed.txt").read_text() == "seed\n"    # filled from the image
    assert (tmp_path / "made-for-me").is_dir()
    assert by["/scratch"].type == "tmpfs"
    assert (by["/run/x"].tmpfs_size, by["/run/x"].tmpfs_mode) == (1 << 20, 0o1777)
    assert Path(by["/run/secrets/token"].source).read_text() == "s3cret"
    assert by["/run/secrets/token"].read_only
    assert Path(by["/etc/app.conf"].source).read_text() == "k=v"
    assert created[0] == "demo_vol" and created[1].startswith("demo_anon_a_1_")
    # filled once: a file deleted in the volume does not come back
    (vol / "seed.txt").unlink()
    prepare_mounts(p, s, 1, img, images=FakeImages(tmp_path))
    assert not (vol / "seed.txt").exists()
    # an image VOLUME becomes an anonymous volume, filled from the image
    img2 = replace(img, config=replace(img.config, volumes=("/data/sub", "/data")))
    by2 = {m.target: m for m in prepare_mounts(p, s, 1, img2, images=FakeImages(tmp_path))}
    assert by2["/data"].source == by["/data"].source      # covered by the service's mount
    assert "_anon_a_1_" in by2["/data/sub"].source
    ext = replace(p, volumes={"vol": Volume("vol", "nope", external=True)})
    with pytest.raises(NotFoundError, match="external volume nope not found"):
        prepare_mounts(ext, s, 1, img, images=FakeImages(tmp_path))


def test_log_printer_prefix_and_colour() -> None:
    out = io.StringIO()
    lp = LogPrinter(out, width=8)
    entry = LogEntry("stdout", "2026-01-01T00:00:00.000000001Z", "hi\n")
    lp.line("web-1", "web", entry)
    assert out.getvalue() == "web-1     | hi\n"          # not a tty: no colour
    out2 = io.StringIO()
    out2.isatty = lambda: True  # type: ignore[method-assign]
    lp2 = LogPrinter(out2, width=5, timestamps=True)
    lp2.line("web-1", "web", entry)
    assert out2.getvalue() == ("\x1b[36mweb-1  | \x1b[0m2026-01-01T00:00:00.000000001Z hi\n")


def test_log_time_forms() -> None:
    from datetime import UTC, datetime

    from pystack.orchestrator.engine.query import log_time

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert log_time("1h30m", now) == "2026-01-02T01:34:05.000000000Z"
    assert log_time("45s", now) == "2026-01-02T03:03:20.000000000Z"
    assert log_time("0", now) == "1970-01-01T00:00:00.000000000Z"
    assert log_time("2026-01-02T03:00:00Z", now) == "2026-01-02T03:00:00.000000000Z"
    assert log_time(None) is None
    with pytest.raises(Exception, match="invalid time 'yesterday'"):
        log_time("yesterday", now)
