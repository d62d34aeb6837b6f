"""Image references: Docker's grammar and defaults, exact cases and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.errors import ImageError
from pystack.runtime.image.reference import Reference, parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("ref", "want"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest"),
    ("me/app", "docker.io/me/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
    ("registry.local:5000/team/app@" + DIGEST, "registry.local:5000/team/app@" + DIGEST),
    ("app:1@" + DIGEST, "docker.io/library/app:1@" + DIGEST),
    ("ghcr.io/a/b/c.d_e-f:tag.1-x", "ghcr.io/a/b/c.d_e-f:tag.1-x"),
    ("[::1]:5000/app", "[::1]:5000/app:latest"),
])
def test_normalise(ref: str, want: str) -> None:
    assert str(parse(ref)) == want


@pytest.mark.parametrize(("ref", "message"), [
    ("", "invalid reference format: ''"),
    ("Busybox", "invalid reference format: 'Busybox': repository name must be lowercase"),
    ("bb:", "invalid reference format: 'bb:': bad tag ''"),
    ("bb:-x", "invalid reference format: 'bb:-x': bad tag '-x'"),
    ("bb@sha256:abc", "invalid reference format: 'bb@sha256:abc': bad digest 'sha256:abc'"),
    ("a//b", "invalid reference format: 'a//b'"),
    (" bb", "invalid reference format: ' bb'"),
    ("bb_", "invalid reference format: 'bb_'"),
    ("x" * 256, f"invalid reference format: '{'x' * 256}': repository name too long"),
])
def test_invalid(ref: str, message: str) -> None:
    with pytest.raises(ImageError) as e:
        parse(ref)
    assert e.value.message == message


def test_familiar_and_registry() -> None:
    r = parse("busybox")
    assert (r.familiar(), r.registry, r.ref_in_repo) == ("busybox:latest",
                                                         "registry-1.docker.io", "latest")
    r = parse("localhost:5000/x@" + DIGEST)
    assert (r.familiar(), r.registry, r.tag, r.ref_in_repo) == (
        "localhost:5000/x@" + DIGEST, "localhost:5000", None, DIGEST)


alnum = st.text("abcz019", min_size=1, max_size=4)
component = st.builds(lambda a, sep, b: a + sep + b if sep is not None else a, alnum,
                      st.sampled_from([None, ".", "_", "__", "-", "--"]), alnum)
# a first component with a "." or ":" is a registry host (as in Docker): keep them out of it
first = st.builds(lambda a, sep, b: a + sep + b if sep is not None else a, alnum,
                  st.sampled_from([None, "_", "-"]), alnum)
domain = st.one_of(st.just(""), st.sampled_from(["localhost", "ex.com", "r.io:5000",
                                                 "127.0.0.1:80"]))
tag = st.one_of(st.none(), st.builds(lambda a, b: a + b, st.text("aZ09_", min_size=1, max_size=2),
                                     st.text("aZ09_.-", max_size=8)))


@settings(max_examples=150)
@given(domain, first, st.lists(component, max_size=2), tag)
def test_round_trip(dom: str, head: str, path: list[str], t: str | None) -> None:
    text = "/".join(([dom] if dom else []) + [head, *path]) + (f":{t}" if t else "")
    r = parse(text)
    assert isinstance(r, Reference)
    assert parse(str(r)) == r
    assert parse(r.familiar()) == r
    assert r.tag == (t or "latest")


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_garbage_is_an_image_error(text: str) -> None:
    try:
        r = parse(text)
    except ImageError:
        return
    assert parse(str(r)) == r
