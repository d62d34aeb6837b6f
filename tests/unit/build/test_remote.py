"""ADD's remote sources: which sources are git or http (BuildKit's rules), the file name a
URL gets, --checksum values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.runtime.build.errors import BuildError
from pystack.runtime.build.remote import is_git, is_http, parse_checksum, url_filename


@pytest.mark.parametrize(("src", "git", "http"), [
    ("https://github.com/o/r.git", True, False), ("https://h/o/r.git#main:sub", True, False),
    ("git@github.com:o/r.git", True, False), ("git://h/r", True, False),
    ("ssh://git@h/r", True, False), ("github.com/o/r", False, False),
    ("https://h/file.tar.gz", False, True), ("http://h/a.git.txt", False, True),
    ("http://h/x?name=a.git", False, True), ("./a.git", False, False), ("src/", False, False),
])
def test_kinds(src: str, git: bool, http: bool) -> None:
    assert (is_git(src), is_http(src)) == (git, http)


@pytest.mark.parametrize(("url", "name"), [
    ("http://h/a/b.tgz", "b.tgz"), ("http://h/a/b/", "b"), ("http://h/", "__unnamed__"),
    ("http://h", "__unnamed__"), ("http://h/%41.txt?x=1#f", "A.txt"), ("http://h/..", "__unnamed__"),
])
def test_url_filename(url: str, name: str) -> None:
    assert url_filename(url) == name


def test_checksum() -> None:
    assert parse_checksum("sha256:" + "A" * 64) == "sha256:" + "a" * 64
    for bad in ("sha256:abc", "md5:" + "0" * 32, "0" * 64, "sha512:" + "0" * 64):
        with pytest.raises(BuildError):
            parse_checksum(bad)


@given(st.text(max_size=40))
def test_never_crash(text: str) -> None:
    is_git(text)
    is_http(text)
    name = url_filename("http://h/" + text)
    assert "/" not in name and name not in ("", ".", "..")
