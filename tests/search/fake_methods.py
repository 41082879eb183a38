"""Search methods for testing the runner's mechanics (workers, stopping, dying workers).

They return real, verified schemes: the naive one (rank nmp) as "best" and Strassen when
the seed is the winning one.
"""

from __future__ import annotations

import os
import time

from fastmm.reference import strassen
from fastmm.scheme import naive_scheme
from fastmm.search.base import Progress, SearchOutcome

WINNING_SEED = 3


def seed_three_wins(task, report, should_stop) -> SearchOutcome:
    """Seed 3 finds Strassen after 0.3 s; every other seed walks until stopped."""
    start = time.monotonic()
    steps = 0
    while not should_stop():
        steps += 1
        report(Progress(rank=8, steps=steps, elapsed=time.monotonic() - start))
        if task.seed == WINNING_SEED and time.monotonic() - start > 0.3:
            return SearchOutcome(strassen(), steps=steps)
        time.sleep(0.01)
    return SearchOutcome(None, best=naive_scheme(2, 2, 2), steps=steps, stopped="stopped")


def seed_one_dies(task, report, should_stop) -> SearchOutcome:
    """Seed 1 kills its process; the others find nothing until the time limit."""
    if task.seed == 1:
        os._exit(9)
    while not should_stop():
        time.sleep(0.01)
    return SearchOutcome(None, best=naive_scheme(2, 2, 2), stopped="time")


def refuses_seed_one(task, report, should_stop) -> SearchOutcome:
    """Seed 1 refuses its request (as a method refuses a bad option); the others wait."""
    from fastmm.errors import InputError

    if task.seed == 1:
        raise InputError("fake option x must be a number, got 'y'")
    while not should_stop():
        time.sleep(0.01)
    return SearchOutcome(None, best=naive_scheme(2, 2, 2), stopped="stopped")
