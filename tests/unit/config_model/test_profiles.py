"""Profiles: active profiles, `*`, services named on the command line, disabled deps."""

from __future__ import annotations

from collections.abc import Callable

from tests.unit.config_model.conftest import Loader

STACK = """
services:
  app: {image: x}
  debug: {image: x, profiles: [debug]}
  tool:
    image: x
    profiles: [tools]
    depends_on: {debug: {condition: service_started, required: false}}
  needs_debug: {image: x, profiles: [extra], depends_on: [debug]}
"""


def test_default_only_unprofiled(load: Loader) -> None:
    p = load(STACK)
    assert list(p.services) == ["app"]
    assert p.disabled == ("debug", "needs_debug", "tool")
    assert p.defined_profiles == ("debug", "extra", "tools")


def test_active_profile(load: Loader) -> None:
    assert sorted(load(STACK, profiles=("debug",)).services) == ["app", "debug"]


def test_star_enables_everything(load: Loader) -> None:
    assert sorted(load(STACK, profiles=("*",)).services) == [
        "app", "debug", "needs_debug", "tool"]


def test_named_service_enables_its_profiles(load: Loader) -> None:
    p = load(STACK, services=("tool",))
    assert list(p.services) == ["tool"]
    assert p.profiles == ("tools",)


def test_optional_dependency_on_disabled_service_is_fine(load: Loader) -> None:
    p = load(STACK, profiles=("tools",))
    assert sorted(p.services) == ["app", "tool"]


def test_dependency_on_disabled_service_says_so(problems: Callable[..., list[str]]) -> None:
    assert problems(STACK, profiles=("extra",)) == [
        "compose.yaml:9:59: services.needs_debug.depends_on[0]: service 'needs_debug' depends "
        "on service 'debug', which is disabled by its profiles (debug) (enable it with "
        "--profile debug, or mark the dependency required: false)"]


def test_unknown_requested_service(problems: Callable[..., list[str]]) -> None:
    assert problems(STACK, services=("nope",)) == ["no such service: nope"]
