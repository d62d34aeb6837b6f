"""cache_to / cache_from of type=local, for real: the cache exported as an OCI image layout
(index.json, blobs/sha256/), mode=min vs max, imported into a store whose build cache and
layers were pruned so the rebuild is fully CACHED with the same image id; the CLI flags and
Compose keys; other cache types are clear errors on the CLI and skipped with a warning in
a Compose file (as BuildKit goes on without a cache it cannot import); a hostile cache
directory is a clear error."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pystack.runtime.build import cache as C
from pystack.runtime.build.errors import BuildError
from pystack.runtime.image.store import ImageStore
from tests.integration.build.conftest import Ctx, image_file
from tests.integration.stack.conftest import Project, pystack_argv

pytestmark = pytest.mark.root

DOCKERFILE = ("FROM local/busybox:latest AS base\nRUN echo base-$RANDOM > /b\n"
              "FROM base\nCOPY f /f\nRUN cat /f /b > /both\n")


def layout(d: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the cache config, the layer descriptors) of a local cache dir; every blob checked."""
    top = json.loads((d / "index.json").read_text())
    assert json.loads((d / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    (ref,) = top["manifests"]
    assert ref["annotations"]["org.opencontainers.image.ref.name"] == "latest"

    def blob(digest: str) -> bytes:
        data = (d / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        return data
    idx = json.loads(blob(ref["digest"]))
    cfg_desc = idx["manifests"][-1]
    assert cfg_desc["mediaType"] == "application/vnd.buildkit.cacheconfig.v0"
    layers = idx["manifests"][:-1]
    for lay in layers:
        assert len(blob(lay["digest"])) == lay["size"]
    return json.loads(blob(cfg_desc["digest"])), layers


def forget(ref: str) -> None:
    """Remove the image and the whole build cache: nothing keeps the built layers."""
    store = ImageStore()
    store.remove(ref, force=True)
    C.prune(store, all_mounts=True)


def test_export_min_max_and_import_after_prune(ctx: Ctx, tmp_path: Path) -> None:
    ctx.write("f", "file\n")
    first = ctx.build(DOCKERFILE, tags=("built:cacheio",),
                      cache_to=((tmp_path / "max", "max"), (tmp_path / "min", "min")))
    cfg_max, layers_max = layout(tmp_path / "max")
    cfg_min, _ = layout(tmp_path / "min")
    assert len(cfg_max["records"]) == 3 and len(cfg_min["records"]) == 2   # base's RUN: max
    assert len(layers_max) == 4              # busybox's layer and the three steps' layers
    assert any(e.kind == "start" and e.name.startswith("exporting cache to local:")
               for e in ctx.events)
    both = image_file("built:cacheio", "both")
    forget("built:cacheio")
    ctx.build(DOCKERFILE, tags=("built:cacheio",))
    assert len(ctx.ran()) == 3               # pruned: everything runs again ($RANDOM differs)
    forget("built:cacheio")
    again = ctx.build(DOCKERFILE, tags=("built:cacheio",), cache_from=(tmp_path / "max",))
    assert len(ctx.cached()) == 3 and not ctx.ran()
    assert again.image_id == first.image_id and image_file("built:cacheio", "both") == both
    forget("built:cacheio")
    ctx.build(DOCKERFILE, tags=("built:cacheio",), cache_from=(tmp_path / "min",))
    assert [n.split("] ")[1] for n in ctx.ran()] == ["RUN echo base-$RANDOM > /b",
                                                     "COPY f /f", "RUN cat /f /b > /both"]


def test_cli_flags_compose_keys_and_errors(ctx: Ctx, tmp_path: Path) -> None:
    ctx.write("f", "cli\n")
    ctx.write("Dockerfile", DOCKERFILE)
    d = tmp_path / "clicache"
    r = subprocess.run(pystack_argv("image", "build", "-t", "built:cacheio-cli", "--cache-to",
                                    f"type=local,dest={d},mode=max", str(ctx.root)),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(layout(d)[0]["records"]) == 3
    forget("built:cacheio-cli")
    r = subprocess.run(pystack_argv("image", "build", "-t", "built:cacheio-cli", "--cache-from",
                                    f"type=local,src={d}", str(ctx.root)),
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.count("CACHED") == 3, r.stderr
    r = subprocess.run(pystack_argv("image", "build", "--cache-from", "type=gha",
                                    str(ctx.root)), capture_output=True, text=True)
    assert r.returncode != 0 and "cache type 'gha' is not supported" in r.stderr
    assert "Traceback" not in r.stderr
    p = Project(tmp_path, f"services:\n  app:\n    build:\n      context: {ctx.root}\n"
                          "      cache_to: ['type=local,dest=./c,mode=max']\n"
                          "      cache_from: ['type=local,src=./c']\n")
    p.run("build")
    assert len(layout(tmp_path / "c")[0]["records"]) == 3
    forget(f"{p.name}-app")
    assert p.run("build").stderr.count("CACHED") == 3
    p.write(f"services:\n  app:\n    build:\n      context: {ctx.root}\n"
            "      cache_from: [myregistry/app:cache]\n")
    r = p.run("build", check=False)         # a Docker user's registry cache: skipped, built
    assert r.returncode == 0, r.stderr
    assert "services.app.build.cache_from[0]: 'myregistry/app:cache': only type=local" \
        in r.stderr


def test_hostile_cache_dir(ctx: Ctx, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    (bad / "blobs" / "sha256").mkdir(parents=True)
    (bad / "index.json").write_text(json.dumps({"manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json",
         "digest": "sha256:../../../../etc/passwd"}]}))
    ctx.write("f", "x\n")
    with pytest.raises(BuildError) as e:
        ctx.build(DOCKERFILE, cache_from=(bad,))
    assert "is not a sha256 digest" in e.value.message
    (bad / "index.json").write_text("{not json")
    with pytest.raises(BuildError) as e:
        ctx.build(DOCKERFILE, cache_from=(bad,))
    assert "index.json is not JSON" in e.value.message


def test_crafted_layer_in_a_cache_dir_is_refused(ctx: Ctx, tmp_path: Path) -> None:
    """A cache dir whose layer escapes with `..`: the import goes through the store's safe
    unpacker, so it fails and nothing lands outside the store."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../../../../../../tmp/" + tmp_path.name + "-escaped")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    data = buf.getvalue()
    d = tmp_path / "evil"
    (d / "blobs" / "sha256").mkdir(parents=True)

    def put(raw: bytes) -> tuple[str, int]:
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        (d / "blobs" / "sha256" / digest[7:]).write_bytes(raw)
        return digest, len(raw)
    layer, size = put(data)
    cfg, cfg_size = put(json.dumps({"layers": [{"blob": layer, "parent": -1}], "records": [
        {"digest": "sha256:" + "ab" * 32, "results": [{"layer": 0, "createdAt": ""}]}]}
    ).encode())
    idx, idx_size = put(json.dumps({"manifests": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": size,
         "annotations": {"containerd.io/uncompressed": layer}},
        {"mediaType": "application/vnd.buildkit.cacheconfig.v0", "digest": cfg,
         "size": cfg_size}]}).encode())
    (d / "index.json").write_text(json.dumps({"manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx,
         "size": idx_size}]}))
    ctx.write("f", "x\n")
    with pytest.raises(BuildError) as e:
        ctx.build(DOCKERFILE, cache_from=(d,))
    assert f"cache_from {d}: layer {layer}" in e.value.message, e.value.message
    assert "escape" in e.value.message or ".." in e.value.message, e.value.message
    assert not Path(f"/tmp/{tmp_path.name}-escaped").exists()
    assert C.Cache(ImageStore().content).record("ab" * 32) is None
