"""The image config JSON <-> ImageConfig."""

from __future__ import annotations

import pytest

from pystack.runtime.errors import ImageError
from pystack.runtime.image import imageconfig as ic
from pystack.runtime.image.fsutil import chain_ids
from pystack.runtime.image.model import HealthConfig, ImageConfig


def test_round_trip() -> None:
    cfg = ImageConfig(entrypoint=("/init",), cmd=("run", "x"), env=("A=1", "B=2"),
                      working_dir="/srv", user="app:app", exposed_ports=("53/udp", "80/tcp"),
                      volumes=("/data",), stop_signal="SIGQUIT", labels={"k": "v"},
                      healthcheck=HealthConfig(test=("CMD-SHELL", "true"), interval=1.5,
                                               timeout=2.0, retries=3))
    doc = ic.new_config_doc(cfg, ["sha256:" + "a" * 64], "test")
    assert ic.parse_config(doc) == cfg
    assert doc["config"]["Healthcheck"]["Interval"] == 1_500_000_000
    assert ic.diff_ids_of(doc) == ["sha256:" + "a" * 64]


def test_docker_null_fields() -> None:
    doc = {"config": {"Cmd": None, "Entrypoint": None, "Env": None, "Labels": None}}
    assert ic.parse_config(doc) == ImageConfig()


def test_platform_and_errors() -> None:
    with pytest.raises(ImageError, match="is for platform linux/arm64"):
        ic.check_platform({"os": "linux", "architecture": "arm64"}, "the image")
    with pytest.raises(ImageError, match=r"no rootfs\.diff_ids"):
        ic.diff_ids_of({})
    with pytest.raises(ImageError, match="unsupported layer media type 'x'"):
        ic.check_layer_type("x")
    with pytest.raises(ImageError, match="not valid JSON"):
        ic.load_json(b"{", "image config")


def test_chain_ids() -> None:
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    import hashlib

    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]
