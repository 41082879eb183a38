"""Time generated code against the library matmul and measure its rounding error.

Timing: one untimed warm-up call each, then `repeat` interleaved pairs (baseline, generated,
baseline, generated, …) on the same inputs; the reported ratio is the median over pairs of
baseline time / generated time (> 1: the generated code is faster). For ``--impl c`` and
``numpy`` the baseline is numpy.matmul, which runs the same OpenBLAS that the generated C
calls at its leaves; for ``torch`` it is torch.matmul.

Error: err = max|Ĉ − C| / (max|A|·max|B|), the max-norm measure of Higham's bounds.
The reference C is computed in long double (float64 runs, on a random sample of rows so
that big sizes stay cheap) or in float64 (float32 runs, all of C). The prediction is the
first-order bound of Higham (Accuracy and Stability of Numerical Algorithms, 2nd ed.,
Thm 23.3) for Strassen, written for any scheme with stability factor E:

    err ≤ (k0² + Q·k0) · E^L · u,      k0 = K / m^L (the leaf inner dimension),

with Q = (max terms in a row of Wa − 1) + (same for Wb) + (same for Wc), the additions on
one path through a level (Strassen: E = 12, Q = 5 reproduces Higham's bound up to its
−5n term), and u the unit roundoff. It is a worst-case bound: random inputs stay well below
it; numpy.matmul's error on the same inputs is reported beside it for scale.
"""

from __future__ import annotations

import numbers
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fastmm.arguments import check_seed, is_sequence, shown
from fastmm.errors import FastmmError, InputError
from fastmm.metrics import stability_factor
from fastmm.scheme import Scheme
from fastmm.validate import bounded_int

IMPLS = ("c", "numpy", "torch")
DTYPES = ("float64", "float32")
OUTPUTS = ("fresh", "reuse")  # a new result array per call, or outputs allocated before timing
MAX_SIZE = 65536  # N; the three N×N operands and the results must also fit in memory
MAX_REPEAT = 1000
MAX_LEVELS = 16


def check_bench_arguments(size, levels, dtype: str, impl: str, repeat, cutoff, output: str,
                          seed) -> tuple[tuple[int, int, int], list[int], int, int, int]:
    """Everything a benchmark is given, checked before any work (the library's rules, which the
    command line applies too): ((M, K, N), levels, repeat, cutoff, seed), or InputError. A size whose
    operands could not fit in this machine's memory is refused rather than tried."""
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {shown(dtype)}")
    if impl not in IMPLS:
        raise InputError(f"impl must be one of {', '.join(IMPLS)}, got {shown(impl)}")
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, got {shown(output)}")
    if output == "reuse" and impl != "c":
        raise InputError("--output reuse needs --impl c (the generated NumPy/PyTorch code allocates)")
    seed = check_seed(seed)
    if is_sequence(size) and len(size) == 3:
        dims = tuple(bounded_int(x, "a size", 1, MAX_SIZE) for x in size)
    elif isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise InputError(f"size is N or (M, K, N), positive integers, got {shown(size)}")
    else:
        dims = (bounded_int(size, "the size", 1, MAX_SIZE),) * 3
    if not is_sequence(levels) or not len(levels):
        raise InputError(f"levels is a non-empty list of level counts, got {shown(levels)}")
    levels = [bounded_int(x, "--levels", 0, MAX_LEVELS) for x in levels]
    repeat = bounded_int(repeat, "--repeat", 1, MAX_REPEAT)
    cutoff = bounded_int(cutoff, "--cutoff", 1, MAX_SIZE)
    M, K, N = dims
    need = 2 * (M * K + K * N + 2 * M * N) * (8 if dtype == "float64" else 4)  # operands, results, ref
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        have = None
    if have is not None and need > have:
        raise InputError(f"a {M}x{K}x{N} product needs about {need / 2**30:.1f} GiB, more than the "
                         f"{have / 2**30:.1f} GiB of memory here")
    return dims, levels, repeat, cutoff, seed
REF_BUDGET = 2e8  # long double multiply-adds spent on the float64 reference


