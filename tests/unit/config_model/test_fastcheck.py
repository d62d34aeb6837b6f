"""The fast yes/no schema check agrees with jsonschema (the explaining validator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pystack.orchestrator.config import schema_check
from pystack.orchestrator.config.fastcheck import UnsupportedSchema, compile_schema
from tests.unit.config_model.test_fuzz import NASTY_SERVICE, PROJECT, TYPED_PROJECT

CASES = Path(__file__).resolve().parents[2] / "conformance" / "cases"


def _agree(data: Any) -> None:
    fast = schema_check.fast_validator()
    assert fast is not None
    assert fast(data) == schema_check.validator().is_valid(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(PROJECT, TYPED_PROJECT,
                 st.fixed_dictionaries({"services": st.fixed_dictionaries(
                     {"web": NASTY_SERVICE})})))
def test_agrees_with_jsonschema(data: dict[str, Any]) -> None:
    _agree(data)


def _string_keys(node: Any) -> bool:
    if isinstance(node, dict):
        return all(isinstance(k, str) and _string_keys(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_string_keys(v) for v in node)
    return True


def test_agrees_on_the_corpus() -> None:
    seen = 0
    for path in sorted(CASES.rglob("*.y*ml")):
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        if not _string_keys(doc):
            continue        # PyYAML's YAML 1.1 keys (on: -> True); the loader rejects those
        _agree(doc)
        seen += 1
    assert seen > 40


def test_keywords_beyond_it_are_refused() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_schema({"type": "object", "not": {"required": ["a"]}})


def test_json_equality_rules() -> None:
    check = compile_schema({"enum": [1, "a"], "uniqueItems": True})
    assert check(1) and check(1.0) and check("a")
    assert not check(True)
    unique = compile_schema({"type": "array", "uniqueItems": True})
    assert unique([1, True]) and not unique([1, 1.0])
