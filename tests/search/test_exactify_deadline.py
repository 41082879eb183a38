"""fastmm.search.exactify honours its deadline: no repair step or null space starts after it.

The clock is a fake that advances one second per Jacobian (the unit of work of a repair step and
of a null space), so the tests count work exactly instead of timing a loaded machine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fastmm.search import exactify
from fastmm.search.exactify import Brent, finish_point, load_points

ROOT = Path(__file__).resolve().parents[2]
FITTED_245 = ROOT / "results" / "numerical_points" / "2x4x5-r32-fitted.json"


class Clock:
    """time.monotonic for exactify: `now` seconds; each Jacobian starts at `now`, then adds 1."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        self.jacobians: list[float] = []  # the time at which each Jacobian started
        real = Brent.jacobian

        def jacobian(brent, x):
            self.jacobians.append(self.now)
            self.now += 1.0
            return real(brent, x)

        monkeypatch.setattr(exactify, "time", SimpleNamespace(monotonic=lambda: self.now))
        monkeypatch.setattr(Brent, "jacobian", jacobian)


@pytest.fixture(scope="module")
def point_245():
    return load_points(FITTED_245)[0]


def test_finishing_a_245_point_starts_no_work_after_its_deadline(monkeypatch, point_245):
    clock = Clock(monkeypatch)
    assert finish_point(point_245, "Q", time_limit=2.5) is None
    # the null space at 0 s, repair steps at 1 s and 2 s; nothing at or after 2.5 s
    assert clock.jacobians == [0.0, 1.0, 2.0]


def test_a_repair_past_its_deadline_takes_no_step(monkeypatch, point_245):
    brent = Brent(point_245.shape, point_245.rank)
    x = np.concatenate([point_245.u.ravel(), point_245.v.ravel(), point_245.w.ravel()]) + 1e-3
    free = np.arange(x.size)
    clock = Clock(monkeypatch)
    clock.now = 10.0
    assert brent.repair(x, free, deadline=10.0) is None
    assert clock.jacobians == []
    repaired = brent.repair(x, free, deadline=20.0)  # the same point, given time, is repaired
    assert repaired is not None and 0 < len(clock.jacobians) < 10
    res = brent.residual(repaired)
    assert res @ res < 1e-24

