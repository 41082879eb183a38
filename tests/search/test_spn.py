"""`--method spn`: SPN training with L1 sparsification and TWN/STE ternary fine-tuning (the single
engine; the batched engine, the default, is tested at the end and in test_numerical.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("torch")

from fastmm.errors import InputError  # noqa: E402
from fastmm.metrics import factor_rank_invariant  # noqa: E402
from fastmm.reference import strassen  # noqa: E402
from fastmm.search.base import Progress, SearchTask  # noqa: E402
from fastmm.search.spn import SPNConfig, rescaled, run, spn_tensor  # noqa: E402
from fastmm.verify import brent_report, verify  # noqa: E402


def _run(task: SearchTask, stop=lambda: False):
    """The single engine unless the task names one."""
    seen: list[Progress] = []
    if "engine" not in task.options:
        task = SearchTask(*task.shape, task.rank, task.ring, task.seed, task.time_limit,
                          {"engine": "single", **task.options})
    return run(task, seen.append, stop), seen


@pytest.fixture(scope="module")
def strassen_search():
    return _run(SearchTask(2, 2, 2, rank=7, seed=1, time_limit=60))


def test_finds_exact_ternary_rank7_scheme(strassen_search):
    out, seen = strassen_search
    assert out.stopped == "found"
    s = out.scheme
    assert s is not None and s.shape == (2, 2, 2) and s.rank == 7
    assert s.ring == "ZT"
    for w in (s.Wa, s.Wb, s.Wc):
        assert set(np.unique(w)) <= {-1, 0, 1}
    assert brent_report(s).ok
    assert verify(s, use_sympy=True).ok
    assert s.provenance["method"] == "spn" and s.provenance["seed"] == 1
    assert seen and seen[0].rank == 7 and seen[-1].note == "found"


def test_rediscovers_strassen_up_to_equivalence(strassen_search):
    out, _ = strassen_search
    want = factor_rank_invariant(strassen())
    assert want == Counter({(1, 1, 1): 6, (2, 2, 2): 1})
    assert factor_rank_invariant(out.scheme) == want


def test_deterministic_per_seed(strassen_search):
    out, _ = strassen_search
    again, _ = _run(SearchTask(2, 2, 2, rank=7, seed=1, time_limit=60))
    assert again.scheme == out.scheme and again.steps == out.steps


def test_z2_ring_is_verified_mod_2():
    out, _ = _run(SearchTask(2, 2, 2, rank=7, ring="Z2", seed=3, time_limit=60))
    assert out.scheme is not None and out.scheme.ring == "Z2"
    assert verify(out.scheme, use_sympy=False).ok


def test_time_limit_on_impossible_rank_returns_none():
    out, seen = _run(SearchTask(2, 2, 2, rank=6, seed=0, time_limit=2.0))
    assert out.scheme is None and out.best is None
    assert out.stopped == "time"
    assert 2.0 <= out.seconds < 4.0
    assert out.steps > 0 and seen


def test_should_stop_is_honoured():
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    out, _ = _run(SearchTask(2, 2, 2, rank=6, seed=0), stop)
    assert out.scheme is None and out.stopped == "stopped"
    assert out.seconds < 2.0


def test_sampled_random_products_also_fit():
    """The paper's objective: Gaussian random products instead of the exact tensor loss."""
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60,
                             options={"loss": "sampled", "samples": 32}))
    assert out.scheme is not None and verify(out.scheme, use_sympy=False).ok


def test_rescale_keeps_the_tensor_and_normalises_terms():
    import torch

    g = torch.Generator().manual_seed(0)
    wa, wb, wc = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((5, 4), (5, 6), (6, 5)))
    ra, rb, rc = rescaled(wa, wb, wc)
    assert torch.allclose(spn_tensor(ra, rb, rc), spn_tensor(wa, wb, wc))
    assert torch.allclose(ra.abs().amax(1), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(rb.abs().amax(1), torch.ones(5, dtype=torch.float64))


def test_unknown_option_and_bad_ring_are_input_errors():
    with pytest.raises(InputError, match="unknown spn option"):
        SPNConfig.from_options({"lr": 0.1, "speed": 3})
    for bad, message in (({"l1_steps": "abc"}, "l1_steps must be a number"),
                         ({"lr": -1}, "lr must be at least 0"),
                         ({"check_every": 0}, "check_every must be at least 1"),
                         ({"loss": 3}, "loss must be a string")):
        with pytest.raises(InputError, match=message):
            SPNConfig.from_options(bad)
    assert SPNConfig.from_options({"lr": 1, "l1_steps": 10.0}).l1_steps == 10
    with pytest.raises(InputError, match="rings"):
        run(SearchTask(2, 2, 2, rank=7, ring="Q", options={"engine": "single"}), lambda p: None,
            lambda: False)


def test_the_default_engine_is_batched_adam():
    """No engine named: the same tensor loss, Adam over a batch of restarts (fastmm.search.numerical)."""
    seen: list[Progress] = []
    out = run(SearchTask(2, 2, 2, rank=7, seed=0, time_limit=60), seen.append, lambda: False)
    s = out.scheme
    assert s is not None and s.ring == "ZT" and verify(s, use_sympy=False).ok
    assert s.provenance["method"] == "spn" and s.provenance["optimizer"] == "adam"
    assert out.counters.redrawn > 0  # stalled restarts re-drew terms inside the batch


def test_device_cpu_is_accepted_and_a_bad_engine_is_an_input_error():
    out, _ = _run(SearchTask(2, 2, 2, rank=7, seed=1, time_limit=60, options={"device": "cpu"}))
    assert out.scheme is not None
    with pytest.raises(InputError, match="engine"):
        run(SearchTask(2, 2, 2, rank=7, options={"engine": "turbo"}), lambda p: None, lambda: False)
    with pytest.raises(InputError, match="CPU only"):
        run(SearchTask(2, 2, 2, rank=7, options={"engine": "single", "device": "cuda"}),
            lambda p: None, lambda: False)


def test_the_single_engine_looks_at_the_clock_whatever_check_every_is():
    out, _ = _run(SearchTask(2, 3, 3, rank=15, seed=0, time_limit=2,
                             options={"engine": "single", "check_every": 100_000_000,
                                      "fit_steps": 100_000_000}))
    assert out.scheme is None and out.seconds < 4


@pytest.mark.parametrize("flag, options", [("--batch", {"batch": 8}),
                                           ("--save-fitted", {"save_fitted": "d"})])
def test_single_engine_refuses_the_batched_engines_options(flag, options):
    """--batch (restarts at once) and --save-fitted belong to the batched engine: the single
    engine says so instead of training with them ignored (batch) or calling them unknown."""
    task = SearchTask(2, 2, 2, 7, "ZT", 0, 5.0, {"engine": "single", **options})
    with pytest.raises(InputError, match=f"^{flag} is for --engine batched; --engine single trains one "):
        run(task, lambda p: None, lambda: False)