@dataclass
class BenchResult:
    """One benchmark at one size; times in seconds."""

    scheme: str
    shape: tuple[int, int, int]  # M, K, N
    levels: int
    dtype: str
    impl: str
    baseline: str
    baseline_times: list[float]
    generated_times: list[float]
    ratio: float  # median over pairs of baseline / generated
    error: float  # max|Ĉ − C| / (max|A|·max|B|)
    baseline_error: float
    reference: str
    stability: float  # E
    predicted_error: float
    formula: str
    blas: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def within_prediction(self) -> bool:
        """The measured error is at most 10× the predicted one."""
        return self.error <= 10 * self.predicted_error

    @property
    def finite(self) -> bool:
        """The generated code's result had no NaN or infinity (an exact scheme with huge
        coefficients can overflow in floating point): only then does its speed mean anything."""
        return bool(np.isfinite(self.error))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["within_prediction"] = self.within_prediction
        d["finite"] = self.finite
        if not self.finite:
            d["ratio"] = None  # no speed for a wrong result
        for key in ("error", "baseline_error", "predicted_error", "stability"):
            if not np.isfinite(d[key]):
                d[key] = None  # JSON has no NaN or Infinity
        return d


def effective_levels(shape: tuple[int, int, int], size: int | tuple[int, int, int], levels: int,
                     cutoff: int) -> int:
    """The recursion levels the generated code applies to an N×N by N×N product (or M×K by K×N
    for size (M, K, N)): a level splits the dimensions by the scheme's n, m, p, and only while
    every block stays at least `cutoff` (the rule of fastmm_runtime.c and of the generated
    NumPy/PyTorch `_step`)."""
    if tuple(shape) == (1, 1, 1):  # a level never makes a block smaller: the code runs one at most
        levels = min(levels, 1)
    M, K, N = size if isinstance(size, tuple) else (size, size, size)
    for done in range(levels):
        M, K, N = M // shape[0], K // shape[1], N // shape[2]
        if min(M, K, N) < cutoff:
            return done
    return levels


def path_additions(scheme: Scheme) -> int:
    """Q: the most additions on one path through a level (row terms − 1, per phase)."""
    def most(w: np.ndarray) -> int:
        return max((sum(1 for x in row if x != 0) - 1 for row in w), default=0)

    return max(most(scheme.Wa), 0) + max(most(scheme.Wb), 0) + max(most(scheme.Wc), 0)


def predicted_error(scheme: Scheme, levels: int, K: int, dtype: str) -> tuple[float, str]:
    """(k0² + Q·k0)·E^L·u with k0 = K/m^L (see the module docstring) and the formula in words."""
    E = float(stability_factor(scheme))
    Q = path_additions(scheme)
    k0 = K / scheme.m**levels
    u = float(np.finfo(np.dtype(dtype)).eps) / 2
    value = (k0 * k0 + Q * k0) * E**levels * u
    return value, f"(k0^2 + Q*k0)*E^L*u, k0=K/m^L={k0:g}, Q={Q}, E={E:g}, L={levels}, u={u:.3g}"


