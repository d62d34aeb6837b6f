"""A pull during `up` shows its layers: the image store's progress callback becomes `layer`
events under the image (engine/events.py LayerFeed), throttled per layer."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.orchestrator.engine.events import Emitter, LayerFeed
from pystack.orchestrator.engine.up import UpOptions, up
from tests.unit.engine.fakes import Env, project, svc


def test_layer_feed_throttles_chunks_but_not_status_changes() -> None:
    em = Emitter()
    feed = LayerFeed(em, "local/app:1", every=3600)
    for done in range(0, 100, 10):
        feed("sha256:" + "a" * 64, "downloading", done, 100)
    feed("sha256:" + "a" * 64, "extracting", 100, 100)
    feed("sha256:" + "a" * 64, "done", 100, 100)
    feed("sha256:" + "b" * 64, "exists", 5, 5)
    assert [(e.kind, e.name, e.status, e.parent, e.current) for e in em.history] == [
        ("layer", "aaaaaaaaaaaa", "Downloading", "local/app:1", 0),
        ("layer", "aaaaaaaaaaaa", "Extracting", "local/app:1", 100),
        ("layer", "aaaaaaaaaaaa", "Pull complete", "local/app:1", 100),
        ("layer", "bbbbbbbbbbbb", "Already exists", "local/app:1", 5)]
    assert [e.done for e in em.history] == [False, False, True, True]


def test_up_pulls_with_layer_events(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    real = env.images.pull

    def pull(ref: str, progress: Any = None, insecure: bool = False) -> Any:
        assert progress is not None
        progress("sha256:" + "c" * 64, "downloading", 1, 2)
        progress("sha256:" + "c" * 64, "done", 2, 2)
        return real(ref, progress, insecure)

    monkeypatch.setattr(env.images, "pull", pull)
    env.images.pullable.add("local/app:1")
    up(env.stack(project("demo", svc("web", image="local/app:1"))), UpOptions())
    seen = [(e.kind, e.name, e.status) for e in env.events.history if e.kind in ("image", "layer")]
    assert seen == [("image", "local/app:1", "Pulling"), ("layer", "cccccccccccc", "Downloading"),
                    ("layer", "cccccccccccc", "Pull complete"), ("image", "local/app:1", "Pulled")]
