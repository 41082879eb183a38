"""`fastmm finish` and fastmm.search.exactify as QA found them: time limits that hold even
when one SVD takes longer than the whole limit, stop requests and signals honoured while
finishing (in `finish` and inside `search --method als`), failure messages that say how many
points were tried, impossible ranks and overflowing points refused before any work, and
points files told by their content rather than their name."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SearchFailed, SearchInterrupted
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
    """An SVD that runs until the test ends (a long LAPACK call nothing can interrupt); the
    fixture is the event set when it starts."""
    entered, release = threading.Event(), threading.Event()

    def null_space(jac, *args, **kwargs):
        entered.set()
        release.wait(60)
        return np.zeros((jac.shape[1], 0))

    monkeypatch.setattr(exactify, "null_space", null_space)
    monkeypatch.setitem(exactify._RATES, (time.monotonic, "svd"), 1e-15)  # estimated as instant
    yield entered
    release.set()


def test_an_svd_that_cannot_end_before_the_deadline_is_not_started(monkeypatch, point_245,
                                                                    count_null_spaces):
    # a machine timed at 1e-6 s per unit: the first null space of the ⟨2,4,5;32⟩ point (a
    # 1600×1216 Jacobian, fewer columns once the integers are fixed) would take over 1000 s
    monkeypatch.setitem(exactify.SLOWEST, "svd", 1e-6)
    monkeypatch.setitem(exactify._RATES, (time.monotonic, "svd"), 1e-6)
    report = FinishReport()
    t0 = time.monotonic()
    assert finish_point(point_245, "Q", time_limit=60, report=report) is None
    assert time.monotonic() - t0 < 30
    assert count_null_spaces == []
    assert report.stopped == "the time limit" and report.frames == 1 and report.isolated == 0
    assert report.detail.startswith("the next SVD, of a 1600×")
    assert " matrix, was estimated to take about " in report.detail and " s were left" in report.detail


def test_a_factorisation_still_running_at_the_deadline_is_abandoned(blocked_null_space):
    deadline = exactify.Deadline(time.monotonic() + 1)
    t0 = time.monotonic()
    jac = np.ones((1600, 1000))
    assert exactify.factorise("svd", *jac.shape, lambda: exactify.null_space(jac), deadline) is None
    assert blocked_null_space.is_set() and 1 <= time.monotonic() - t0 < 3
    assert deadline.stopped == "the time limit"
    assert deadline.detail == "the SVD of a 1600×1000 matrix was still running; it was abandoned"


def test_a_stop_request_ends_the_finishing_before_and_during_a_factorisation(point_245,
                                                                            blocked_null_space):
    report = FinishReport()
    assert finish_point(point_245, "Q", time_limit=60, report=report, stop=lambda: True) is None
    assert report.stopped == "a stop request" and report.frames == 0
    report = FinishReport()
    # the stop comes while the SVD runs (it would run for a minute): that SVD is abandoned
    assert finish_point(point_245, "Q", time_limit=60, report=report, stop=blocked_null_space.is_set) is None
    assert report.stopped == "a stop request" and report.frames == 1
    assert report.detail.endswith("matrix was still running; it was abandoned")


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
    # the stop comes as finishing starts: finish polishes such rough points first and may now end
    # within half a second (a later stop let it find the scheme on an idle machine)
    outcome = run_job(task, "als", lambda: bool(entered), lambda progress: None)
    assert entered and outcome.scheme is None
    assert time.monotonic() - entered[0] < 3


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_finish_ends_on_a_signal_with_its_exit_code(tmp_path, signum, code):
    proc = subprocess.Popen([*CLI, "finish", str(FITTED_245), "--time-limit", "120", "-o",
                             str(tmp_path / "s.json")], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline() == "point 1 of 12: ⟨2,4,5;32⟩\n"
        time.sleep(1)
        sent = time.monotonic()
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=30)  # a hang at exit fails here instead of blocking
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


def _points_file(path: Path, shape, rank: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n, m, p = shape
    doc = {"shape": list(shape), "points": [{"Wa": rng.normal(size=(rank, n * m)).tolist(),
                                             "Wb": rng.normal(size=(rank, m * p)).tolist(),
                                             "WcT": rng.normal(size=(rank, n * p)).tolist()}]}
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("shape, rank, message", [
    ((2, 2, 2), 6, "no ⟨2,2,2⟩ scheme of rank 6 exists: rank ≥ 7 is proven (Winograd 1971); nothing "
                   "was tried"),
    ((8, 8, 8), 1, "no ⟨8,8,8⟩ scheme of rank 1 exists: rank ≥ 64 is proven (flattening bound max(nm, "
                   "mp, np)); nothing was tried"),
])
def test_a_rank_below_a_proven_bound_is_refused_before_any_work(tmp_path, shape, rank, message):
    path = _points_file(tmp_path / "p.json", shape, rank)
    with pytest.raises(InputError) as info:
        fastmm.finish(path, time_limit=60)
    assert str(info.value) == f"{path}, point 1: {message}"
    proc = subprocess.run([*CLI, "finish", str(path), "--time-limit", "60"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr == f"error: {path}, point 1: {message}\n"


def _scheme_223(scale_u: float, scale_v: float, scale_w: float):
    s = fastmm.load(ROOT / "fastmm" / "data" / "catalog" / "2x2x3-rank11-ZT.json")
    return (np.array(s.Wa, dtype=float) * scale_u, np.array(s.Wb, dtype=float) * scale_v,
            np.array(s.Wc.T, dtype=float) * scale_w)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_coefficients_that_overflow_are_refused_in_one_line(tmp_path, suffix):
    u, v, w = _scheme_223(1e300, 1e300, 1e300)
    path = tmp_path / f"huge{suffix}"
    if suffix == ".npz":
        np.savez(path, u=u, v=v, w=w, shape=np.array([2, 2, 3]))
        where = str(path)
    else:
        path.write_text(json.dumps({"shape": [2, 2, 3], "points": [
            {"Wa": u.tolist(), "Wb": v.tolist(), "WcT": w.tolist()}]}))
        where = f"{path}, point 1"
    proc = subprocess.run([*CLI, "finish", str(path), "--time-limit", "5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: {where}: coefficients as large as 1e+300 are too large to finish: "
                           "the Brent equations overflow in floating point\n")


def test_a_badly_scaled_point_finishes_or_fails_without_floating_point_warnings(tmp_path):
    # a valid scheme (U×1e200, V×1e-200): its Brent equations are fine, its frames overflow
    u, v, w = _scheme_223(1e200, 1e-200, 1.0)
    path = tmp_path / "scaled.npz"
    np.savez(path, u=u, v=v, w=w, shape=np.array([2, 2, 3]))
    proc = subprocess.run([*CLI, "finish", str(path), "--time-limit", "10", "-q", "-o",
                           str(tmp_path / "s.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stderr.count("\n") <= 1 and "Warning" not in proc.stderr, proc.stderr


def test_points_files_are_told_by_their_content(tmp_path):
    u, v, w = _scheme_223(1.0, 1.0, 1.0)
    upper = tmp_path / "POINT.NPZ"
    with upper.open("wb") as fh:  # np.savez would add .npz to the name
        np.savez(fh, u=u, v=v, w=w, shape=np.array([2, 2, 3]))
    misnamed = tmp_path / "point.json"
    misnamed.write_bytes(upper.read_bytes())
    for path in (upper, misnamed):
        (pt,) = load_points(path)
        assert pt.shape == (2, 2, 3) and np.array_equal(pt.u, u)
    json_named_npz = tmp_path / "points.npz"  # JSON text under an .npz name: read as JSON
    json_named_npz.write_text(json.dumps({"shape": [2, 2, 3], "points": [
        {"Wa": u.tolist(), "Wb": v.tolist(), "WcT": w.tolist()}]}))
    (pt,) = load_points(json_named_npz)
    assert pt.shape == (2, 2, 3) and np.array_equal(pt.u, u)
    npy = tmp_path / "u.npy"
    np.save(npy, u)
    message = (f"error: {npy}: a single .npy array; fitted points come as an .npz (arrays u, v, w and "
               "shape, as `fastmm search --save-fitted` writes) or a JSON file of points\n")
    proc = subprocess.run([*CLI, "finish", str(npy)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr == message
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match=r"neither an \.npz nor a JSON file of fitted points"):
        load_points(binary)
    proc = subprocess.run([*CLI, "finish", str(upper), "-q", "--no-sympy", "-o", str(tmp_path / "s.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def proof_cut_short(monkeypatch):
    """finish_point answers at once with the catalogue's ⟨2,4,5;32⟩ over Q, and the sympy proof
    is cut short by Ctrl-C (a SIGINT under a command's StopSignals)."""
    import os

    from fastmm import api

    scheme = fastmm.load(ROOT / "fastmm" / "data" / "catalog" / "2x4x5-rank32-Q.json")
    monkeypatch.setattr(exactify, "finish_point", lambda *a, **k: scheme.with_meta(provenance={}))
    real = api.verified

    def verified(s, sympy=True):
        if sympy:
            if signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, signal.SIG_IGN, None):
                os.kill(os.getpid(), signal.SIGINT)  # a command's StopSignals: it notes the signal
                time.sleep(1)  # and raises KeyboardInterrupt here
            raise KeyboardInterrupt  # a library caller's Ctrl-C (whatever handler earlier tests left)
        return real(s, sympy=False)

    monkeypatch.setattr(api, "verified", verified)
    return scheme


def test_a_signal_during_the_sympy_proof_hands_out_the_finished_scheme(proof_cut_short):
    cut = "interrupted during the sympy proof of the ⟨2,4,5;32⟩"
    with pytest.raises(SearchInterrupted, match=cut) as info:
        fastmm.finish(FITTED_245, point=2)
    (kept,) = info.value.found
    assert kept.rank == 32 and kept.ring == "Q" and kept.verified["ok"] is True
    assert kept.verified["sympy"] == "skipped"  # the proof was cut; the exact Brent check stands


def test_finish_writes_the_scheme_when_a_signal_cuts_its_sympy_proof(proof_cut_short, tmp_path):
    from click.testing import CliRunner

    from fastmm.cli import cli

    out = tmp_path / "s.json"
    result = CliRunner().invoke(cli, ["finish", str(FITTED_245), "--point", "2", "-o", str(out)],
                                standalone_mode=False)
    assert result.return_value == 130, result.output  # main() exits with it
    lines = result.output.splitlines()
    assert lines[-1] == "interrupted"
    wrote = "⟨2,4,5;32⟩ over Q: exact, verified (Brent equations); wrote"
    assert any(line.startswith(wrote) for line in lines)
    assert fastmm.verify(fastmm.load(out)).ok
