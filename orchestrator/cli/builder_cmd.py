"""`pystack builder prune|du` (the build cache) and `pystack image history`."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from pystack.orchestrator.cli.main import PystackCommand

if TYPE_CHECKING:
    from pystack.orchestrator.engine.backends import ImageStore


def _store() -> ImageStore:
    from pystack.orchestrator.cli.image_cmd import _store as store

    return store()


def _size(n: int) -> str:
    from pystack.orchestrator.cli.image_cmd import _human_size

    return _human_size(n)


@click.group(cls=click.Group)
def builder() -> None:
    """Manage the build cache."""


@builder.command("prune", cls=PystackCommand)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Also empty the RUN --mount=type=cache directories.")
@click.option("-f", "--force", is_flag=True, help="Do not ask (pystack never asks).")
def prune(all_: bool, force: bool) -> None:
    """Remove the build cache (layers images still use are kept)."""
    from pystack.runtime.build.cache import prune as do_prune

    n, freed = do_prune(_store(), all_mounts=all_)
    click.echo(f"Deleted build cache objects: {n}")
    click.echo(f"Total reclaimed space: {_size(freed)}")


@builder.command("du", cls=PystackCommand)
def du() -> None:
    """How much the build cache keeps."""
    from pystack.runtime.build.cache import usage

    n, size = usage(_store())
    click.echo(f"Build cache records: {n}")
    click.echo(f"Reclaimable: {_size(size)}")


@click.command("history", cls=PystackCommand)
@click.argument("ref", metavar="IMAGE")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the commands.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def history(ref: str, no_trunc: bool, fmt: str) -> None:
    """Show the history of an image (newest first), with each layer's size."""
    store = _store()
    image_id = store.resolve(ref)
    from pystack.runtime.image import imageconfig as ic

    doc = ic.load_json(store.content.read_blob(image_id), "image config")
    rec = store.content.read_record(image_id) or {}
    sizes = [store.content.layer_size(lay["chain_id"]) for lay in rec.get("layers") or []]
    rows = []
    for h in doc.get("history") or []:
        size = 0 if h.get("empty_layer") or not sizes else sizes.pop(0)
        rows.append({"CreatedBy": h.get("created_by", ""), "Created": h.get("created", ""),
                     "Size": size, "Comment": h.get("comment", "")})
    rows.reverse()
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
        return
    click.echo(f"{'CREATED':<22} {'CREATED BY':<50} {'SIZE':>9}  COMMENT")
    for r in rows:
        by = r["CreatedBy"] if no_trunc or len(r["CreatedBy"]) <= 50 else \
            r["CreatedBy"][:47] + "..."
        click.echo(f"{_created(r['Created']):<22} {by:<50} {_size(r['Size']):>9}  "
                   f"{r['Comment']}")


def _created(value: str) -> str:
    return value[:19].replace("T", " ") if value else time.strftime("%Y-%m-%d")
