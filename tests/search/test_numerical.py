"""The numerical engine's exact side: grids, exact re-solves over Q, the final check, and what a
rational result can be used for (catalogue under ring Q, C / NumPy / Torch code)."""

from __future__ import annotations

import shutil
from fractions import Fraction

import numpy as np
import pytest

from fastmm.reference import strassen
from fastmm.search.rounding import exact_factor, exact_scheme, float_residual, snap, to_fractions
from fastmm.verify import verify


def _factors(scheme):
    """(U, V, W) with W = Wcᵀ, one row per term, as the numerical engine holds them."""
    return [scheme.Wa.astype(object), scheme.Wb.astype(object), scheme.Wc.T.astype(object)]


def _halved_strassen():
    """Strassen's U[0] doubled and the float guess of W noisy: the exact W needs halves."""
    u, v, w = _factors(strassen())
    u[0] = u[0] * 2
    noisy = w.astype(float) + np.random.default_rng(0).normal(0, 0.05, w.shape)
    noisy[0] /= 2
    return u, v, noisy


def test_snap_and_fractions():
    x = np.array([[0.26, -0.74, 1.9, 3.2]])
    assert snap(x, 2, 2.0).tolist() == [[0.5, -0.5, 2.0, 2.0]]
    assert snap(x, 1, 1.0).tolist() == [[0.0, -1.0, 1.0, 1.0]]
    assert to_fractions(snap(x, 4, 2.0), 4).tolist() == [[Fraction(1, 4), Fraction(-3, 4), 2, 2]]


def test_exact_factor_recovers_strassen_from_a_noisy_guess():
    u, v, w = _factors(strassen())
    noisy = w.astype(float) + np.random.default_rng(1).normal(0, 0.1, w.shape)
    got = exact_factor((2, 2, 2), [u, v, noisy], 2)
    assert got is not None
    assert [[Fraction(x) for x in row] for row in got[2]] == [[Fraction(int(x)) for x in row] for row in w]


def test_exact_factor_finds_halves_and_the_result_is_labelled_q():
    u, v, noisy = _halved_strassen()
    facs = exact_factor((2, 2, 2), [u, v, noisy], 2)
    assert facs is not None and Fraction(1, 2) in {abs(Fraction(x)) for x in facs[2].flat}
    s = exact_scheme((2, 2, 2), *facs, ring="Q", provenance={"method": "test"})
    assert s is not None and s.ring == "Q" and verify(s, use_sympy=True).ok
    assert exact_scheme((2, 2, 2), *facs, ring="ZT", provenance={}) is None  # not over Z


def test_exact_factor_reports_an_inconsistent_system():
    u, v, w = _factors(strassen())
    u[0, 0] = 0 if u[0, 0] else 1  # a wrong coefficient in a fixed factor: no W can repair it
    assert exact_factor((2, 2, 2), [u, v, w.astype(float)], 2) is None


def test_a_failing_rounding_is_never_returned():
    u, v, w = _factors(strassen())
    w[3, 1] = 1 - w[3, 1]
    assert exact_scheme((2, 2, 2), u, v, w, ring="Q", provenance={}) is None
    assert float_residual((2, 2, 2), *(x.astype(float) for x in (u, v, w))) > 0.5


def test_terms_with_a_zero_factor_are_dropped():
    u, v, w = _factors(strassen())
    u = np.vstack([u, np.zeros((1, 4), dtype=object)])
    v = np.vstack([v, np.ones((1, 4), dtype=object)])
    w = np.vstack([w, np.ones((1, 4), dtype=object)])
    s = exact_scheme((2, 2, 2), u, v, w, ring="ZT", provenance={})
    assert s is not None and s.rank == 7 and s.ring == "ZT"


def test_z2_search_labels_its_result_z2():
    u, v, w = _factors(strassen())
    w[0] = w[0] * 3  # valid modulo 2 only
    assert exact_scheme((2, 2, 2), u, v, w, ring="ZT", provenance={}) is None
    s = exact_scheme((2, 2, 2), u, v, w, ring="Z2", provenance={})
    assert s is not None and s.ring == "Z2"


