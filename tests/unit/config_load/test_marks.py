"""marks.py: the problem line format and mark lookups."""

from __future__ import annotations

from pystack.orchestrator.config.marks import Mark, Marks, format_path, problem


def test_format_path() -> None:
    assert format_path(("services", "web", "ports", 1)) == "services.web.ports[1]"
    assert format_path(("include", 0, "path")) == "include[0].path"
    assert format_path(()) == ""


def test_problem_line_format() -> None:
    m = Mark("compose.yaml", 3, 7)
    assert problem(m, ("services", "web"), "bad", "fix it") == \
        "compose.yaml:3:7: services.web: bad (fix it)"
    assert problem(None, ("services",), "bad") == "services: bad"
    assert problem(m, (), "bad") == "compose.yaml:3:7: bad"


def test_nearest_walks_up_to_an_ancestor() -> None:
    marks = Marks()
    marks.set(("services",), Mark("f", 1, 1), Mark("f", 2, 3))
    marks.set(("services", "web"), Mark("f", 2, 3), None)
    assert marks.nearest(("services", "web", "ports", 0)) == Mark("f", 2, 3)
    assert marks.value(("services",)) == Mark("f", 2, 3)
    assert marks.key(("services", "web")) == Mark("f", 2, 3)
    assert marks.value(("nope",)) is None
    assert marks.nearest(("nope",)) is None
