"""pystack.runtime.cgroups: one Cgroup interface over cgroup v2, v1 and hybrid hosts.

    cg = open_cgroup(container_id)       # parent: $PYSTACK_CGROUP_PARENT or "pystack"
    validate(spec.resources)             # before creating anything: Docker's checks and messages
    cg.create(); cg.apply(spec.resources); cg.add_pid(pid)   # or write pid into procs_files()
    ... cg.freeze() / cg.thaw() / cg.stats() / cg.oom_killed()
    cg.kill_all(); cg.remove()           # remove() also drops the shared parent when empty

The backend is chosen by probing /proc/self/mountinfo and /proc/cgroups once per process.
"""

from __future__ import annotations

from pystack.runtime.cgroups.base import Cgroup
from pystack.runtime.cgroups.layout import Layout, Mode, probe
from pystack.runtime.cgroups.v1 import V1Cgroup
from pystack.runtime.cgroups.v2 import V2Cgroup
from pystack.runtime.cgroups.validate import validate
from pystack.runtime.settings import settings

__all__ = ["Cgroup", "Layout", "Mode", "V1Cgroup", "V2Cgroup", "default_parent", "layout",
           "open_cgroup", "validate"]

_layout: Layout | None = None


def layout() -> Layout:
    """This host's cgroup layout (probed once, then cached)."""
    global _layout
    if _layout is None:
        _layout = probe()
    return _layout


def default_parent() -> str:
    return settings().cgroup_parent


def open_cgroup(name: str, parent: str | None = None, layout_: Layout | None = None) -> Cgroup:
    """The cgroup of one container (nothing is created until `create()`)."""
    lay = layout_ or layout()
    par = parent or default_parent()
    if lay.mode == "v2":
        assert lay.v2 is not None
        from pystack.runtime.cgroups.layout import base_dir

        return V2Cgroup(name, par, base_dir(lay.v2, lay.own.get(""), v2=True))
    return V1Cgroup(name, par, lay)
