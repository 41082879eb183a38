"""fastmm.search.exactify / `fastmm finish`: fitted float points to exact verified schemes, and
points files that must be refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SearchFailed
from fastmm.reference import strassen
from fastmm.search.base import SearchTask
from fastmm.search.exactify import FinishReport, Point, finish_point, load_points
from fastmm.search.rounding import float_residual
from fastmm.search.runner import run_search
from fastmm.verify import verify

ROOT = Path(__file__).resolve().parents[2]


def strassen_in_a_random_basis(seed: int = 5) -> Point:
    """Strassen moved by random (P, Q, R) and term scalings: a float point, same tensor."""
    s = strassen()
    u, v, w = (np.array(x, dtype=float).reshape(7, 2, 2) for x in (s.Wa, s.Wb, s.Wc.T))
    rng = np.random.default_rng(seed)
    p, q, r = (rng.standard_normal((2, 2)) for _ in range(3))
    u = np.einsum("ai,tij,jb->tab", p, u, np.linalg.inv(q))
    v = np.einsum("ai,tij,jb->tab", q, v, np.linalg.inv(r))
    w = np.einsum("ai,tij,jb->tab", np.linalg.inv(p).T, w, r.T)
    scale = rng.uniform(0.5, 2.0, (7, 2))
    u, v = u * scale[:, 0, None, None], v * scale[:, 1, None, None]
    w = w / (scale[:, 0] * scale[:, 1])[:, None, None]
    return Point((2, 2, 2), u.reshape(7, 4), v.reshape(7, 4), w.reshape(7, 4))


def test_strassen_in_a_random_basis_comes_back_exact():
    point = strassen_in_a_random_basis()
    assert float_residual((2, 2, 2), point.u, point.v, point.w) < 1e-25
    assert np.abs(point.u - np.round(point.u)).max() > 0.01  # really not on the grid
    report = FinishReport()
    scheme = finish_point(point, "ZT", report=report)
    assert scheme is not None and scheme.rank == 7 and verify(scheme).ok and scheme.ring == "ZT"
    assert report.isolated >= 1 and report.rational >= 1 and report.failed == 0


def test_a_slightly_wrong_point_is_repaired_and_an_impossible_one_gives_nothing():
    point = strassen_in_a_random_basis()
    point.u = point.u + 1e-4  # Gauss–Newton pulls it back onto the solution set
    assert verify(finish_point(point, "ZT")).ok
    rng = np.random.default_rng(0)  # rank 6 < 7, the proven bound for ⟨2,2,2⟩: nothing may come out
    impossible = Point((2, 2, 2), *(rng.standard_normal((6, 4)) for _ in range(3)))
    assert finish_point(impossible, "Q", frames=2, trials=1, time_limit=30) is None


@pytest.fixture(scope="module")
def fitted_233(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fitted")
    task = SearchTask(2, 3, 3, rank=15, ring="ZT", seed=1, time_limit=60,
                      options={"save_fitted": str(folder)})
    run_search(task, "als", workers=1)
    files = sorted(folder.glob("*.npz"))
    assert files
    return files[0]


def test_a_fitted_233_point_finishes_through_the_api_and_the_command(fitted_233, tmp_path):
    scheme = fastmm.finish(fitted_233, ring="Q", time_limit=120)
    assert scheme.shape == (2, 3, 3) and scheme.rank == 15 and verify(scheme).ok
    assert scheme.verified["sympy"].startswith("proved")
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "finish", str(fitted_233), "-q",
                           "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    saved = fastmm.load(out)
    assert verify(saved).ok and saved.provenance["command"].startswith("fastmm finish ")
    assert saved.provenance["rounding"] == "frames + fix and repair"


def test_points_files_in_both_formats(tmp_path):
    point = strassen_in_a_random_basis()
    npz = tmp_path / "2x2x2-r7-seed0-restart3.npz"
    np.savez(npz, u=point.u, v=point.v, w=point.w)  # an older file: the shape from the name
    doc = {"shape": [2, 2, 2], "command": "fastmm search 2 2 2 --rank 7 --method als",
           "points": [{"Wa": point.u.tolist(), "Wb": point.v.tolist(), "WcT": point.w.tolist()}] * 2}
    js = tmp_path / "points.json"
    js.write_text(json.dumps(doc))
    (a,), (b, c) = load_points(npz), load_points(js)
    assert a.shape == b.shape == (2, 2, 2) and np.array_equal(a.u, c.u)
    assert b.source == "fastmm search 2 2 2 --rank 7 --method als"
    scheme = fastmm.finish(js, ring="ZT", point=2, sympy=False)
    assert scheme.provenance["point"] == 2 and scheme.provenance["fitted_by"] == doc["command"]
    assert scheme.provenance["method"] == "finish" and scheme.provenance["points_file"] == str(js)
    assert scheme.provenance["version"] == fastmm.__version__
    with pytest.raises(InputError, match="finish: sympy must be True or False"):
        fastmm.finish(js, ring="ZT", point=2, sympy="no")


def _write(tmp_path, name, payload) -> Path:
    path = tmp_path / name
    if name.endswith(".npz"):
        np.savez(path, **payload)
    else:
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


GOOD = strassen_in_a_random_basis()
ZEROS_666 = np.zeros((153, 36)).tolist()  # ⟨6,6,6;153⟩: too big to finish
GOOD_JSON = {"Wa": GOOD.u.tolist(), "Wb": GOOD.v.tolist(), "WcT": GOOD.w.tolist()}


@pytest.mark.parametrize("name, payload, message", [
    ("p.npz", {"u": GOOD.u, "v": GOOD.v}, "needs arrays u, v and w"),
    ("p.npz", {"u": GOOD.u, "v": GOOD.v, "w": GOOD.w}, "no 'shape' array and no NxMxP"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v[:, :3], "w": GOOD.w}, "V (Wb) should be rank × 4"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v, "w": GOOD.w * np.nan}, "NaN or an infinity"),
    ("2x2x2-p.npz", {"u": np.array([object()] * 4), "v": GOOD.v, "w": GOOD.w}, "not a readable .npz"),
    ("p.json", "{not json", "not a readable JSON file"),
    ("p.json", {"shape": [2, 2, 2], "points": []}, "non-empty 'points' list"),
    ("p.json", {"shape": [2, 2, 99], "points": [{}]}, "outside 1..8"),
    ("p.json", {"shape": [2, 2, "2"], "points": [{}]}, "three positive integers"),
    ("p.json", {"shape": [2, 2, 2], "points": [{"Wa": [[1]]}]}, "needs 'Wa', 'Wb' and 'WcT'"),
    ("p.json", {"shape": [2, 2, 2], "points": [{"Wa": "x", "Wb": [], "WcT": []}]}, "Wa is not an array"),
    ("p.json", {"shape": [6, 6, 6], "points": [dict.fromkeys(("Wa", "Wb", "WcT"), ZEROS_666)]},
     "needs a dense Jacobian of 770,943,744 entries"),
    # numbers only: an imaginary part is never dropped, "1" or true never read as 1
    ("2x2x2-p.npz", {"u": GOOD.u + 0.5j, "v": GOOD.v, "w": GOOD.w}, "array u holds complex numbers"),
    ("2x2x2-p.npz", {"u": GOOD.u > 0, "v": GOOD.v, "w": GOOD.w}, "array u has dtype bool"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v.astype(str), "w": GOOD.w}, "array v has dtype <U"),
    ("p.json", {"shape": [2, 2, 2], "points": [{"Wa": [["1"] * 4] * 7, "Wb": GOOD.v.tolist(),
                                                  "WcT": GOOD.w.tolist()}]}, "Wa holds '1'; coefficients"),
    ("p.json", {"shape": [2, 2, 2], "points": [{"Wa": GOOD.u.tolist(), "Wb": GOOD.v.tolist(),
                                                  "WcT": [[True] * 4] * 7}]}, "WcT holds True; coefficients"),
    # a declared rank must be the factors' rank
    ("p.json", {"shape": [2, 2, 2], "rank": 8, "points": [GOOD_JSON]},
     "point 1: the file declares rank 8, but the factors have 7 rows"),
    ("p.json", {"shape": [2, 2, 2], "rank": "7", "points": [GOOD_JSON]},
     "'rank' should be a positive integer"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v, "w": GOOD.w, "rank": 6}, "declares rank 6"),
    # a residual is a finite number ≥ 0
    ("p.json", {"shape": [2, 2, 2], "points": [{**GOOD_JSON, "residual": -1e-30}]},
     "point 1: 'residual' should be a finite number ≥ 0, not -1e-30"),
    ("p.json", {"shape": [2, 2, 2], "points": [{**GOOD_JSON, "residual": "0"}]}, "'residual' should be"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v, "w": GOOD.w, "residual": -1.0}, "not -1.0"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v, "w": GOOD.w, "residual": np.nan}, "not nan"),
    ("2x2x2-p.npz", {"u": GOOD.u, "v": GOOD.v, "w": GOOD.w, "residual": [0.0]}, "of shape (1,)"),
])
def test_bad_points_files_are_one_input_error(tmp_path, name, payload, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_points(_write(tmp_path, name, payload))


def test_declared_rank_and_residuals_that_agree_are_read(tmp_path):
    js = _write(tmp_path, "p.json", {"shape": [2, 2, 2], "rank": 7, "points": [
        {**GOOD_JSON, "residual": 0}, {**GOOD_JSON, "residual": 1e-28}]})
    npz = _write(tmp_path, "p.npz", {"u": GOOD.u.astype(np.float32), "v": GOOD.v, "w": GOOD.w,
                                     "residual": 0.0, "shape": [2, 2, 2], "rank": 7})
    assert [pt.rank for pt in load_points(js) + load_points(npz)] == [7, 7, 7]


@pytest.mark.parametrize("name, payload, message", [
    ("2x2x2-p.npz", {"u": GOOD.u + 0.5j, "v": GOOD.v, "w": GOOD.w}, "array u holds complex numbers"),
    ("p.json", {"shape": [2, 2, 2], "rank": 8, "points": [GOOD_JSON]}, "declares rank 8"),
])
def test_bad_points_are_one_line_and_exit_2_at_the_command(tmp_path, name, payload, message):
    path = _write(tmp_path, name, payload)
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "finish", str(path), "-q",
                           "-o", str(tmp_path / "s.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert str(path) in proc.stderr and message in proc.stderr and not (tmp_path / "s.json").exists()


def test_bad_requests_and_a_point_that_does_not_finish(tmp_path):
    rng = np.random.default_rng(0)
    js = _write(tmp_path, "p.json", {"shape": [2, 2, 2], "points": [  # random: no scheme near it
        {k: rng.standard_normal((7, 4)).tolist() for k in ("Wa", "Wb", "WcT")}]})
    with pytest.raises(InputError, match="ring must be Q, Z or ZT"):
        fastmm.finish(js, ring="Z2")
    with pytest.raises(InputError, match="point"):
        fastmm.finish(js, point=2)
    with pytest.raises(InputError, match="time limit"):
        fastmm.finish(js, time_limit=float("nan"))
    with pytest.raises(SearchFailed, match="no exact scheme from 1 point"):
        fastmm.finish(js, frames=1, trials=1, time_limit=30)
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "finish", str(tmp_path / "none.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a readable JSON" in proc.stderr


def test_search_saves_fitted_points_for_finish(tmp_path):
    folder = tmp_path / "fitted"
    cli = [sys.executable, str(ROOT / "cli.py")]
    proc = subprocess.run([*cli, "search", "2", "2", "2", "--rank", "7", "--method", "als", "--batch", "16",
                           "--save-fitted", str(folder), "-q", "--no-sympy", "-o", str(tmp_path / "s.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    first = sorted(folder.glob("2x2x2-r7-seed0-restart*.npz"))[0]
    with np.load(first) as data:
        assert data["shape"].tolist() == [2, 2, 2]
    proc = subprocess.run([*cli, "finish", str(first), "-q", "-o", str(tmp_path / "f.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert verify(fastmm.load(tmp_path / "f.json")).ok


@pytest.mark.parametrize("args, message", [
    (["--batch", "0", "--method", "als"], "option batch (--batch) must be a positive integer"),
    (["--batch", "32"], "(--batch) is for the numerical methods"),
    (["--method", "flip", "--save-fitted", "x"], "(--save-fitted) is for the numerical methods"),
    (["--method", "als", "--save-fitted", "README.md"], "is not a folder"),
])
def test_numerical_options_refused_in_one_line(args, message):
    command = [sys.executable, str(ROOT / "cli.py"), "search", "2", "2", "2", "--rank", "7", *args]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr


def test_the_numerical_search_finishes_what_its_frames_leave(monkeypatch):
    import fastmm.search.numerical as numerical

    monkeypatch.setattr(numerical, "framed_points", lambda *a, **k: iter(()))  # frames find nothing
    task = SearchTask(2, 2, 2, rank=7, ring="Q", seed=0, time_limit=120, options={"batch": 16})
    outcome = run_search(task, "als", workers=1).outcome
    assert outcome.scheme is not None and verify(outcome.scheme).ok
    assert outcome.scheme.provenance["rounding"] == "frames + fix and repair"
    off = SearchTask(2, 2, 2, rank=7, ring="Q", seed=0, time_limit=120,
                     options={"batch": 16, "finish": 0, "max_restarts": 200})
    outcome = run_search(off, "als", workers=1).outcome  # finish off: only the pull can round
    assert outcome.scheme is None or outcome.scheme.provenance["rounding"] != "frames + fix and repair"


def test_diagonal_scalings_with_twos_and_threes_are_undone():
    from fractions import Fraction

    from fastmm.scheme import Scheme
    from fastmm.search.exactify import simplify_scales

    s = strassen()
    x, y, z = [Fraction(2), Fraction(1, 3)], [Fraction(3), Fraction(1)], [Fraction(1, 2), Fraction(6)]
    u = np.array([[Fraction(int(c)) * x[f // 2] * y[f % 2] * (t + 1) for f, c in enumerate(row)]
                  for t, row in enumerate(s.Wa)], dtype=object)
    v = np.array([[Fraction(int(c)) / y[f // 2] * z[f % 2] for f, c in enumerate(row)] for row in s.Wb],
                 dtype=object)
    w = np.array([[Fraction(int(c)) / x[f // 2] / z[f % 2] / (t + 1) for f, c in enumerate(row)]
                  for t, row in enumerate(s.Wc.T)], dtype=object)
    scaled = Scheme(2, 2, 2, u, v, w.T, ring="Q")
    assert verify(scaled).ok and verify(scaled).ring == "Q"
    simple = simplify_scales(scaled)
    assert verify(simple).ok and verify(simple).ring == "ZT"


def test_a_point_with_far_more_unknowns_than_equations_is_refused_by_size(tmp_path):
    """⟨2,3,3;600⟩: 324 equations, 12,600 unknowns; the SVD behind the null space would be a
    12,600² matrix (1.3 GB), so the point is refused up front, not run out of memory."""
    from fastmm.search.exactify import MAX_JACOBIAN, jacobian_size

    assert jacobian_size((2, 3, 3), 600) == 12_600 ** 2 > MAX_JACOBIAN
    assert jacobian_size((2, 4, 5), 32) == 1600 * 1216  # more equations than unknowns: as before
    rng = np.random.default_rng(0)
    f = tmp_path / "r600.json"
    f.write_text(json.dumps({"shape": [2, 3, 3], "points": [
        {"Wa": rng.normal(size=(600, 6)).tolist(), "Wb": rng.normal(size=(600, 9)).tolist(),
         "WcT": rng.normal(size=(600, 6)).tolist()}]}))
    with pytest.raises(InputError, match="158,760,000 entries"):
        fastmm.finish(f, time_limit=5, sympy=False)


def test_a_roughly_fitted_point_is_polished_before_it_is_framed():
    """helper-77: points saved at a loose fit tolerance (`--option frames=false`) did not finish;
    Strassen with noise 1e-3 finished 2 of 5 before the Gauss–Newton polish, 5 of 5 with it."""
    s = strassen()
    rng = np.random.default_rng(0)
    exact = [np.array(s.Wa, float), np.array(s.Wb, float), np.array(s.Wc, float).T]
    for _ in range(5):
        noisy = [x + 1e-3 * rng.standard_normal(x.shape) for x in exact]
        scheme = finish_point(Point((2, 2, 2), *noisy), "ZT", time_limit=60)
        assert scheme is not None and verify(scheme).ok and scheme.rank == 7


def test_a_polish_that_does_not_fit_leaves_the_deadline_to_the_frames():
    """helper-78: the polish's refused solve stopped the whole finish (0 frame orders tried)."""
    import time

    from fastmm.search.exactify import Brent, Deadline, _polished

    s = strassen().kron(strassen())
    rng = np.random.default_rng(1)
    point = Point((4, 4, 4), *(np.array(x, float) + 1e-9 * rng.standard_normal(np.shape(x))
                               for x in (s.Wa, s.Wb, np.array(s.Wc).T)))
    deadline = Deadline(time.monotonic() + 0.01)
    assert _polished(point, Brent((4, 4, 4), 49), deadline) is point  # no time for a 4096-row solve
    assert deadline.stopped is None
