"""`fastmm bench` and fastmm.bench: ratios and errors are reported (speed is not asserted)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastmm.bench import bench, path_additions, predicted_error
from fastmm.errors import InputError, VerificationError
from fastmm.io import save_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme

REPO = Path(__file__).resolve().parents[2]
needs_cc = pytest.mark.skipif(shutil.which("cc") is None and os.environ.get("CI", "").lower() != "true",
                              reason="no C compiler (cc) on PATH")  # on CI (CI=true): fail, not skip


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path_factory.getbasetemp() / "bench-cache"))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *args], capture_output=True,
                          text=True, cwd=cwd, env=dict(os.environ))


def test_prediction_formula_for_strassen():
    s = strassen()
    assert path_additions(s) == 5  # Higham's Strassen bound has 5·n0
    value, text = predicted_error(s, 2, 64, "float64")
    k0 = 64 / 4
    assert value == pytest.approx((k0 * k0 + 5 * k0) * 12**2 * 2.0**-53)
    assert "E=12" in text and "L=2" in text
    assert path_additions(laderman()) == 6 + 6 + 6


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bench_reports_ratio_and_error(dtype):
    r = bench(strassen(), 70, levels=2, dtype=dtype, impl="c", repeat=2, cutoff=4)
    assert r.ratio > 0 and len(r.generated_times) == len(r.baseline_times) == 2
    assert r.baseline == "numpy.matmul"
    assert math.isfinite(r.error) and r.error > 0  # random inputs: rounding is visible
    assert r.within_prediction
    eps = np.finfo(dtype).eps
    assert r.error < 1e3 * 70 * eps  # a wrong product would be O(1)
    assert ("long double" in r.reference) == (dtype == "float64")
    assert r.stability == 12.0


@needs_cc
def test_bench_samples_rows_for_big_float64(monkeypatch):
    import fastmm.bench as fb

    monkeypatch.setattr(fb, "REF_BUDGET", 40 * 40 * 8)
    r = bench(strassen(), 40, levels=1, repeat=1, cutoff=4)
    assert "8 random rows of 40" in r.reference
    assert r.error < 1e-13


@needs_cc
def test_bench_with_reused_outputs_times_the_same_product():
    r = bench(strassen(), 70, levels=2, impl="c", repeat=2, cutoff=4, output="reuse")
    assert r.extra["output"] == "reuse" and len(r.generated_times) == 2
    assert r.within_prediction and r.error < 1e3 * 70 * np.finfo("float64").eps


def test_bench_reuse_needs_the_c_implementation():
    from fastmm.errors import InputError

    with pytest.raises(InputError, match="needs --impl c"):
        bench(strassen(), 16, impl="numpy", output="reuse")
    with pytest.raises(InputError, match="output must be one of"):
        bench(strassen(), 16, output="sometimes")


def test_bench_numpy_impl():
    pytest.importorskip("fastmm.export.pycode")
    r = bench(laderman(), 30, levels=1, impl="numpy", repeat=1, cutoff=4)
    assert r.impl == "numpy" and r.error < 1e-13


def test_bench_refuses_invalid_scheme():
    s = strassen()
    wa = s.Wa.copy()
    wa[0, 0] = 0
    with pytest.raises(VerificationError):
        bench(Scheme(2, 2, 2, wa, s.Wb, s.Wc), 16, repeat=1)


@needs_cc
def test_cli_bench_prints_ratio_error_and_plot(tmp_path):
    save_scheme(strassen(), tmp_path / "s.json")
    proc = _cli("bench", "s.json", "--size", "48", "--levels", "1", "--repeat", "1", "--cutoff", "8",
                "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "speed ratio" in proc.stdout and "error" in proc.stdout
    assert "stability factor E=12" in proc.stdout
    data = json.loads((tmp_path / "out.json").read_text())
    assert data[0]["shape"] == [48, 48, 48] and data[0]["ratio"] > 0
    proc = _cli("bench", "s.json", "--sizes", "32,40", "--plot", "speed.png", "--repeat", "1",
                "--dtype", "float32", "--cutoff", "8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "speed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert proc.stdout.count("speed ratio") == 2


def test_cli_bench_refuses_failing_and_tampered_files(tmp_path):
    s = strassen()
    wc = s.Wc.copy()
    wc[3, 0] = 0
    save_scheme(Scheme(2, 2, 2, s.Wa, s.Wb, wc), tmp_path / "wrong.json")
    proc = _cli("bench", "wrong.json", "--size", "16", "--repeat", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "fails verification" in proc.stderr
    save_scheme(s, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    data["Wc"][0][0] = "1; } void evil(void) { abort();"
    (tmp_path / "evil.json").write_text(json.dumps(data))
    cache = Path(os.environ["FASTMM_CACHE"]) / "evil-check"
    env_cache = dict(os.environ, FASTMM_CACHE=str(cache))
    proc = subprocess.run([sys.executable, str(REPO / "cli.py"), "bench", "evil.json", "--size", "16"],
                          capture_output=True, text=True, cwd=tmp_path, env=env_cache)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not cache.exists()  # nothing generated, nothing compiled


def test_cli_bench_with_a_build_cache_that_cannot_be_made_says_so(tmp_path):
    """QA-128: one line naming the cache and $FASTMM_CACHE, exit 1 (it was a usage error)."""
    save_scheme(strassen(), tmp_path / "s.json")
    (tmp_path / "file").write_text("")
    env = dict(os.environ, FASTMM_CACHE=str(tmp_path / "file" / "cache"))
    proc = subprocess.run([sys.executable, str(REPO / "cli.py"), "bench", "s.json", "--size", "16",
                           "--repeat", "1"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("error: cannot create the build cache ")
    assert len(proc.stderr.strip().splitlines()) == 1 and "$FASTMM_CACHE" in proc.stderr


def test_the_blas_line_names_the_gemm_of_the_dtype_benched() -> None:
    from fastmm.errors import FastmmError
    from fastmm.export.build import find_blas

    try:
        blas = find_blas()
    except FastmmError as exc:
        pytest.skip(f"no BLAS library here: {exc}")
    assert f"({blas.sgemm}" in blas.describe("float32")
    assert f"({blas.dgemm}" in blas.describe("float64") and f"({blas.dgemm}" in blas.describe()


def test_the_seed_has_the_limit_every_command_has(tmp_path):
    # bench took seeds up to 2^63 - 1 while search, lift and train stop below 2^62
    from fastmm.arguments import SEED_LIMIT

    save_scheme(strassen(), tmp_path / "s7.json")
    want = f"error: the seed must be an integer in [0, 2^62), got {SEED_LIMIT}\n"
    for args in (["bench", "s7.json", "--size", "64"], ["search", "2", "2", "2", "--rank", "7"],
                 ["lift", "s7.json"]):
        r = _cli(*args, "--seed", str(SEED_LIMIT), cwd=tmp_path)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", want), args
    with pytest.raises(InputError, match=r"^the seed must be an integer in \[0, 2\^62\), got -1$"):
        bench(strassen(), 64, seed=-1)  # the library's own rule, not only the command's


def _overflowing_strassen() -> Scheme:
    """Strassen with its second term split as (a + k·e)⊗b⊗c + (k·e)⊗b⊗(−c), k = 2^61: exact over
    Z, but float32 (and float64 at a few levels) overflows inside it."""
    s = strassen()
    wa = s.Wa.astype(object)
    e = np.zeros(4, dtype=object)
    e[0] = 2**61
    wa[1] = wa[1] + e
    return Scheme(2, 2, 2, np.vstack([wa, e[None]]), np.vstack([s.Wb, s.Wb[1:2]]),
                  np.hstack([s.Wc, -s.Wc[:, 1:2]]))


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_a_result_that_is_not_finite_gets_no_speed(tmp_path):
    scheme = _overflowing_strassen()
    r = bench(scheme, 64, levels=3, dtype="float32", impl="numpy", repeat=1, cutoff=4)
    assert not r.finite and not r.within_prediction
    assert r.to_dict()["ratio"] is None and r.to_dict()["error"] is None
    save_scheme(scheme, tmp_path / "big.json")
    proc = _cli("bench", "big.json", "--size", "64", "--levels", "3", "--dtype", "float32", "--impl", "numpy",
                "--repeat", "1", "--cutoff", "4", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "speed ratio" not in proc.stdout and "no speed reported" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the generated code's result is not finite")
    data = json.loads((tmp_path / "out.json").read_text())  # strict JSON: no NaN
    assert data[0]["finite"] is False and data[0]["ratio"] is None
    assert bench(strassen(), 64, levels=1, impl="numpy", repeat=1, cutoff=4).finite


def test_results_report_the_levels_the_cutoff_lets_run_not_the_levels_asked():
    """QA-142: bench(..., levels=3, cutoff=256) at 512 ran one level and reported 3, with the
    error bound of 3 (blas_vs_strassen.py labelled its rows so)."""
    from fastmm.bench import bench_levels

    rs = bench_levels(strassen(), 64, [1, 2, 3], impl="numpy", repeat=1, cutoff=32)
    assert [r.levels for r in rs] == [1, 1, 1]
    assert [r.extra["levels_asked"] for r in rs] == [1, 2, 3]
    assert len({r.predicted_error for r in rs}) == 1  # the bound of the level that ran
    assert bench_levels(strassen(), (64, 128, 64), [2], impl="numpy", repeat=1, cutoff=16)[0].levels == 2
