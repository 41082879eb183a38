"""Exact schemes from fitted floating-point points: frames, fix and repair, rational reconstruction.

A fitted point (Σ_t U[t]⊗V[t]⊗W[t] = T in floating point) lies on a positive-dimensional set of
solutions: the de Groote symmetries and term scalings, and often more (the ⟨2,4,5;32⟩ fits have
4–6 extra dimensions). Rounding it fails unless the point sits where the coefficients are
simple. Here the point is first moved to frames of its own rank-one directions
(fastmm.search.frames), where most coefficients of U and V are integers; those are fixed. The
freedom left is the null space of the Brent equations' Jacobian restricted to the free
coefficients; it is used up one coefficient at a time: the free coefficient that can
reach 0, 1 or −1 with the least motion along the solution set is set there, and the point is
pulled back onto the set by damped Gauss–Newton on the rest. When no freedom is left the point
is isolated; if every coordinate is a small rational (denominators up to `max_denominator`) the
scheme is checked exactly and returned. Isolated points are algebraic, not always rational (one
⟨2,4,5;32⟩ attempt ended in Q(√2)), so several frames and orders are tried.

Time: the work stops at its deadline or when a stop request (a signal, the search stopping)
comes, checked before every dense factorisation (an SVD, a Gauss–Newton solve). One SVD of a
⟨4,4,5;63⟩ Jacobian (6400 × 2205) takes half a minute or more, so a factorisation that should
not end before the deadline is not started (its time estimated from its size, at a rate timed
once per process on a small one, then on the real ones), and a big one runs in a helper thread
that is abandoned when the deadline or a stop request comes first.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from fastmm.errors import InputError
from fastmm.scheme import Scheme, ring_serves
from fastmm.search.frames import apply_scales, framed_points, scaling_rows
from fastmm.search.rounding import exact_scheme, float_residual
from fastmm.validate import NPY_MAGIC, ZIP_MAGICS, load_json, read_bytes, read_npz
from fastmm.verify import target_tensor

TARGETS = (0.0, 1.0, -1.0)
GRID_TOL = 1e-6  # a framed coefficient this close to an integer is fixed there


@dataclass
class Point:
    """A fitted point: U r×nm, V r×mp, W r×np (W = Wcᵀ), row-major as in Scheme."""

    shape: tuple[int, int, int]
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    source: str = ""  # how the point was fitted (the file's "command"), for the scheme's provenance

    @property
    def rank(self) -> int:
        return self.u.shape[0]


# -- time: a deadline, stop requests, and what a dense factorisation costs -----------------

KIND_NAMES = {"svd": "SVD", "solve": "Gauss–Newton solve"}
# rows, columns of the factorisations timed to learn this machine's speed: about 0.03 s each on
# an idle 2-core machine
CALIBRATION = {"svd": (600, 200), "solve": (2000, 700)}
# seconds per unit of work (`units`) of a slow, busy machine: a 2-core one shared with two
# searches ran big SVDs at 2e-9 to 3e-9 and Gauss–Newton steps at 2e-11 to 7e-11. Work that fits
# the time left even at this speed starts without timing anything, and no estimate is slower:
# small calibrations on a busy machine can read 50 times slower than the big work runs
# (its BLAS threads wait for each other), and an estimate that is too low costs little
# (the factorisation is abandoned at the deadline), one that is too high refuses good work.
SLOWEST = {"svd": 1e-8, "solve": 3e-10}
POLL = 0.05  # seconds between looks at the deadline and stop requests while a big one runs
_RATES: dict[tuple[object, str], float] = {}  # (clock, kind) -> seconds per unit of work


def units(kind: str, rows: int, cols: int) -> float:
    """The work of a dense factorisation of a rows × cols matrix, up to a constant: an SVD
    (the full Vᵀ when there are fewer rows than columns), or a Gauss–Newton step (JᵀJ, then
    a cols × cols solve)."""
    if kind == "svd":
        big, small = max(rows, cols), min(rows, cols)
        return float(big) * small * small + (float(cols) ** 3 if rows < cols else 0.0)
    return float(rows) * cols * cols + float(cols) ** 3 / 3


def _calibration(kind: str, mat: np.ndarray):
    if kind == "svd":
        return np.linalg.svd(mat, full_matrices=False)
    normal = mat.T @ mat
    return np.linalg.solve(normal + np.eye(mat.shape[1]), mat.T @ mat[:, 0])


def _rate(kind: str) -> float:
    """Seconds per unit of `kind`, on the clock the deadlines use: from the last big one that took
    long enough to time, else the fastest of three (at most a second's worth) timed on a
    CALIBRATION-sized matrix; never above SLOWEST."""
    key = (time.monotonic, kind)
    if key not in _RATES:
        mat = np.random.default_rng(0).standard_normal(CALIBRATION[kind])
        took: list[float] = []
        while len(took) < 3 and sum(took) < 1.0:
            t0 = time.monotonic()
            _calibration(kind, mat)
            took.append(time.monotonic() - t0)
        _RATES[key] = min(took) / units(kind, *CALIBRATION[kind])
    return min(_RATES[key], SLOWEST[kind])


def estimate(kind: str, rows: int, cols: int) -> float:
    """Seconds a factorisation of this size should take here."""
    return _rate(kind) * units(kind, rows, cols)


# factorisations left running at a deadline or stop. OpenBLAS's exit handler (gotoblas_quit) can
# wait forever for its worker thread once a thread was abandoned inside a BLAS call (seen: a
# `finish` interrupted during its SVD hung at exit), so the command line leaves such a process
# with os._exit after flushing its output (fastmm.cli._exit).
ABANDONED: list[threading.Thread] = []


def factorise(kind: str, rows: int, cols: int, run: Callable[[], np.ndarray],
              deadline: Deadline) -> np.ndarray | None:
    """run(), a factorisation of this size, or None when the deadline or a stop request came
    first. A big one runs in a helper thread, waited for while the deadline holds: LAPACK cannot
    be interrupted, so one that is still running then is left to end by itself and its result
    is dropped. The rate is learned from each big one."""
    if units(kind, rows, cols) <= units(kind, *CALIBRATION[kind]):
        return run()
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            with np.errstate(all="ignore"):  # numpy's error state does not follow into threads
                box["out"] = run()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            box["exc"] = exc
        finally:
            done.set()

    t0 = time.monotonic()
    thread = threading.Thread(target=work, name=f"fastmm {kind}", daemon=True)
    thread.start()
    while not done.wait(POLL):
        if deadline.passed():
            deadline.detail = deadline.detail or (
                f"the {KIND_NAMES[kind]} of a {rows}×{cols} matrix was still running; it was abandoned")
            ABANDONED.append(thread)
            return None
    if "exc" in box:
        raise box["exc"]  # type: ignore[misc]
    took = time.monotonic() - t0
    if took >= 0.05:
        _RATES[(time.monotonic, kind)] = took / units(kind, rows, cols)
    return box["out"]  # type: ignore[return-value]


class Deadline:
    """When finishing must stop: at `at` (time.monotonic()), or as soon as `stop()` is true (a
    signal, the search that called it stopping). `stopped` says which ended the work ("the time
    limit" or "a stop request"), `detail` why the time limit ended it early."""

    def __init__(self, at: float, stop: Callable[[], bool] | None = None):
        self.at, self.stop = at, stop
        self.stopped: str | None = None
        self.detail = ""

    def passed(self) -> bool:
        if self.stop is not None and self.stop():
            self.stopped = "a stop request"
        elif time.monotonic() >= self.at:
            self.stopped = "the time limit"
        return self.stopped is not None

    def fits(self, kind: str, rows: int, cols: int) -> bool:
        """Not passed, and a factorisation of this size should end before `at`."""
        if self.passed():
            return False
        left = self.at - time.monotonic()
        if SLOWEST[kind] * units(kind, rows, cols) <= left:
            return True  # it fits even on a slow machine: nothing to time
        need = estimate(kind, rows, cols)
        if need <= left:
            return True
        self.stopped = "the time limit"
        self.detail = (f"the next {KIND_NAMES[kind]}, of a {rows}×{cols} matrix, was estimated to take "
                       f"about {need:.1f} s and {max(left, 0):.1f} s were left")
        return False


def as_deadline(deadline: float | Deadline | None) -> Deadline:
    if isinstance(deadline, Deadline):
        return deadline
    return Deadline(float("inf") if deadline is None else deadline)


class Brent:
    """Residual and Jacobian of Σ_t U[t]⊗V[t]⊗W[t] − T for the flat vector x = (U, V, W)."""

    def __init__(self, shape: tuple[int, int, int], rank: int):
        n, m, p = shape
        self.rank, self.dims = rank, (n * m, m * p, n * p)
        self.T = target_tensor(n, m, p).astype(np.float64)
        self.split_at = (rank * self.dims[0], rank * (self.dims[0] + self.dims[1]))

    def factors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.split_at
        r = self.rank
        return x[:a].reshape(r, -1), x[a:b].reshape(r, -1), x[b:].reshape(r, -1)

    def residual(self, x: np.ndarray) -> np.ndarray:
        u, v, w = self.factors(x)
        return (np.einsum("ta,tb,tc->abc", u, v, w) - self.T).ravel()

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        u, v, w = self.factors(x)
        a, b, c = self.dims
        ju = np.einsum("tb,tc,ad->abctd", v, w, np.eye(a)).reshape(a * b * c, -1)
        jv = np.einsum("ta,tc,bd->abctd", u, w, np.eye(b)).reshape(a * b * c, -1)
        jw = np.einsum("ta,tb,cd->abctd", u, v, np.eye(c)).reshape(a * b * c, -1)
        return np.concatenate([ju, jv, jw], axis=1)

    def repair(self, x: np.ndarray, free: np.ndarray, iters: int = 30, tol: float = 1e-24,
               deadline: float | Deadline | None = None) -> np.ndarray | None:
        """Damped Gauss–Newton on the free coordinates back to residual < tol, or None (also when
        the deadline (a time.monotonic() time or a Deadline) stops it: no step starts after it,
        or when it should not end before it)."""
        deadline = as_deadline(deadline)
        for _ in range(iters):
            res = self.residual(x)
            if res @ res < tol:
                return x
            if not deadline.fits("solve", res.size, len(free)):
                return None
            jac = self.jacobian(x)[:, free]

            def solve(jac=jac, res=res):
                normal = jac.T @ jac
                damping = 1e-12 * np.trace(normal) / len(free) + 1e-14
                return np.linalg.solve(normal + damping * np.eye(len(free)), jac.T @ res)

            step = factorise("solve", res.size, len(free), solve, deadline)
            if step is None:
                return None
            x = x.copy()
            x[free] -= step
            if not np.all(np.isfinite(x)) or np.abs(x).max() > 1e3:
                return None
        res = self.residual(x)
        return x if res @ res < tol else None


def null_space(jac: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Orthonormal basis (columns) of the numerical null space of `jac`."""
    # the null space needs every row of Vᵀ only when there are fewer equations than unknowns
    _, s, vt = np.linalg.svd(jac, full_matrices=jac.shape[0] < jac.shape[1])
    rank = int((s > tol * s[0]).sum()) if s.size and s[0] > 0 else 0
    return vt[rank:].T


def rigidify(brent: Brent, x: np.ndarray, fixed: np.ndarray, rng: np.random.Generator,
             noise: float, deadline: float | Deadline) -> tuple[np.ndarray, bool]:
    """Fix free coefficients at 0, ±1 until the point is isolated; (point, isolated?).
    Stops at `deadline` (checked before every null space and every repair step; a null space
    that should not end before it is not started)."""
    deadline = as_deadline(deadline)
    targets = np.array(TARGETS)
    banned: set[tuple[int, int]] = set()
    while True:
        free = np.flatnonzero(~fixed)
        rows = brent.T.size
        if not deadline.fits("svd", rows, free.size):
            return x, False
        jac = brent.jacobian(x)[:, free]
        basis = factorise("svd", rows, free.size, lambda jac=jac: null_space(jac), deadline)
        if basis is None:
            return x, False
        if basis.shape[1] == 0:
            return x, True
        dist_all = np.abs(x[free][:, None] - targets[None, :])
        nearest = dist_all.argmin(axis=1)
        dist = dist_all[np.arange(free.size), nearest]
        mobility = np.linalg.norm(basis, axis=1)
        score = dist / np.maximum(mobility, 1e-12) * (1 + noise * rng.random(free.size))
        score[mobility < 1e-6] = np.inf  # the solution set does not move this coefficient
        for j, (i, k) in enumerate(zip(free, nearest, strict=True)):
            if (int(i), int(k)) in banned:
                score[j] = np.inf
        moved = False
        for i in np.argsort(score)[:25]:  # i indexes the free coordinates
            if not np.isfinite(score[i]):
                break
            if deadline.passed():
                return x, False
            target = targets[nearest[i]]
            row = basis[i]
            y = x.copy()
            y[free] += basis @ row * ((target - x[free[i]]) / (row @ row))  # along the set
            y[free[i]] = target
            now_fixed = fixed.copy()
            now_fixed[free[i]] = True
            z = brent.repair(y, np.flatnonzero(~now_fixed), deadline=deadline)
            if z is not None:
                x, fixed, moved = z, now_fixed, True
                break
            if deadline.stopped:  # the repair was cut short, not refuted
                return x, False
            banned.add((int(free[i]), int(nearest[i])))
        if not moved:
            return x, False


def rationalize(brent: Brent, x: np.ndarray, max_denominator: int) -> list[Fraction] | None:
    """Every coordinate as a small rational, if the rounded point still solves in floats."""
    fracs = [Fraction(float(v)).limit_denominator(max_denominator) for v in x]
    snapped = np.array([float(f) for f in fracs])
    if np.abs(snapped - x).max() > 1e-8:
        return None
    res = brent.residual(snapped)
    return fracs if res @ res < 1e-20 else None


@dataclass
class FinishReport:
    frames: int = 0  # framed points tried
    isolated: int = 0  # of those, rigidified to an isolated point
    rational: int = 0  # of those, with small rational coordinates (sent to the exact check)
    failed: int = 0  # exact checks that failed (never returned)
    other_ring: int = 0  # exact, but over a larger ring than the one asked for
    stopped: str | None = None  # "the time limit" or "a stop request" when one cut the work short
    detail: str = ""  # why the time limit cut it short before it ran out, if it did


def finish_point(point: Point, ring: str = "Q", *, frames: int = 4, trials: int = 2,
                 max_denominator: int = 64, time_limit: float = 600.0,
                 report: FinishReport | None = None,
                 progress: Callable[[str], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> Scheme | None:
    """An exact, verified scheme from a fitted point, or None (see the module docstring).
    Gives up `time_limit` seconds after the call, or when stop() is true, checking before every
    dense factorisation; report.stopped says when one of them cut the work short."""
    report = report if report is not None else FinishReport()
    deadline = Deadline(time.monotonic() + time_limit, stop)
    with np.errstate(all="ignore"):  # overflow is caught where it matters (np.isfinite, residuals)
        scheme = _finish(point, ring, frames, trials, max_denominator, deadline, report, progress)
    if scheme is None and deadline.stopped:
        report.stopped, report.detail = deadline.stopped, deadline.detail
    return scheme


def _polished(point: Point, brent: Brent, deadline: Deadline) -> Point:
    """The point moved by Gauss–Newton onto an exact fit near it, or as it is where that fails. A
    point saved at a loose fit tolerance (residual 1e-6: `--option frames=false`) frames too
    roughly to finish; 20 Gauss–Newton steps took such ⟨2,3,3;15⟩ points to 1e-30 (helper-77)."""
    x = np.concatenate([point.u.ravel(), point.v.ravel(), point.w.ravel()])
    # repair returns an exact point as it is. Its own deadline, a quarter of the time left: a
    # polish that does not fit leaves the frames (smaller repairs: only off-grid coordinates) the rest
    share = Deadline(time.monotonic() + max(deadline.at - time.monotonic(), 0.0) / 4, deadline.stop)
    fitted = brent.repair(x, np.arange(x.size), deadline=share)
    if fitted is None:
        return point
    return Point(point.shape, *brent.factors(fitted), source=point.source)


def _finish(point: Point, ring: str, frames: int, trials: int, max_denominator: int, deadline: Deadline,
            report: FinishReport, progress: Callable[[str], None] | None) -> Scheme | None:
    brent = Brent(point.shape, point.rank)
    point = _polished(point, brent, deadline)
    scored = []
    for framed in framed_points(point.u, point.v, point.w, point.shape):
        if deadline.passed():
            return None
        grid = sum(int((np.abs(f - np.round(f)) < GRID_TOL).sum()) for f in framed[:2])
        scored.append((grid, len(scored), framed))
    scored.sort(key=lambda s: (-s[0], s[1]))
    for index, (grid, _, framed) in enumerate(scored[:frames]):
        x = np.concatenate([f.ravel() for f in framed])
        fixed = np.zeros(x.size, dtype=bool)
        on_grid = np.abs(x - np.round(x)) < GRID_TOL
        on_grid[brent.split_at[1]:] = False  # W follows U and V
        fixed[on_grid] = True
        x[on_grid] = np.round(x[on_grid])
        start = brent.repair(x, np.flatnonzero(~fixed), deadline=deadline)
        if start is None:
            if deadline.stopped:
                return None
            continue
        for trial in range(trials):
            if deadline.passed():
                return None
            report.frames += 1
            rng = np.random.default_rng(trial)
            end, isolated = rigidify(brent, start.copy(), fixed.copy(), rng, 0.0 if trial == 0 else 1.0,
                                     deadline)
            report.isolated += isolated
            fracs = rationalize(brent, end, max_denominator) if isolated else None
            if progress:
                progress(f"frame {index + 1} ({grid} integer coefficients), order {trial + 1}: "
                         + ("isolated, rational" if fracs else "isolated, not rational" if isolated
                            else f"{deadline.stopped} stopped it before it was isolated"
                            + (f" ({deadline.detail})" if deadline.detail else "")
                            if deadline.stopped else "not isolated"))
            if fracs is None:
                continue
            report.rational += 1
            u, v, w = brent.factors(np.array(fracs, dtype=object))
            scheme = exact_scheme(point.shape, u, v, w, "Q", {"rounding": "frames + fix and repair"})
            if scheme is None:
                report.failed += 1
                continue
            scheme = simplify_scales(scheme)  # halves and twos are often a rescaled ternary scheme
            if ring_serves(scheme.coefficient_ring, ring):
                return scheme
            report.other_ring += 1
    return None


# -- reading fitted points -----------------------------------------------------------------

MAX_POINT_DIM = 8
MAX_JACOBIAN = 70_000_000  # dense Jacobian entries (8 bytes each): ⟨3,3,6;40⟩ 5.2 M, ⟨3,6,6;80⟩ 67 M


def jacobian_size(shape: tuple[int, int, int], rank: int) -> int:
    """Entries of the dense matrices that finishing a point of this shape and rank handles: the
    Jacobian (equations × unknowns), and where there are fewer equations than unknowns the
    square factor of its SVD that null_space needs (⟨2,3,3;600⟩: 159 M entries, 1.3 GB)."""
    n, m, p = shape
    equations, unknowns = (n * m) * (m * p) * (n * p), rank * (n * m + m * p + n * p)
    return max(equations * unknowns, unknowns * unknowns if equations < unknowns else 0)


def check_size(shape: tuple[int, int, int], rank: int) -> None:
    if jacobian_size(shape, rank) > MAX_JACOBIAN:
        n, m, p = shape
        raise InputError(f"finishing ⟨{n},{m},{p};{rank}⟩ needs a dense Jacobian of "
                         f"{jacobian_size(shape, rank):,} entries; the limit is {MAX_JACOBIAN:,}")


def _real_array(value, where: str, key: str) -> np.ndarray:
    """`value` (an npz array or nested JSON lists) as float64, refusing anything but real numbers:
    complex, boolean or string entries are never cast (an imaginary part silently dropped, "1"
    read as 1)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "c":
            raise InputError(f"{where}: array {key} holds complex numbers; a fitted point is real")
        if value.dtype.kind not in "iuf":
            raise InputError(f"{where}: array {key} has dtype {value.dtype}, not real numbers")
    elif not isinstance(value, list):
        raise InputError(f"{where}: {key} is not an array of numbers")
    else:
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, bool) or not isinstance(item, (int, float)):
                shown = repr(item) if len(repr(item)) <= 30 else repr(item)[:30] + "..."
                raise InputError(f"{where}: {key} holds {shown}; coefficients must be numbers")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}: the factors are not arrays of numbers") from exc


def _point(shape: tuple[int, int, int], u, v, w, where: str, keys: tuple[str, str, str] = ("u", "v", "w"),
           rank: int | None = None) -> Point:
    n, m, p = shape
    arrays = [_real_array(x, where, key) for x, key in zip((u, v, w), keys, strict=True)]
    r = arrays[0].shape[0] if arrays[0].ndim == 2 else -1
    if all(x.ndim == 2 for x in arrays) and len({x.shape[0] for x in arrays}) > 1:  # none to blame alone
        raise InputError(f"{where}: U (Wa), V (Wb) and W (Wcᵀ) have "
                         f"{', '.join(str(x.shape[0]) for x in arrays)} rows; each needs one per product")
    for x, cols, name in zip(arrays, (n * m, m * p, n * p), ("U (Wa)", "V (Wb)", "W (Wcᵀ)"), strict=True):
        if x.ndim != 2 or x.shape != (r, cols) or r < 1:
            raise InputError(f"{where}: {name} should be rank × {cols} for ⟨{n},{m},{p}⟩, "
                             f"not {'×'.join(map(str, x.shape))}")
        if not np.all(np.isfinite(x)):
            raise InputError(f"{where}: {name} holds a NaN or an infinity")
    if rank is not None and rank != r:
        raise InputError(f"{where}: the file declares rank {rank}, but the factors have {r} rows")
    check_size(shape, r)
    with np.errstate(all="ignore"):
        residual = float_residual(shape, *arrays)
    if not np.isfinite(residual):  # every step of the finishing works with these products
        big = max(float(np.abs(x).max()) for x in arrays)
        raise InputError(f"{where}: coefficients as large as {big:.3g} are too large to finish: the "
                         "Brent equations overflow in floating point")
    return Point(shape, *arrays)


def _shape(value, where: str) -> tuple[int, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in value)):
        raise InputError(f"{where}: 'shape' should be three positive integers, not {value!r}")
    shape = tuple(int(d) for d in value)
    if min(shape) < 1 or max(shape) > MAX_POINT_DIM:
        raise InputError(f"{where}: shape {shape} is outside 1..{MAX_POINT_DIM}")
    return shape  # type: ignore[return-value]


