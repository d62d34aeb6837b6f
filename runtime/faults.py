"""Fault injection for the crash tests: with PYSTACK_CRASH_AT=POINT[,POINT...] in its
environment, a process kills itself with SIGKILL when it reaches one of those named points
(PYSTACK_HANG_AT: stops itself with SIGSTOP there).

The fault tests use it to kill the CLI (or a shim, which inherits the CLI's environment through
the zygote) at exact places, e.g. between recording a container and creating it, instead of
only at random moments.  Without the variable (always, outside those tests) a point is one
environment lookup."""

from __future__ import annotations

import os
import signal


def point(name: str) -> None:
    """Die here, now, as a SIGKILL would kill us, if the tests asked for it (or, with
    PYSTACK_HANG_AT, stop here with SIGSTOP: a process that is alive but stuck)."""
    for var, sig in (("PYSTACK_CRASH_AT", signal.SIGKILL), ("PYSTACK_HANG_AT", signal.SIGSTOP)):
        want = os.environ.get(var)
        if want and name in want.split(","):
            os.kill(os.getpid(), sig)
