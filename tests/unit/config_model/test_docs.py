"""docs/compose-keys.md lists every key of the schema, and its "warned" rows are exactly
model.UNSUPPORTED."""

from __future__ import annotations

import re
from pathlib import Path

from pystack.orchestrator.config import model, schema_check

DOC = Path(__file__).resolve().parents[3] / "docs" / "compose-keys.md"


def test_every_key_listed_with_the_right_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z_0-9-]+)` \| (\w+) \|", DOC.read_text(), re.M))
    schema = schema_check.schema()
    for key in schema["$defs"]["service"]["properties"]:
        assert key in rows, key
    for key in schema["properties"]:
        assert key in rows, key
    warned = {k for k, status in rows.items() if status == "warned"}
    assert warned == set(model.UNSUPPORTED_SERVICE_KEYS) | set(model.UNSUPPORTED_TOP_KEYS)
