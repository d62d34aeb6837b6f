"""A missing image during `up`/`run` exits 4, the exit-code table's "a named object does not
exist" (cli/exit_codes.py, README), and creates nothing; a registry that cannot be reached is
an operation that failed (1).  No remote registry is ever named: the image is looked up in the
local store only (`pull_policy: never`), in a local registry on 127.0.0.1, or on a closed
port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.image.conftest import Registry, registry  # noqa: F401 (fixture)
from tests.integration.stack.conftest import Project, free_port

pytestmark = pytest.mark.root


def _nothing_made(p: Project) -> None:
    from pystack.net.manager import NetworkManager

    assert p.ps() == []
    assert [n.name for n in NetworkManager(p.name).list_networks()] == []


@pytest.mark.parametrize("args", [("up", "-d"), ("run", "--rm", "-T", "web", "true")])
def test_an_image_missing_from_the_store_exits_4(make_project: Callable[[str], Project],
                                                 args: tuple[str, ...]) -> None:
    p = make_project("services:\n  web:\n    image: local/nosuch:1\n    pull_policy: never\n")
    r = p.run(*args, check=False)
    assert r.returncode == 4, r.stderr
    assert "service web: image local/nosuch:1: no such image: local/nosuch:1" in r.stderr
    assert "Traceback" not in r.stderr
    _nothing_made(p)


@pytest.mark.registry
def test_an_image_the_local_registry_does_not_have_exits_4(
        make_project: Callable[[str], Project], registry: Registry) -> None:  # noqa: F811
    ref = registry.ref("no/such:1")
    p = make_project(f"services:\n  web:\n    image: {ref}\n")
    r = p.run("up", "-d", check=False)
    assert r.returncode == 4, r.stderr
    assert f"service web: image {ref}:" in r.stderr and "not found in registry" in r.stderr
    _nothing_made(p)


def test_an_unreachable_registry_is_a_failure_not_a_missing_image(
        make_project: Callable[[str], Project]) -> None:
    ref = f"127.0.0.1:{free_port()}/x:1"          # a closed port: nothing is sent anywhere
    p = make_project(f"services:\n  web:\n    image: {ref}\n")
    r = p.run("up", "-d", check=False)
    assert r.returncode == 1, r.stderr
    assert "cannot reach registry 127.0.0.1:" in r.stderr
    _nothing_made(p)
