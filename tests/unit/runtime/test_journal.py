"""runtime/journal.py: records read back in order, a reader that starts now sees only what
comes, `since` replays, a half-written last line waits for its end, rotation loses nothing
for a follower, and any line parses or is skipped (fuzzed)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.runtime import journal


def test_record_and_replay(tmp_path: Path) -> None:
    journal.record(tmp_path, "a" * 64, "create", "p-web-1", {"tier": "front"})
    journal.record(tmp_path, "a" * 64, "die", "p-web-1", {}, exitCode=3)
    evs = list(journal.read(tmp_path, since_ns=0))
    assert [(e.action, e.attributes) for e in evs] == [("create", {}),
                                                       ("die", {"exitCode": "3"})]
    assert evs[0].labels == {"tier": "front"} and evs[0].name == "p-web-1"
    assert os.stat(journal.journal_path(tmp_path)).st_mode & 0o777 == 0o600
    assert list(journal.read(tmp_path)) == []           # from now on: nothing yet


def test_follow_sees_new_events_and_waits_for_whole_lines(tmp_path: Path) -> None:
    journal.record(tmp_path, "b" * 64, "old", "x")
    path = journal.journal_path(tmp_path)
    with open(path, "ab") as f:            # a writer half-way through its line
        f.write(b'{"t": 1, "id": "c", "a": "half')
        f.flush()
        got: list[str] = []

        def follow() -> None:
            for ev in journal.read(tmp_path, since_ns=0, follow=True):
                got.append(ev.action)
                if ev.action == "last":
                    return

        t = threading.Thread(target=follow, daemon=True)
        t.start()
        f.write(b'way", "n": "", "l": {}, "x": {}}\n')
    journal.record(tmp_path, "b" * 64, "last", "x")
    t.join(30)
    assert not t.is_alive()
    assert got == ["old", "halfway", "last"]
    assert list(journal.read(tmp_path)) == []     # a reader from now on skips them all


def test_rotation_keeps_what_a_follower_has_not_read(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    line = len(b'{"t":1,"id":"","a":"e0","n":"","l":{},"x":{}}\n') + 64 + 18
    monkeypatch.setattr(journal, "MAX_BYTES", 2 * line + line // 2)     # rotates at the 3rd
    reader = journal.read(tmp_path, since_ns=0, follow=True)
    journal.record(tmp_path, "d" * 64, "e0")
    assert next(reader).action == "e0"          # the reader holds the first file open
    for i in range(1, 5):
        journal.record(tmp_path, "d" * 64, f"e{i}")
    assert (tmp_path / (journal.NAME + ".1")).exists()
    assert [next(reader).action for _ in range(4)] == ["e1", "e2", "e3", "e4"]
    reader.close()


@given(st.binary(max_size=300))
def test_any_line_parses_or_is_skipped(line: bytes) -> None:
    ev = journal.parse(line)
    assert ev is None or isinstance(ev.action, str)
