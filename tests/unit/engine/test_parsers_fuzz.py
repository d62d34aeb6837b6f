"""The engine's small parsers never fail with anything but our errors (hypothesis)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pystack.orchestrator.engine.oneoff import _publish
from pystack.orchestrator.engine.query import log_time
from pystack.orchestrator.errors import OrchestratorError

TEXT = st.text(alphabet="0123456789:./-hmsTZtcpud abc", max_size=24)


@settings(max_examples=150, deadline=None)
@given(TEXT)
@example("9" * 24)
@example("99999999999h")
@example("0001-01-01T00:00:00+05:00")
def test_log_time_only_our_error(value: str) -> None:
    try:
        out = log_time(value)
    except OrchestratorError:
        return
    assert out is None or out.endswith("Z")


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_publish_only_value_error(value: str) -> None:
    try:
        p = _publish(value)
    except ValueError:
        return          # create_oneoff turns it into "invalid --publish value"
    assert isinstance(p.target, int)
