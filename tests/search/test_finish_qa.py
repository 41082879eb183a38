"""`fastmm finish` and fastmm.search.exactify as QA found them: time limits that hold even
when one SVD takes longer than the whole limit, stop requests and signals honoured while
finishing (in `finish` and inside `search --method als`), and failure messages that say how
many points were tried."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm.errors import SearchFailed, SearchInterrupted
from fastmm.search import exactify
from fastmm.search.base import SearchTask
from fastmm.search.exactify import FinishReport, finish_point, load_points
from fastmm.search.runner import run_job

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, str(ROOT / "cli.py")]
FITTED_245 = ROOT / "results" / "numerical_points" / "2x4x5-r32-fitted.json"


@pytest.fixture(scope="module")
def point_245():
    return load_points(FITTED_245)[0]


@pytest.fixture
def count_null_spaces(monkeypatch):
    calls: list[tuple[int, int]] = []
    real = exactify.null_space

    def null_space(jac, *args, **kwargs):
        calls.append(jac.shape)
        return real(jac, *args, **kwargs)

    monkeypatch.setattr(exactify, "null_space", null_space)
    return calls


@pytest.fixture
def blocked_null_space(monkeypatch):
    """An SVD that runs until the test ends (a long LAPACK call the deadline cannot interrupt)."""
    release = threading.Event()

    def null_space(jac, *args, **kwargs):
        release.wait(60)
        return np.zeros((jac.shape[1], 0))

    monkeypatch.setattr(exactify, "null_space", null_space)
    monkeypatch.setitem(exactify._RATES, (time.monotonic, "svd"), 1e-15)  # estimated as instant
    yield
    release.set()


def test_an_svd_that_cannot_end_before_the_deadline_is_not_started(monkeypatch, point_245,
                                                                    count_null_spaces):
    # this machine, as timed: SVDs at the slowest rate allowed; the first null space of the
    # ⟨2,4,5;32⟩ point (a 1600×1216 Jacobian, fewer columns once the integers are fixed) then
    # takes over 10 s, more than the 5 s given
    monkeypatch.setitem(exactify._RATES, (time.monotonic, "svd"), exactify.SLOWEST["svd"])
    report = FinishReport()
    t0 = time.monotonic()
    assert finish_point(point_245, "Q", time_limit=5, report=report) is None
    assert time.monotonic() - t0 < 5
    assert count_null_spaces == []
    assert report.stopped == "the time limit" and report.frames == 1 and report.isolated == 0
    assert report.detail.startswith("the next SVD, of a 1600×")
    assert " matrix, was estimated to take about " in report.detail and " s were left" in report.detail


def test_a_factorisation_still_running_at_the_deadline_is_abandoned(point_245, blocked_null_space):
    report = FinishReport()
    t0 = time.monotonic()
    assert finish_point(point_245, "Q", time_limit=2, report=report) is None
    assert 2 <= time.monotonic() - t0 < 4
    assert report.stopped == "the time limit"
    assert report.detail.startswith("the SVD of a 1600×") and report.detail.endswith(
        "matrix was still running; it was abandoned")


def test_a_stop_request_ends_the_finishing_before_and_during_a_factorisation(point_245,
                                                                            blocked_null_space):
    report = FinishReport()
    assert finish_point(point_245, "Q", time_limit=60, report=report, stop=lambda: True) is None
    assert report.stopped == "a stop request" and report.frames == 0
    t0 = time.monotonic()
    report = FinishReport()
    assert finish_point(point_245, "Q", time_limit=60, report=report,
                        stop=lambda: time.monotonic() > t0 + 1) is None
    assert time.monotonic() - t0 < 3
    assert report.stopped == "a stop request" and report.frames == 1


def test_the_numerical_search_stops_within_seconds_of_a_stop_request_while_finishing(monkeypatch):
    """The QA case: an ALS search over Q whose fits go to exactify; a stop (SIGTERM) there was
    ignored until the time limit, 40 s later."""
    real = exactify.finish_point
    entered: list[float] = []

    def spy(*args, **kwargs):
        entered.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(exactify, "finish_point", spy)
    task = SearchTask(2, 3, 3, rank=15, ring="Q", seed=1, time_limit=45,
                      options={"polish_steps": 0, "newton_steps": 0, "fit_tol": 1e-3})
    outcome = run_job(task, "als", lambda: bool(entered) and time.monotonic() > entered[0] + 0.5,
                      lambda progress: None)
    assert entered and outcome.scheme is None
    assert time.monotonic() - (entered[0] + 0.5) < 3


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_finish_ends_on_a_signal_with_its_exit_code(tmp_path, signum, code):
    proc = subprocess.Popen([*CLI, "finish", str(FITTED_245), "--time-limit", "120", "-o",
                             str(tmp_path / "s.json")], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline() == "point 1 of 12: ⟨2,4,5;32⟩\n"
        time.sleep(1)
        sent = time.monotonic()
        proc.send_signal(signum)
        rest = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code
    assert time.monotonic() - sent < 5
    assert rest.splitlines()[-1] == "interrupted" and "Traceback" not in rest
    assert not (tmp_path / "s.json").exists()


def test_a_failure_says_how_many_points_were_tried_before_the_time_limit():
    with pytest.raises(SearchFailed) as info:
        fastmm.finish(FITTED_245, time_limit=3, sympy=False)
    assert str(info.value).startswith(f"no exact scheme from 1 of 12 point(s) of {FITTED_245} before "
                                      "the time limit (3 s)")
    with pytest.raises(SearchInterrupted) as info:
        fastmm.finish(FITTED_245, stop=lambda: True)
    assert str(info.value).startswith(f"no exact scheme from 0 of 12 point(s) of {FITTED_245} before "
                                      "the interrupt (0 frame orders tried")