def _rank(value, where: str) -> int | None:
    """A declared rank ("rank" of a JSON header or an npz array), if any: a positive integer."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim == 0 else value
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{where}: 'rank' should be a positive integer, not {value!r}")
    return value


def _residual(value, where: str) -> None:
    """A recorded residual (squared Frobenius norm) must be a finite real number ≥ 0."""
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim == 0 and value.dtype.kind in "iuf" else value
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not np.isfinite(value) or value < 0):
        shown = (f"an array of {value.dtype} of shape {value.shape}" if isinstance(value, np.ndarray)
                 else repr(value))
        raise InputError(f"{where}: 'residual' should be a finite number ≥ 0, not {shown}")


def load_points(path: str | os.PathLike) -> list[Point]:
    """Fitted points from a file: an .npz written by `fastmm search --save-fitted DIR` (arrays u, v, w
    and shape; older files: the shape from the name NxMxP-r…), or a JSON document with "shape"
    and "points": [{"Wa": [[…]], "Wb": …, "WcT": …}, …] (results/numerical_points/). The format
    is told by the file's first bytes, whatever its name. Never unpickles; a bad file is one
    InputError."""
    where = str(path)
    named_npz = where.lower().endswith(".npz")
    try:
        data = read_bytes(path)
    except InputError as exc:
        kind = ".npz of a fitted point" if named_npz else "JSON file of fitted points"
        raise InputError(f"{where}: not a readable {kind} ({exc})") from None
    if data.startswith(NPY_MAGIC):
        raise InputError(f"{where}: a single .npy array; fitted points come as an .npz (arrays u, v, w "
                         "and shape, as `fastmm search --save-fitted` writes) or a JSON file of points")
    # a file named .npz that holds JSON text is read as JSON: the bytes tell, not the name
    json_text = data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
    if data.startswith(ZIP_MAGICS) or (named_npz and not json_text):
        return [_npz_point(data, where)]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where}: neither an .npz nor a JSON file of fitted points (not a zip archive, "
                         "not UTF-8 text)") from None
    try:
        doc = load_json(text, where)
    except InputError as exc:
        raise InputError(f"{where}: not a readable JSON file of fitted points ({exc})") from None
    return _json_points(doc, where)


def _npz_point(data: bytes, where: str) -> Point:
    try:  # fastmm.validate: bounded reads, headers checked before anything is allocated
        loaders = read_npz(data, where, allow_pickle=False,
                           pickle_refusal="holds Python objects, which are never unpickled")
        arrays = {name: load() for name, load in loaders.items()}
    except InputError as exc:
        raise InputError(f"{where}: not a readable .npz of a fitted point ({exc})") from None
    if not {"u", "v", "w"} <= set(arrays):
        raise InputError(f"{where}: an .npz point needs arrays u, v and w")
    if "shape" in arrays:
        shape = _shape(arrays["shape"].tolist(), where)
    else:
        head = Path(where).name.split("-")[0].split("x")
        if len(head) != 3 or not all(h.isdigit() for h in head):
            raise InputError(f"{where}: no 'shape' array and no NxMxP at the start of the name")
        shape = _shape([int(h) for h in head], where)
    if "residual" in arrays:
        _residual(arrays["residual"], where)
    return _point(shape, arrays["u"], arrays["v"], arrays["w"], where,
                  rank=_rank(arrays.get("rank"), where))


def _json_points(doc, where: str) -> list[Point]:
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list) or not doc["points"]:
        raise InputError(f"{where}: expected a JSON object with 'shape' and a non-empty 'points' list")
    shape = _shape(doc.get("shape"), where)
    rank = _rank(doc.get("rank"), where)
    command = doc.get("command")
    source = command if isinstance(command, str) else ""
    points = []
    for k, entry in enumerate(doc["points"]):
        if not isinstance(entry, dict) or not {"Wa", "Wb", "WcT"} <= set(entry):
            raise InputError(f"{where}: point {k + 1} needs 'Wa', 'Wb' and 'WcT'")
        if "residual" in entry:
            _residual(entry["residual"], f"{where}, point {k + 1}")
        pt = _point(shape, entry["Wa"], entry["Wb"], entry["WcT"], f"{where}, point {k + 1}",
                    ("Wa", "Wb", "WcT"), rank)
        pt.source = source
        points.append(pt)
    return points


# -- simpler coefficients by diagonal scalings ---------------------------------------------


def _valuation(x: Fraction, q: int) -> int:
    num, den, v = x.numerator, x.denominator, 0
    while num % q == 0:
        num //= q
        v += 1
    while den % q == 0:
        den //= q
        v -= 1
    return v


def _primes(values) -> list[int]:
    found: set[int] = set()
    for x in values:
        for n in (abs(x.numerator), x.denominator):
            d = 2
            while d * d <= n:
                while n % d == 0:
                    found.add(d)
                    n //= d
                d += 1
            if n > 1:
                found.add(n)
    return sorted(found)


def simplify_scales(scheme: Scheme) -> Scheme:
    """The scheme moved by diagonal basis changes and term scalings (A → XAY, B → Y⁻¹BZ, term
    scales) that make its coefficients' prime powers small: for each prime, integer exponents
    that lower Σ|valuation| (least squares, rounded, then greedy ±1 moves). Same tensor; the
    result is re-verified by the caller. Returns the input when nothing improves."""
    u, v, w = (np.array([[Fraction(x) for x in row] for row in mat], dtype=object)
               for mat in (scheme.Wa, scheme.Wb, scheme.Wc.T))
    a, where = scaling_rows(u, v, w, scheme.shape)
    if not where:
        return scheme
    factors = (u, v, w)
    coefs = [factors[k][t, f] for k, t, f in where]
    exps: dict[int, np.ndarray] = {}
    for q in _primes(coefs):
        val = np.array([_valuation(c, q) for c in coefs], dtype=float)
        if not val.any():
            continue
        k = np.round(np.linalg.lstsq(a, -val, rcond=None)[0])
        cost = np.abs(val + a @ k).sum()
        improved = True
        while improved:
            improved = False
            for j in range(a.shape[1]):
                for step in (1, -1):
                    k[j] += step
                    c = np.abs(val + a @ k).sum()
                    if c < cost:
                        cost, improved = c, True
                    else:
                        k[j] -= step
        if cost < np.abs(val).sum():
            exps[q] = k.astype(int)
    if not exps:
        return scheme
    scales = np.array([np.prod([Fraction(q) ** int(k[j]) for q, k in exps.items()])
                       for j in range(a.shape[1])], dtype=object)
    nu, nv, nw = apply_scales(u, v, w, scheme.shape, scales)
    moved = exact_scheme(scheme.shape, nu, nv, nw, "Q", dict(scheme.provenance))
    return moved if moved is not None else scheme
