"""Helpers of the image commands: --change parsing, sizes, `images` rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pystack.orchestrator.cli.image_cmd import _human_size, apply_changes, image_rows
from pystack.runtime.errors import ImageError
from pystack.runtime.image.model import Image, ImageConfig


def test_changes() -> None:
    cfg = apply_changes(['CMD ["/bin/sh", "-c", "x"]', "ENTRYPOINT /init --flag", "ENV A=1 B=2",
                         "WORKDIR /srv", "USER app", "EXPOSE 80 53/udp", "LABEL k = v",
                         "STOPSIGNAL SIGINT", "VOLUME /data"])
    assert cfg == ImageConfig(cmd=("/bin/sh", "-c", "x"),
                              entrypoint=("/bin/sh", "-c", "/init --flag"), env=("A=1", "B=2"),
                              working_dir="/srv", user="app",
                              exposed_ports=("80/tcp", "53/udp"), labels={"k": "v"},
                              stop_signal="SIGINT", volumes=("/data",))
    assert apply_changes([]) is None
    with pytest.raises(ImageError, match="unsupported --change 'RUN x'"):
        apply_changes(["RUN x"])


@pytest.mark.parametrize(("n", "text"), [(0, "0B"), (999, "999B"), (1500, "1.5kB"),
                                         (1_982_499, "1.98MB"), (5 * 10**9, "5GB")])
def test_human_size(n: int, text: str) -> None:
    assert _human_size(n) == text


class FakeStore:
    def __init__(self, images: list[Image]) -> None:
        self.images = images

    def list(self) -> list[Image]:
        return self.images


def image(id_: str, *names: str) -> Image:
    return Image(id="sha256:" + id_ * 64, names=names, config=ImageConfig(),
                 layer_dirs=(Path("/x"),), created="2024-01-01T00:00:00Z", size=10)


def test_rows() -> None:
    store: Any = FakeStore([image("a", "docker.io/library/bb:1", "docker.io/library/bb:2"),
                            image("b"), image("c", "localhost:5000/x/y:latest")])
    rows = image_rows(store)
    assert [(r["Repository"], r["Tag"]) for r in rows] == [
        ("bb", "1"), ("bb", "2"), ("<none>", "<none>"), ("localhost:5000/x/y", "latest")]
    assert [r["Tag"] for r in image_rows(store, "bb")] == ["1", "2"]
    assert [r["Tag"] for r in image_rows(store, "bb:2")] == ["2"]
    assert image_rows(store, "nothing") == []
