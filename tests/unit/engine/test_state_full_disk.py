"""The intent log and the shim's json log on a disk that fills up (issue 15, item 4): a failed
write is a clear StateWriteError and leaves no temporary file; forgetting a container never
fails a removal; `remove` takes dead writers' temporary files along; a log record that does
not fit is dropped whole (counted), never written in half."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pystack.orchestrator.engine import state as S
from pystack.orchestrator.engine.state import ContainerRecord, StateStore, StateWriteError
from pystack.runtime import logs


def _enospc(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_write_is_a_clear_error_and_leaves_no_tmp(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    st = StateStore(tmp_path)
    st.update("p", working_dir="/w")
    monkeypatch.setattr(S.os, "replace", _enospc)
    with pytest.raises(StateWriteError) as e:
        st.update("p", working_dir="/x")
    assert e.value.message == f"cannot write {st.path('p')}: No space left on device"
    assert e.value.hint is not None and "free space" in e.value.hint
    assert sorted(os.listdir(tmp_path / "projects" / "p")) == ["state.json"]
    assert st.load("p").working_dir == "/w"          # the old file, whole


def test_drop_container_never_fails_and_remove_takes_tmp_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = StateStore(tmp_path)
    st.add_container("p", ContainerRecord(id="a" * 64, name="p-x-1", service="x", number=1))
    with monkeypatch.context() as m:
        m.setattr(S.os, "replace", _enospc)
        st.drop_container("p", "a" * 64)             # kept: a harmless ghost
    assert [c.id for c in st.load("p").containers] == ["a" * 64]
    d = tmp_path / "projects" / "p"
    (d / ".state.json.999999.1.tmp").write_text("{")  # a writer killed before its rename
    st.remove("p")
    assert not d.exists()


def test_log_record_that_does_not_fit_is_dropped_whole(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c-json.log"
    w = logs.LogWriter(path)
    w.write("stdout", b"first\n")
    real = os.write

    def half(fd: int, data: bytes) -> int:
        return real(fd, data[: len(data) // 2])

    monkeypatch.setattr(logs.os, "write", half)
    w.write("stdout", b"second\n")
    monkeypatch.setattr(logs.os, "write", _enospc)
    w.write("stdout", b"third\n")
    monkeypatch.setattr(logs.os, "write", real)
    w.write("stdout", b"fourth\n")
    w.close()
    assert w.dropped == 2
    assert [json.loads(x)["log"] for x in path.read_text().splitlines()] == ["first\n",
                                                                             "fourth\n"]