def test_rational_result_joins_the_catalogue_under_ring_q(tmp_path):
    from fastmm.catalog import add_to_catalog, scan_catalog

    u, v, noisy = _halved_strassen()
    s = exact_scheme((2, 2, 2), *exact_factor((2, 2, 2), [u, v, noisy], 2), ring="Q", provenance={})
    assert add_to_catalog(s, tmp_path)
    entries, problems = scan_catalog(tmp_path)
    assert problems == [] and [(e.shape, e.rank, e.ring) for e in entries] == [((2, 2, 2), 7, "Q")]


@pytest.mark.parametrize("target", ["numpy", "torch", "c"])
def test_rational_result_exports_to_code_that_multiplies(target):
    u, v, noisy = _halved_strassen()
    s = exact_scheme((2, 2, 2), *exact_factor((2, 2, 2), [u, v, noisy], 2), ring="Q", provenance={})
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(8, 6)), rng.normal(size=(6, 4))
    if target == "numpy":
        from fastmm.export.pycode import numpy_function

        got = numpy_function(s)(a, b, levels=1, leaf=1)
    elif target == "torch":
        torch = pytest.importorskip("torch")
        from fastmm.export.pycode import torch_function

        got = torch_function(s)(torch.tensor(a), torch.tensor(b), levels=1, leaf=1).numpy()
    else:
        if shutil.which("cc") is None:
            pytest.skip("no C compiler")
        from fastmm.export.build import c_function

        got = c_function(s, levels=1)(a, b)
    assert np.allclose(got, a @ b, atol=1e-12)


def _batched(scheme, torch):
    return [torch.tensor(x.astype(float))[None] for x in _factors(scheme)]


def test_brent_residual_and_an_exact_als_solve():
    """The residual is 0 at Strassen; one undamped ALS solve for U from a wrong U restores it."""
    torch = pytest.importorskip("torch")
    from fastmm.search.numerical import Brent, gram

    br = Brent(2, 2, 2, torch.device("cpu"))
    u, v, w = _batched(strassen(), torch)
    assert float(br.residual(u, v, w)) == 0.0
    g = gram(v) * gram(w)
    u_new = torch.linalg.solve(g, br.mttkrp(0, u + 0.3, v, w))
    assert torch.allclose(u_new, u, atol=1e-10)
    assert float(br.residual(u + 0.3, v, w)) > 1.0


def test_rescaling_terms_keeps_the_tensor():
    torch = pytest.importorskip("torch")
    from fastmm.search.numerical import Brent, rescale_terms

    br = Brent(2, 3, 4, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    u, v, w = (torch.randn(3, 20, d, generator=g, dtype=torch.float64) for d in (6, 12, 8))
    ru, rv, rw = rescale_terms(u, v, w)
    assert torch.allclose(br.tensor(ru, rv, rw), br.tensor(u, v, w))
    assert torch.allclose(ru.abs().amax(2), torch.ones(3, 20, dtype=torch.float64))


def test_adam_simplify_step_uses_its_own_learning_rate():
    """Adam's first step moves every entry with a gradient by lr: simplify_lr while simplifying,
    lr (scaled by the residual, at most lr) while fitting."""
    torch = pytest.importorskip("torch")
    from fastmm.search.base import SearchTask
    from fastmm.search.numerical import SIMPLIFY, Batch, NumConfig

    task = SearchTask(2, 2, 3, 11, "ZT", 0)
    cfg = NumConfig.from_options({"optimizer": "adam", "lr": 0.05, "simplify_lr": 0.003, "batch": 2})
    batch = Batch(task, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    before = [f.clone() for f in batch.factors]
    batch.phase[:] = SIMPLIFY
    batch.pull[:] = 1e-3
    batch.step(torch.arange(2), "adam", "grid", 1, 1.0)
    moved = max(float((f - b).abs().max()) for f, b in zip(batch.factors, before, strict=True))
    assert moved == pytest.approx(0.003, rel=1e-3)

    batch.reset_adam(torch.ones(2, dtype=torch.bool))
    before = [f.clone() for f in batch.factors]
    batch.step(torch.arange(2), "adam", "none", 1, 1.0)
    moved = max(float((f - b).abs().max()) for f, b in zip(batch.factors, before, strict=True))
    assert 0.003 * 1.01 < moved <= 0.05 * 1.001