def _reference(A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(row indices, reference rows of A·B, description)."""
    M, K = A.shape
    N = B.shape[1]
    if A.dtype == np.float32:
        return np.arange(M), A.astype(np.float64) @ B.astype(np.float64), "float64 product (all of C)"
    rows = int(min(M, max(4, REF_BUDGET // max(K * N, 1))))
    idx = np.arange(M) if rows >= M else np.sort(rng.choice(M, size=rows, replace=False))
    ref = A[idx].astype(np.longdouble) @ B.astype(np.longdouble)
    what = "long double product" + ("" if rows >= M else f" ({rows} random rows of {M})")
    return idx, ref, what


def _error(C: np.ndarray, idx: np.ndarray, ref: np.ndarray, scale: float) -> float:
    diff = np.abs(C[idx].astype(ref.dtype) - ref)
    return float(diff.max() / scale) if diff.size and scale else 0.0


def _implementation(scheme: Scheme, impl: str, levels: int, dtype: str, cutoff: int
                    ) -> tuple[Callable, Callable, str, Callable]:
    """(generated(A, B), baseline(A, B), baseline name, convert-inputs) for an implementation."""
    if impl == "c":
        from fastmm.export.build import c_function

        return c_function(scheme, levels, dtype, cutoff), np.matmul, "numpy.matmul", _same
    if impl == "numpy":
        try:
            from fastmm.export.pycode import numpy_function
        except ModuleNotFoundError as exc:
            raise FastmmError(f"the numpy implementation is not available ({exc.name} missing)") from None
        fn = numpy_function(scheme)
        return (lambda a, b: fn(a, b, levels=levels, leaf=cutoff)), np.matmul, "numpy.matmul", _same
    if impl == "torch":
        try:
            import torch

            from fastmm.export.pycode import torch_function
        except ModuleNotFoundError as exc:
            raise FastmmError(f"--impl torch needs {exc.name}: install torch (pip install torch)") from None
        fn = torch_function(scheme)
        return ((lambda a, b: fn(a, b, levels=levels, leaf=cutoff)), torch.matmul, "torch.matmul",
                torch.from_numpy)
    raise InputError(f"unknown implementation {impl!r} (choose from {', '.join(IMPLS)})")


def _same(x):
    return x


def _as_numpy(x) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


def blas_description(dtype: str = "float64") -> str:
    try:
        from fastmm.export.build import find_blas

        return find_blas().describe(dtype)
    except FastmmError as exc:
        return f"unknown ({exc})"


def bench_levels(
    scheme: Scheme,
    size: int | tuple[int, int, int],
    levels: list[int],
    dtype: str = "float64",
    impl: str = "c",
    repeat: int = 5,
    seed: int = 0,
    cutoff: int = 64,
    output: str = "fresh",
) -> list[BenchResult]:
    """Several level counts against one shared baseline, interleaved per round (base, L1, L2, …).

    Each round times the baseline once and every variant once; each variant's ratio is the
    median over rounds of baseline time / its time. output "fresh": every call returns a new
    array (its page faults are part of the time); "reuse" (impl c): both sides write into
    arrays allocated and touched before timing (`out=`), so only the multiplication is timed.
    """
    if not isinstance(scheme, Scheme):
        raise InputError(f"bench takes a fastmm Scheme, got {shown(scheme)}")
    (M, K, N), levels, repeat, cutoff, seed = check_bench_arguments(
        size, levels, dtype, impl, repeat, cutoff, output, seed)
    from fastmm.export.c import checked_scheme

    checked_scheme(scheme)  # refuses invalid or unsafe schemes before anything runs
    gens = []
    for L in levels:
        gen, base, base_name, convert = _implementation(scheme, impl, L, dtype, cutoff)
        gens.append(gen)
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (M, K)).astype(dtype)
    B = rng.uniform(-1, 1, (K, N)).astype(dtype)
    a, b = convert(A), convert(B)
    c_base = base(a, b)  # warm-up (builds, first touch of workspaces and outputs), untimed
    c_gens = [g(a, b) for g in gens]
    if output == "reuse":
        calls = [lambda: base(a, b, out=c_base)]
        calls += [lambda g=g, c=c: g(a, b, out=c) for g, c in zip(gens, c_gens, strict=True)]
    else:
        calls = [lambda: base(a, b)] + [lambda g=g: g(a, b) for g in gens]
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, ts in zip(calls, times, strict=True):
            t0 = time.perf_counter()
            call()
            ts.append(time.perf_counter() - t0)
    base_t, gen_t = times[0], times[1:]
    for g in gens:  # give the kept workspaces back before the (memory-hungry) reference
        if hasattr(g, "release"):
            g.release()
    idx, ref, what = _reference(A, B, rng)
    from fastmm.metrics import cse_fits

    shared = cse_fits(scheme)  # the rule fastmm.export.slp.build_slp applies: reported, not decided
    scale = float(np.abs(A).max()) * float(np.abs(B).max())
    base_err = _error(_as_numpy(c_base), idx, ref, scale)
    blas = blas_description(dtype) if impl != "torch" else "torch's own BLAS"
    out = []
    for asked, c_gen, ts in zip(levels, c_gens, gen_t, strict=True):
        # what the code ran: the cutoff (and ⟨1,1,1⟩) can stop the recursion short of the levels asked
        L = effective_levels(scheme.shape, (M, K, N), asked, cutoff)
        ratio = statistics.median(bt / max(gt, 1e-12) for bt, gt in zip(base_t, ts, strict=True))
        pred, formula = predicted_error(scheme, L, K, dtype)
        out.append(BenchResult(
            scheme=scheme.label(), shape=(M, K, N), levels=L, dtype=dtype, impl=impl,
            baseline=base_name, baseline_times=list(base_t), generated_times=ts, ratio=ratio,
            error=_error(_as_numpy(c_gen), idx, ref, scale), baseline_error=base_err, reference=what,
            stability=float(stability_factor(scheme)), predicted_error=pred, formula=formula,
            blas=blas, extra={"cutoff": cutoff, "seed": seed, "output": output, "levels_asked": asked,
                              "loadavg": list(os.getloadavg()), "shared_subexpressions": shared},
        ))
    return out


def bench(
    scheme: Scheme,
    size: int | tuple[int, int, int],
    levels: int = 1,
    dtype: str = "float64",
    impl: str = "c",
    repeat: int = 5,
    seed: int = 0,
    cutoff: int = 64,
    output: str = "fresh",
) -> BenchResult:
    """Time and check one size (N, or (M, K, N)); see the module docstring for what is measured."""
    if is_sequence(levels):  # one level count here; bench_levels takes several
        raise InputError(f"levels is one level count (bench_levels takes several), got {shown(levels)}")
    return bench_levels(scheme, size, [levels], dtype, impl, repeat, seed, cutoff, output)[0]


def describe(r: BenchResult) -> list[str]:
    """Human-readable lines for one result."""
    M, K, N = r.shape
    head = f"{r.scheme} {r.impl} {r.dtype} {M}x{K}x{N}, {r.levels} level(s): "
    if not r.finite:
        return [head + f"no speed reported: the generated code's result is not finite (error {r.error}; "
                f"the scheme's coefficients overflow {r.dtype}, stability factor E={r.stability:g})",
                f"  BLAS: {r.blas}"]
    note = [] if r.extra.get("shared_subexpressions", True) else [
        "  note: code built without shared subexpressions: the scheme is too large for their search "
        "(as in export)"]
    return [
        head + f"speed ratio {r.ratio:.3f}x "
        f"({r.baseline} median {statistics.median(r.baseline_times):.4f} s, "
        f"generated median {statistics.median(r.generated_times):.4f} s, {len(r.generated_times)} pairs; "
        ">1 means faster)",
        f"  error {r.error:.3e} vs {r.reference} ({r.baseline} error {r.baseline_error:.3e}); "
        f"stability factor E={r.stability:g}, predicted bound {r.predicted_error:.3e} "
        f"[{r.formula}] -> {'within' if r.within_prediction else 'NOT within'} 10x",
        f"  BLAS: {r.blas}",
    ] + note


def plot_speedups(results: list[BenchResult], path: str | os.PathLike, title: str = "") -> None:
    """Speed ratio against size, one line per (impl, dtype, levels, output); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fastmm.io import atomic_write_bytes

    groups: dict[tuple[str, str, int, str], list[BenchResult]] = {}
    for r in results:
        if not r.finite:  # a wrong result has no speed to plot
            continue
        groups.setdefault((r.impl, r.dtype, r.levels, r.extra.get("output", "fresh")), []).append(r)
    outputs = {key[3] for key in groups}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (impl, dtype, levels, output), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r.shape[0])
        label = f"{impl} {dtype}, {levels} level{'s' if levels != 1 else ''}"
        ax.plot([r.shape[0] for r in rs], [r.ratio for r in rs], marker="o",
                ls="-" if output == "reuse" or len(outputs) == 1 else ":",
                label=label + (f" ({output} outputs)" if len(outputs) > 1 else ""))
    ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (square matrices)")
    ax.set_ylabel("speed ratio (baseline time / generated time)")
    ax.set_title(title or (results[0].scheme + " vs " + results[0].baseline if results else ""))
    ax.grid(True, alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
