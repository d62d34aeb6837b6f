"""COPY --chmod modes: octal and symbolic, checked against chmod(1) run on a real file (with
umask 0, as BuildKit applies them) for the forms where GNU and BSD setmode agree (files without
special bits, no X, no t: BSD keeps set-id bits on `=u` where GNU clears them)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pystack.runtime.build.chmod import parse
from pystack.runtime.build.errors import BuildError


@pytest.mark.parametrize(("text", "mode", "is_dir", "want"), [
    ("0755", 0o600, False, 0o755), ("755", 0o600, False, 0o755), ("7", 0o600, False, 0o7),
    ("u+x,g-w", 0o664, False, 0o744), ("a=rX", 0o600, True, 0o555),
    ("a=rX", 0o600, False, 0o444), ("a=rX", 0o700, False, 0o555), ("go=u", 0o750, False, 0o777),
    ("u+s,+t", 0o755, False, 0o5755), ("o+s", 0o755, False, 0o755),
    ("=r", 0o1755, False, 0o1444), ("g+u-w", 0o700, False, 0o750), ("+", 0o640, False, 0o640),
    ("u=rwx,g=rx,o=", 0o777, False, 0o750), ("+rt", 0o600, False, 0o1600),
])
def test_modes(text: str, mode: int, is_dir: bool, want: int) -> None:
    assert parse(text).apply(mode, is_dir) == want


@pytest.mark.parametrize("text", ["", "9", "08", "10000", "u", "u+q", "a=rwx,", "ux", "g=ux",
                                  "u+x,,g+w", "-0"])
def test_bad_modes(text: str) -> None:
    with pytest.raises(BuildError) as e:
        parse(text)
    assert "invalid chmod parameter" in e.value.message


_who = st.text("ugoa", max_size=3)
_perm = st.one_of(st.text("rwxs", max_size=4), st.sampled_from("ugo"))
_clause = st.builds(lambda w, acts: w + "".join(o + p for o, p in acts), _who,
                    st.lists(st.tuples(st.sampled_from("+-="), _perm), min_size=1,
                             max_size=3))


@pytest.mark.skipif(shutil.which("chmod") is None, reason="no chmod(1)")
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clauses=st.lists(_clause, min_size=1, max_size=3), mode=st.integers(0, 0o777))
def test_symbolic_matches_chmod(tmp_path: Path, clauses: list[str], mode: int) -> None:
    text = ",".join(clauses)
    assume(not (re.search("=[ugo]", text) and "s" in text))       # set-id bits: BSD != GNU
    f = tmp_path / "f"
    f.touch()
    os.chmod(f, mode)
    r = subprocess.run(["chmod", text, str(f)], capture_output=True, umask=0)
    if r.returncode != 0:
        return
    assert parse(text).apply(mode, False) == stat.S_IMODE(os.stat(f).st_mode), text


@given(st.text(max_size=20), st.integers(0, 0o7777), st.booleans())
def test_parse_never_crashes(text: str, mode: int, is_dir: bool) -> None:
    try:
        spec = parse(text)
    except BuildError:
        return
    assert 0 <= spec.apply(mode, is_dir) <= 0o7777
