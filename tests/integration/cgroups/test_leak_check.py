"""The session's leak check sees a leftover cgroup wherever one can be left: at the root of
each hierarchy and nested under another group (as a v2 host's systemd slices nest them)."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.support import hostenv

pytestmark = pytest.mark.root


def test_planted_cgroups_are_reported() -> None:
    name = "pystack-leak-" + secrets.token_hex(3)
    base = str(hostenv.CGROUP_BASE)
    roots = [base] if os.path.exists(os.path.join(base, "cgroup.procs")) else [
        os.path.join(base, h) for h in os.listdir(base)
        if os.path.exists(os.path.join(base, h, "cgroup.procs"))]
    assert roots, "no cgroup hierarchy mounted under /sys/fs/cgroup"
    planted: list[str] = []
    try:
        for r in roots:
            top = os.path.join(r, name)
            nest = os.path.join(r, name + "-outer")
            os.mkdir(top)
            planted.append(top)
            os.mkdir(nest)
            planted.append(nest)
            os.mkdir(os.path.join(nest, name))
            planted.insert(0, os.path.join(nest, name))
        found = set(hostenv._cgroups(name))
        want = {p for p in planted if os.path.basename(p) == name}
        assert found == want
    finally:
        for p in planted:
            os.rmdir(p)
    assert hostenv._cgroups(name) == []
