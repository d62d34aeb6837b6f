"""A project's teardown behind NetworkManager.teardown: every sandbox of the project (but
those kept), its nft rules and its networks (but those a kept sandbox still uses), then what
dead owners left (pins, name files and port holders without a record).  Sandboxes are
removed in parallel (unmounting pins and deleting files is kernel and disk time); the
embedded DNS server lets go of their namespaces before the wait for their veths.  Runs under
the manager's lock; works from the records, whoever wrote them.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pystack.net import dns, holder, names, netns
from pystack.net.endpoints import refresh_names, remove_sandbox

if TYPE_CHECKING:
    from pystack.net.manager import NetworkManager


def teardown(mgr: NetworkManager, keep: Collection[str] = ()) -> None:
    """Remove every sandbox of this project (but those in `keep`), its rules, and its
    networks (but those a kept sandbox is still attached to), also what dead owners left.
    Sandboxes go in parallel: unmounting pins and deleting files is kernel and disk time."""
    with mgr.store.lock():
        veths: list[str] = []
        nets: set[str] = set()
        kept_nets: set[str] = set()
        gone: list[dict[str, Any]] = []
        for rec in mgr.store.all(mgr.store.sandboxes):
            if rec.get("project") != mgr.project:
                continue
            if rec["id"] in keep:
                kept_nets |= {a["network"] for a in rec["attachments"]}
                continue
            veths += [a["host"] for a in rec["attachments"]]
            nets |= {a["network"] for a in rec["attachments"]}
            gone.append(rec)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda r: remove_sandbox(mgr, r, bulk=True), gone))
        # The DNS server's sockets inside the removed sandboxes hold their namespaces
        # (and so their veths) alive: it lets go of them first, or the wait below runs
        # to its timeout (2 s for a 20-container down).
        _dns_after(mgr)
        left = mgr.links.wait_gone(veths, timeout=2.0)
        mine = [r for r in mgr.store.all(mgr.store.networks)
                if r["project"] == mgr.project and r["name"] not in kept_nets]
        bridges = {r["bridge"] for r in mine}
        for name in [*left, *mgr.links.names(mgr.knobs.ifprefix)]:
            master = Path(f"/sys/class/net/{name}/master")
            if name in left or (master.exists() and
                                 os.path.basename(os.readlink(master)) in bridges):
                mgr.links.delete(name)     # held by a live process, or record lost
        if not keep:
            mgr.table.remove(f"p={mgr.project} ")
        else:
            mgr.table.remove_exact({f"p={mgr.project} ctr={r['id']}" for r in gone}
                                    | {f"p={mgr.project} net={r['name']}" for r in mine})
        for r in mine:
            mgr._destroy_network(r, rules=False)
        shared = nets - {r["name"] for r in mine}
        if shared:
            refresh_names(mgr, shared)     # networks still used by others
        reap_orphans(mgr)

def _dns_after(mgr: NetworkManager) -> None:
    if any(r.get("project") == mgr.project for r in mgr.store.all(mgr.store.sandboxes)):
        dns.sync(mgr.knobs, mgr.project, start=False)
    else:
        dns.stop(mgr.knobs, mgr.project)

def reap_orphans(mgr: NetworkManager) -> None:
    """Pins and name files without a record (records are written before and deleted
    after them, so these are leftovers of a lost record): unmount and delete."""
    known = {r["id"] for r in mgr.store.all(mgr.store.sandboxes)}
    for cid, held in holder.running(str(mgr.knobs.root)).items():
        if cid not in known:
            holder.release(held)
    for folder, is_pin in ((mgr.store.pins, True), (mgr.store.files, False)):
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            continue
        for cid in entries:
            if cid in known:
                continue
            if is_pin:
                netns.remove(folder / cid)
            else:
                names.remove_files_dir(folder / cid)
