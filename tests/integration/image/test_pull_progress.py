"""A pull shows Compose's lines with a real registry on 127.0.0.1: the image with its layers
under it (`--progress json`: `parent_id`, `current`, `total`), for `pystack pull` and for the
pulls of `create` (the same path as `up`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.image.conftest import Registry
from tests.integration.image.test_cli import run
from tests.support import images

pytestmark = [pytest.mark.root, pytest.mark.registry]


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in stderr.splitlines() if ln.startswith("{")]


def test_pull_and_create_show_layers(registry: Registry, bb_image: images.Built,
                                     tmp_path: Path) -> None:
    ref = registry.ref("progress/bb:1")
    src = images.docker_save(bb_image, tmp_path / "s.tar", [ref])
    first = tmp_path / "first"
    run(first, "image", "load", stdin=src)
    run(first, "push", ref)

    seen = events(run(tmp_path / "second", "--progress", "json", "pull", ref).stderr)
    image = f"Image {ref}"
    assert seen[0] == {"id": image, "status": "Pulling"} and seen[-1] == {"id": image,
                                                                        "status": "Pulled"}
    layers = [e for e in seen if e.get("parent_id") == image]
    assert layers and {e["status"] for e in layers} >= {"Pull complete"}
    done = next(e for e in layers if e["status"] == "Pull complete")
    assert done["current"] == done["total"] == len(bb_image.layers[0])

    root = tmp_path / "third"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "stack.yml").write_text(f"services:\n  web:\n    image: {ref}\n")
    try:
        r = run(root, "--progress", "json", "-f", str(proj / "stack.yml"), "-p", "pullprog",
                "create")
        seen = events(r.stderr)
        assert {"id": image, "status": "Pulling"} in seen
        assert any(e.get("parent_id") == image and e["status"] == "Pull complete"
                   for e in seen)
        assert {"id": "Container pullprog-web-1", "status": "Created"} in seen
    finally:
        run(root, "-f", str(proj / "stack.yml"), "-p", "pullprog", "down", ok=False)
