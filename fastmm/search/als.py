"""`--method als`: regularised alternating least squares over a batch of restarts (Smirnov 2013).

Each factor of every restart is solved exactly given the other two (Levenberg–Marquardt
damped), a growing pull moves fitted restarts to the rounding grid, and rounded points are
finished exactly over Q and verified; see fastmm.search.numerical. Rings ZT, Z, Q and Z2
(Q: coefficients that are multiples of 1/2, 1/4, … — the ring label is Q only when one is not
an integer). Needs PyTorch.
"""

from __future__ import annotations

from fastmm.search.base import Reporter, SearchOutcome, SearchTask, StopFlag
from fastmm.search.numerical import run_numerical


def run(task: SearchTask, report: Reporter, should_stop: StopFlag) -> SearchOutcome:
    return run_numerical(task, report, should_stop, "als", {"optimizer": "als"})
