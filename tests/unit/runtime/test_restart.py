"""Docker's restart policy rules and backoff (runtime/restart.py), without a container."""

from __future__ import annotations

from pystack.runtime.restart import BACKOFF_MAX, next_delay, should_restart
from pystack.runtime.spec import RestartPolicy


def test_policies() -> None:
    no, always = RestartPolicy("no"), RestartPolicy("always")
    unless, fail2 = RestartPolicy("unless-stopped"), RestartPolicy("on-failure", 2)
    fail = RestartPolicy("on-failure")
    assert not should_restart(no, 1, 0, False)
    assert should_restart(always, 0, 99, False) and should_restart(unless, 0, 99, False)
    assert not should_restart(always, 1, 0, True)           # a user stop/kill wins
    assert not should_restart(fail2, 0, 0, False)           # success: done
    assert should_restart(fail2, 2, 0, False) and should_restart(fail2, 2, 1, False)
    assert not should_restart(fail2, 2, 2, False)           # retries used up
    assert should_restart(fail, 1, 1000, False)             # no limit


def test_backoff_doubles_caps_and_resets() -> None:
    b, delays = 0.1, []
    for _ in range(12):
        d, b = next_delay(b, ran=0.5)
        delays.append(d)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert max(delays) == BACKOFF_MAX and delays[-1] == BACKOFF_MAX
    d, b = next_delay(b, ran=10.0)                          # a long run resets it
    assert (d, b) == (0.1, 0.2)
