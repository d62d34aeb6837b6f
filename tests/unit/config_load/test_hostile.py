"""Hostile and odd stack files (issue 15 item 5): no hang, no traceback, a FILE:LINE:COL where
there is a place to point at, and nothing slower than the work the file really asks for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pystack.orchestrator.config import readfile
from pystack.orchestrator.config.yamlread import YamlProblems, read_documents
from tests.unit.config_load.conftest import load_ok, problems, write


def _cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # A child process with a timeout: a regression that blocks fails the test, not the run.
    code = "from pystack.orchestrator.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60, input=stdin,
                          env={**os.environ, "PYSTACK_ROOT": str(cwd / "root")})


def test_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    r = _cli("-f", "pipe.yaml", "config", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "pipe.yaml: not a regular file" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "root").exists()          # nothing created on the host


def test_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    r = _cli("-f", "/dev/zero", "config", cwd=tmp_path)
    assert r.returncode == 3 and "/dev/zero: not a regular file" in r.stderr
    assert "Traceback" not in r.stderr


def test_size_limit_has_a_clear_message(proj: Path) -> None:
    with open(proj / "big.yaml", "wb") as f:
        f.write(b"# " + b"x" * (readfile.MAX_BYTES + 10) + b"\n")
    assert problems("big.yaml") == [
        f"big.yaml: larger than {readfile.MAX_BYTES >> 20} MiB, the limit for a compose file "
        "(check that this is the right file)"]


def test_stdin_has_the_same_limit(tmp_path: Path) -> None:
    r = _cli("-f", "-", "config", cwd=tmp_path, stdin="#" * (readfile.MAX_BYTES + 1))
    assert r.returncode == 3 and f"-: larger than {readfile.MAX_BYTES >> 20} MiB" in r.stderr


def test_bad_utf8_points_at_the_byte(proj: Path) -> None:
    (proj / "compose.yaml").write_bytes(b"services:\n  a:\n    image: x\xff\n")
    assert problems("compose.yaml") == [
        "compose.yaml:3:13: not UTF-8 text (byte 0xff; save the file as UTF-8)"]


def test_bad_utf8_in_an_env_file_points_at_the_byte(proj: Path) -> None:
    write(proj, {"compose.yaml": "services: {a: {image: x}}\n"})
    (proj / ".env").write_bytes(b"A=1\nB=\xc3(\n")
    assert problems("compose.yaml") == [
        ".env:2:3: not UTF-8 text (byte 0xc3; save the file as UTF-8)"]


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\ufffe"])
def test_control_characters_point_at_their_line(char: str) -> None:
    text = f"services:\n  a:\n    image: x\n    labels: {{a: b{char}}}\n"
    with pytest.raises(YamlProblems) as e:
        read_documents(text, "c.yaml")
    (line,) = e.value.problems
    assert line.startswith("c.yaml:4:18: invalid YAML: ") and f"U+{ord(char):04X}" in line


def test_deep_nesting_has_a_position_and_no_recursion_error() -> None:
    text = "services: {a: {image: x}}\nx-deep: " + "[" * 300 + "]" * 300 + "\n"
    with pytest.raises(YamlProblems) as e:
        read_documents(text, "d.yaml")
    assert e.value.problems == [
        "d.yaml:2:208: x-deep[0][0][0]: nested more than 200 levels deep (a compose file "
        "needs only a few levels)"]


def test_excessive_aliasing_points_at_the_alias() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    with pytest.raises(YamlProblems) as e:
        read_documents("\n".join(lines) + "\n", "bomb.yaml")
    assert e.value.problems[0].startswith("bomb.yaml:6:")
    assert "document contains excessive aliasing" in e.value.problems[0]


def test_a_big_scalar_aliased_many_times_is_cheap(proj: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 KB x 5,000 = 100 MB once expanded: interpolated once, printed once per position.
    from pystack.orchestrator.config import interpolate, output

    calls = []
    real = interpolate.substitute

    def counting(value: str, lookup: interpolate.Lookup) -> str:
        calls.append(len(value))
        return real(value, lookup)

    big = "a$${X}b " * 2500
    lines = [f"x-big: &big '{big}'", "services:", "  web:", "    image: busybox",
             "    labels:", *(f"      L{i}: *big" for i in range(5000))]
    write(proj, {"compose.yaml": "\n".join(lines) + "\n"})
    monkeypatch.setattr(interpolate, "substitute", counting)
    from pystack.orchestrator.cli.main import GlobalOptions
    from pystack.orchestrator.config.project import load_project

    started = time.monotonic()
    project = load_project(GlobalOptions(files=("compose.yaml",), environ={}))
    text = output.render(project, "yaml")
    took = time.monotonic() - started
    assert calls.count(len(big)) == 1        # the alias is substituted once, not 5,000 times
    assert project.services["web"].labels["L4999"] == big.replace("$$", "$")
    assert len(text) > 100_000_000
    assert took < 20, f"{took:.1f} s"         # was 28 s for the printing alone


def test_thousands_of_ports_are_checked_in_linear_time(proj: Path) -> None:
    ports = "\n".join(f"      - {{target: {i + 1}, published: '{i + 10000}'}}"
                      for i in range(8000))
    write(proj, {"compose.yaml": f"services:\n  web:\n    image: x\n    ports:\n{ports}\n"})
    from pystack.orchestrator.config import schema_check

    raw = load_ok("compose.yaml")
    started = time.monotonic()
    assert schema_check.validate(raw.data, raw.marks) == []
    raw.data["services"]["web"]["bogus"] = 1           # the jsonschema path explains errors
    assert len(schema_check.validate(raw.data, raw.marks)) == 1
    assert time.monotonic() - started < 10            # was 101 s (pairwise comparison)


def test_duplicate_items_are_still_found() -> None:
    from pystack.orchestrator.config.fastcheck import unique

    assert unique([1, True, "1", [1], {"a": 1}, {"a": True}])
    assert not unique([{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}])
    assert not unique([1, 1.0]) and unique([0, False])


def test_deeply_nested_variable_defaults_have_a_position(proj: Path) -> None:
    nested = "${X:-" * 3000 + "v" + "}" * 3000
    write(proj, {"compose.yaml": f"services:\n  a:\n    image: x\n    labels:\n"
                                 f"      a: \"{nested}\"\n      b: \"{'${' * 5000}\"\n"})
    a, b = problems("compose.yaml")
    assert a == ("compose.yaml:5:10: services.a.labels.a: variable defaults are nested too "
                 "deeply (at most a few hundred levels)")
    assert b.startswith("compose.yaml:6:10: services.a.labels.b: invalid interpolation format ")
    assert len(b) < 400
