"""Time limits every backend obeys, and the watchdog behind them.

A time limit covers a whole solve: compiling, handing the model over and solving.
Each backend gives its solver what is left, in the form that solver obeys (HiGHS
`time_limit`, SCIP `limits/time`, CP-SAT `max_time_in_seconds`), and runs it under a
`Watchdog`: should the solver overrun its own limit (a long subsolver call, a clock
checked too rarely), the watchdog asks it to stop from another thread, and the solver
returns with the best point it has. That needs a solver call that releases the GIL
while it runs, which every backend here uses.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Self

from nl2opt.errors import Nl2OptError

# A solve that starts after its deadline (a slow build) still gets this long, so an
# easy model still gets an answer instead of an immediate "time limit, no point".
MIN_SOLVER_SECONDS = 0.5


def watchdog_grace(seconds: float) -> float:
    """How long after the solver's own limit the watchdog steps in: a solver stopping by
    itself (with its own, better bookkeeping) is preferred."""
    return 1.0 + 0.1 * seconds


def checked_time_limit(seconds: float | None) -> float | None:
    """A usable time limit: None (or +inf) means none; NaN, zero or negative is refused."""
    if seconds is None or seconds == math.inf:
        return None
    if not seconds > 0:  # also catches NaN
        raise Nl2OptError(f"the time limit must be a positive number of seconds, not "
                          f"{seconds!r}; leave it out for no limit")
    return float(seconds)


def remaining_seconds(limit: float | None, started: float | None) -> float | None:
    """What is left of `limit` seconds since `started` (time.monotonic()), at least
    MIN_SOLVER_SECONDS; None without a limit."""
    if limit is None:
        return None
    spent = 0.0 if started is None else time.monotonic() - started
    return max(limit - spent, MIN_SOLVER_SECONDS)


class Watchdog:
    """Calls `stop()` from a timer thread if the `with` block runs longer than `seconds`
    (None: never). `fired` tells afterwards whether it did."""

    def __init__(self, seconds: float | None, stop: Callable[[], object]) -> None:
        self.seconds = seconds
        self.stop = stop
        self.fired = False
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Self:
        if self.seconds is not None:
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()

    def _fire(self) -> None:
        self.fired = True
        try:
            self.stop()
        except Exception:  # noqa: BLE001, S110 - the solve ended meanwhile: nothing to stop
            pass
