"""`--method als`: batched regularised ALS, rounding, exact finishing, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastmm.errors import InputError  # noqa: E402
from fastmm.scheme import ring_serves  # noqa: E402
from fastmm.search.als import run  # noqa: E402
from fastmm.search.base import METHODS, Progress, SearchTask, method_function  # noqa: E402
from fastmm.search.runner import run_search  # noqa: E402
from fastmm.verify import verify  # noqa: E402


def _run(task: SearchTask, stop=lambda: False):
    seen: list[Progress] = []
    return run(task, seen.append, stop), seen


@pytest.fixture(scope="module")
def strassen_search():
    return _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60))


def test_finds_exact_ternary_rank7_scheme(strassen_search):
    out, seen = strassen_search
    s = out.scheme
    assert out.stopped == "found" and s is not None
    assert s.shape == (2, 2, 2) and s.rank == 7 and s.ring == "ZT"
    for w in (s.Wa, s.Wb, s.Wc):
        assert set(np.unique(w)) <= {-1, 0, 1}
    assert verify(s, use_sympy=True).ok
    assert s.provenance["method"] == "als" and s.provenance["seed"] == 0
    assert seen and seen[-1].note == "found"


def test_deterministic_per_seed(strassen_search):
    out, _ = strassen_search
    again, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60))
    assert again.scheme == out.scheme and again.steps == out.steps


def test_batch_replaces_stalled_restarts():
    """Without re-draws, more initialisations than batch slots: stalled restarts were replaced
    inside the batch."""
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60, options={"redraw": 0}))
    assert out.scheme is not None and out.restarts > 64 and out.counters.redrawn == 0


def test_stuck_restarts_redraw_terms_before_they_are_replaced():
    """⟨2,3,3;15⟩ in collect mode (each of 64 restarts to its end, fit only): with re-draws most
    restarts fit, and no restart re-draws more often than allowed (measured 45% → 94% of 640)."""
    def fits(redraw: int):
        task = SearchTask(2, 3, 3, rank=15, ring="Q", seed=1000, time_limit=120, options={
            "collect": True, "frames": False, "simplify_steps": 10, "blowup": 1e9, "redraw": redraw})
        out, _ = _run(task)
        return out.counters
    plain, again = fits(0), fits(2)
    assert plain.redrawn == 0 and again.restarts == plain.restarts == 64
    assert 0 < again.redrawn <= 2 * 64
    assert again.fitted > plain.fitted + 10


def test_fits_outside_the_ring_refit_over_zt_only():
    """⟨2,3,3;15⟩ in collect mode, 16 restarts: most fits lie where no ternary scheme is
    (benchmarks/numerical_components.py); with `refit`, a fit that neither the frames nor the pull
    to the grid made ternary re-draws terms and fits again, at most `refit` times, and more
    restarts end ternary. Over Q a fit is finished as it is."""
    def collect(ring: str, refit: int, batch: int = 16):
        task = SearchTask(2, 3, 3, rank=15, ring=ring, seed=3, time_limit=240,
                          options={"collect": True, "batch": batch, "refit": refit, "finish": 0,
                                   "simplify_steps": 100})
        out, _ = _run(task)
        for s in out.collected:
            assert verify(s, use_sympy=False).ok and ring_serves(s.ring, ring)
        return out.counters, len(out.collected)
    (plain, found_plain), (again, found_again) = collect("ZT", 0), collect("ZT", 6)
    assert plain.refitted == 0 and 0 < again.refitted <= 6 * 16
    assert found_again > found_plain
    q, _ = collect("Q", 6, batch=4)
    assert q.refitted == 0


def test_ring_q_result_is_verified_and_labelled_by_its_coefficients():
    out, _ = _run(SearchTask(2, 2, 3, rank=11, ring="Q", seed=0, time_limit=60))
    s = out.scheme
    assert s is not None and verify(s, use_sympy=True).ok
    assert s.ring == s.coefficient_ring  # Q exactly when some coefficient is not an integer
    assert s.ring in ("ZT", "Z", "Q")


def test_z2_ring_is_verified_mod_2():
    out, _ = _run(SearchTask(2, 2, 2, rank=7, ring="Z2", seed=1, time_limit=60))
    assert out.scheme is not None and out.scheme.ring == "Z2"
    assert verify(out.scheme, use_sympy=False).ok


def test_adam_optimizer_finds_strassen():
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60,
                             options={"optimizer": "adam", "lr": 0.05}))
    assert out.scheme is not None and out.scheme.ring == "ZT" and verify(out.scheme).ok


def test_time_limit_on_unreachable_rank_returns_none():
    out, seen = _run(SearchTask(2, 3, 4, rank=17, seed=0, time_limit=2.0))
    assert out.scheme is None and out.best is None and out.stopped == "time"
    assert 2.0 <= out.seconds < 4.0 and out.steps > 0 and seen


def test_should_stop_is_honoured():
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    out, _ = _run(SearchTask(2, 3, 4, rank=17, seed=0), stop)
    assert out.scheme is None and out.stopped == "stopped" and out.seconds < 2.0


def test_max_restarts_bounds_the_initialisations():
    out, _ = _run(SearchTask(2, 3, 4, rank=17, seed=0, time_limit=30,
                             options={"batch": 8, "max_restarts": 20, "fit_steps": 300, "ridge_steps": 100}))
    assert out.scheme is None and out.restarts == 20 and out.stopped == "restarts"
    assert out.steps >= 20 * 100  # every restart ran at least through its ridge


def test_max_restarts_below_the_batch_draws_only_those_and_runs_them_to_their_end():
    """max_restarts=1 once drew a whole batch of 64 and stopped them all after 10 sweeps."""
    out, _ = _run(SearchTask(2, 3, 4, rank=17, seed=0, time_limit=30,
                             options={"max_restarts": 1, "fit_steps": 200, "ridge_steps": 100, "redraw": 0}))
    assert out.scheme is None and out.restarts == 1 and out.stopped == "restarts"
    assert 100 <= out.steps <= 220  # its ridge (100 sweeps) or its fit (200), not 10 sweeps of 64


def test_a_search_that_used_up_max_restarts_says_so_not_a_time_limit():
    import fastmm
    from fastmm.errors import SearchFailed

    with pytest.raises(SearchFailed, match=r"in 8 restart\(s\) \(its max_restarts\)") as err:
        fastmm.search((2, 3, 4), rank=17, method="als", time_limit=60, sympy=False,
                      options={"batch": 8, "max_restarts": 8})
    assert "within" not in str(err.value) and err.value.outcome.stopped == "restarts"


def test_registered_and_runs_through_the_runner():
    assert METHODS["als"] == "fastmm.search.als:run"
    assert method_function("als") is run
    summary = run_search(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60), "als")
    assert summary.outcome.scheme is not None and verify(summary.outcome.scheme).ok


@pytest.mark.parametrize("task, message", [
    (SearchTask(2, 2, 2, rank=6), "rank ≥ 7 is proven"),
    (SearchTask(3, 3, 3, rank=18), "rank ≥ 19 is proven"),
    (SearchTask(2, 2, 9, rank=30), "outside the search limit"),
    (SearchTask(2, 2, 2, rank=7, options={"speed": 3}), "unknown als option"),
    (SearchTask(2, 2, 2, rank=7, options={"optimizer": "sgd"}), "optimizer must be"),
    (SearchTask(2, 2, 2, rank=7, ring="GF3"), "searches rings"),
    (SearchTask(2, 2, 2, rank=7, options={"redraw": -1}), "redraw must be"),
    (SearchTask(2, 2, 2, rank=7, options={"redraw_share": 0.0}), "redraw_share in"),
    (SearchTask(2, 2, 2, rank=7, options={"redraw_share": 1.5}), "redraw_share in"),
    (SearchTask(2, 2, 2, rank=7, options={"batch": "64"}), "option batch must be a number"),
    (SearchTask(2, 2, 2, rank=7, options={"batch": 6.5}), "batch must be a whole number"),
    (SearchTask(2, 2, 2, rank=7, options={"ridge": float("nan")}), "ridge must be a number"),
    (SearchTask(2, 2, 2, rank=7, options={"frames": 1}), "frames must be true or false"),
    (SearchTask(2, 2, 2, rank=7, options={"denominators": "12"}), "denominators must be a list"),
    (SearchTask(2, 2, 2, rank=7, options={"check_every": 0}), "check_every must be at least 1"),
    (SearchTask(2, 2, 2, rank=7, options={"lr": -0.5}), "lr must be at least 0"),
    (SearchTask(2, 2, 2, rank=7, options={"finish": -2}), "finish must be at least -1"),
    # values at which no restart can ever succeed (an all-zero start, a residual of exactly 0)
    (SearchTask(2, 2, 2, rank=7, options={"init_std": 0}), "init_std must be above 0"),
    (SearchTask(2, 2, 2, rank=7, options={"fit_tol": 0.0}), "fit_tol must be above 0"),
    (SearchTask(2, 2, 2, rank=7, options={"lr": 0}), "lr must be above 0"),
    (SearchTask(2, 2, 2, rank=7, options={"lr_scale": 0}), "lr_scale must be above 0"),
    # ints past a float's range: math.isfinite overflowed on them (an internal error)
    (SearchTask(2, 2, 2, rank=7, options={"init_std": 10**400}), r"init_std must be at most .* chara"),
    (SearchTask(2, 2, 2, rank=7, options={"fit_steps": 10**400}), "fit_steps must be a whole number below"),
    (SearchTask(2, 2, 2, rank=7, options={"ridge": -(10**400)}), "ridge must be at least 0"),
    (SearchTask(2, 2, 2, rank=7, options={"denominators": [10**400]}), "denominators must be"),
])
def test_bad_input_is_one_input_error(task, message):
    with pytest.raises(InputError, match=message):
        run(task, lambda p: None, lambda: False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_one_input_error():
    with pytest.raises(InputError, match="no CUDA GPU"):
        run(SearchTask(2, 2, 2, rank=7, options={"device": "cuda"}), lambda p: None, lambda: False)


def test_collect_mode_runs_every_restart_to_its_end():
    """The per-restart measurement: no replacements; each restart verified once or given up."""
    from fastmm.search.numerical import DONE, NumConfig, NumericalSearch

    task = SearchTask(2, 2, 2, rank=7, seed=3, time_limit=600, options={"batch": 12, "collect": True})
    search = NumericalSearch(task, NumConfig.from_options(task.options), "als",
                             lambda p: None, lambda: False)
    out = search.run()
    assert out.restarts == 12 and search.count.restarts == 12
    assert search.stopped == "restarts"  # all twelve finished (600 s: a loaded machine took 65)
    assert search.count.found == len(search.collected) >= 1
    assert search.count.found + search.count.replaced == 12
    ids = [s.provenance["restart"] for s in search.collected]
    assert len(set(ids)) == len(ids)  # one scheme per restart
    assert all(verify(s).ok and s.rank == 7 and s.ring == "ZT" for s in search.collected)
    assert out.scheme == search.collected[0]
    assert DONE == 2


def test_gauss_newton_polishes_a_near_solution_to_machine_precision():
    from fastmm.reference import strassen
    from fastmm.search.numerical import Brent, gauss_newton

    s = strassen()
    exact = [torch.tensor(np.asarray(x, dtype=float))[None] for x in (s.Wa, s.Wb, s.Wc.T)]
    noise = torch.Generator().manual_seed(0)
    near = [x + 1e-3 * torch.randn(x.shape, generator=noise, dtype=torch.float64) for x in exact]
    brent = Brent(2, 2, 2, torch.device("cpu"))
    before = float(brent.residual(*near)[0])
    after = float(brent.residual(*gauss_newton(brent, near, 6))[0])
    assert before > 1e-6 and after < 1e-24


def test_one_short_flags_a_fit_missing_one_product():
    """Strassen less one product leaves a rank-one residual (the usual dead end); a point at
    random, or Strassen itself, is not flagged."""
    from fastmm.reference import strassen
    from fastmm.search.numerical import Batch, NumConfig, one_short

    s = strassen()
    exact = [torch.tensor(np.asarray(x, dtype=float)) for x in (s.Wa, s.Wb, s.Wc.T)]
    batch = Batch(SearchTask(2, 2, 2, rank=6, seed=0), NumConfig(batch=3), torch.device("cpu"),
                  torch.Generator().manual_seed(0))
    batch.factors[0][0], batch.factors[1][0], batch.factors[2][0] = (x[:6] for x in exact)
    batch.factors[0][1], batch.factors[1][1], batch.factors[2][1] = (x[1:] for x in exact)
    batch.factors[0][2, 0] = float("nan")  # a restart that blew up is never flagged
    everyone = torch.ones(3, dtype=torch.bool)
    assert one_short(batch, everyone).tolist() == [True, True, False]
    assert one_short(batch, torch.tensor([False, True, True])).tolist() == [False, True, False]
    batch.factors[0][2] = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert not bool(one_short(batch, everyone)[2])


def test_stalled_restarts_one_product_short_are_counted():
    task = SearchTask(2, 3, 3, rank=15, seed=0, time_limit=120, options={"batch": 8, "collect": True,
                                                                     "redraw": 0})
    out, _ = _run(task)
    c = out.counters
    assert c.found + c.replaced == 8
    # seed 0: three of the eight restarts never fit; one ends one product short (residual 1.0),
    # two were still creeping down (residual 0.002, not of rank one) when their sweeps ran out
    assert c.fitted == 5 and c.short_by_one == 1


def test_a_ridge_longer_than_the_fit_is_refused_not_a_silent_failure():
    with pytest.raises(InputError, match=r"ridge_steps \(1500\) must be below fit_steps \(1200\)"):
        _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=20, options={"ridge_steps": 1500}))
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60,
                             options={"ridge_steps": 1500, "fit_steps": 3000}))
    assert out.scheme is not None


def test_long_polishes_and_newton_steps_keep_the_time_limit():
    with pytest.raises(InputError, match="newton_steps must be at most 100"):
        _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=5, options={"newton_steps": 3000}))
    # every restart "fits" at once and polishes for 10⁸ sweeps: the polish must look at the clock
    out, _ = _run(SearchTask(2, 3, 4, rank=17, seed=0, time_limit=2,
                             options={"fit_tol": 1e30, "polish_steps": 100_000_000, "batch": 4}))
    assert out.scheme is None and out.seconds < 5


def test_a_save_fitted_folder_that_cannot_be_written_costs_only_the_points(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60,
                             options={"save_fitted": str(blocker / "points")}))
    assert out.scheme is not None and verify(out.scheme).ok
    err = capsys.readouterr().err
    assert err.count("warning: --save-fitted stopped") == 1 and "goes on" in err


def test_save_fitted_keeps_every_fitted_point_when_one_verifies(tmp_path):
    """helper-77: the restarts that fitted in the same check as the one that verified were lost."""
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60,
                             options={"save_fitted": str(tmp_path / "points")}))
    assert out.scheme is not None
    assert len(list((tmp_path / "points").glob("*.npz"))) > 1


def test_a_save_fitted_folder_that_cannot_be_written_is_refused_before_the_search(tmp_path):
    import fastmm

    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    with pytest.raises(InputError, match="a dangling symlink"):
        fastmm.search((2, 2, 2), 7, method="als", time_limit=5,
                      options={"save_fitted": str(tmp_path / "dangling")})
    if os.geteuid() != 0:  # root writes anywhere the mode bits forbid
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(InputError, match="cannot write there"):
                fastmm.search((2, 2, 2), 7, method="als", time_limit=5,
                              options={"save_fitted": str(locked)})
        finally:
            locked.chmod(0o700)


def test_finish_is_by_ring_or_seconds_not_a_fraction_below_zero():
    with pytest.raises(InputError, match=r"finish is -1 \(by ring\) or seconds >= 0, got -0.5"):
        _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=5, options={"finish": -0.5}))


def test_a_save_fitted_name_too_long_or_under_a_file_is_one_clear_error(tmp_path):
    import fastmm

    (tmp_path / "afile").write_text("x")
    for folder, message in [("x" * 300, "cannot write there"),
                            (str(tmp_path / "afile" / "sub"), "is not a folder")]:
        with pytest.raises(InputError, match=message):
            fastmm.search((2, 2, 2), 7, method="als", time_limit=5, options={"save_fitted": folder})
