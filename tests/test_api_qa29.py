"""QA-29: the library as a hostile caller uses it (one test per problem found)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SchemeFormatError
from fastmm.export.formats import fast_matmul_text, load_fast_matmul


def test_setting_dtype_or_shape_on_a_handed_out_array_leaves_the_scheme_as_it_was():
    s = fastmm.verified(fastmm.laderman())
    view = s.Wa
    view.dtype = np.uint64  # reinterprets this view only
    shaped = s.Wb
    shaped.shape = (shaped.size,)
    assert s.Wa.dtype == np.int64 and s.Wb.shape == (23, 9)
    assert s.ring == "ZT" and bool(fastmm.verify(s, sympy=False))
    with pytest.raises(ValueError):
        s.Wc.setflags(write=True)


def test_levels_that_cannot_shrink_a_block_do_not_recurse_forever():
    one = fastmm.naive_scheme(1, 1, 1)
    a = np.arange(64 * 64, dtype=float).reshape(64, 64) % 7
    assert np.array_equal(fastmm.matmul(a, a, scheme=one, levels=200_000), a @ a)
    ai = a.astype(np.int64)
    assert np.array_equal(fastmm.matmul(ai, ai, scheme=one, levels=5_000), ai @ ai)
    b = ai[:37, :53] - 3
    c = ai[:53, :29] - 3
    assert np.array_equal(fastmm.matmul(b, c, levels=10**9, cutoff=0), b @ c)
    assert np.array_equal(fastmm.matmul(b, c, scheme=fastmm.naive_scheme(1, 1, 2), levels=10**9, cutoff=0),
                          b @ c)


def test_fast_matmul_round_trips_long_decimals(tmp_path):
    s = fastmm.Scheme(1, 1, 1, [[2**41]], [[1]], [[Fraction(1, 2**41)]])
    text = fast_matmul_text(s)
    assert "0.00000000000045474735088646411895751953125" in text
    path = tmp_path / "s.txt"
    path.write_text(text)
    back = load_fast_matmul(path)
    assert back == s and bool(fastmm.verify(back, sympy=False))


def test_decimals_past_any_bounded_fraction_are_still_refused(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("1\n#\n1\n#\n1e-70\n")
    with pytest.raises(SchemeFormatError, match="beyond the supported bound"):
        load_fast_matmul(path)


@pytest.mark.parametrize("function", [fastmm.verify, fastmm.export, fastmm.catalog, fastmm.search])
def test_the_callable_modules_pickle_by_name(function):
    assert pickle.loads(pickle.dumps(function)) is function


def test_verify_runs_in_a_process_pool():
    with ProcessPoolExecutor(2) as pool:
        verdicts = list(pool.map(fastmm.verify, [fastmm.strassen(), fastmm.laderman()]))
    assert [bool(v) for v in verdicts] == [True, True]


def test_a_rank_0_scheme_counts_one_pass_against_the_verification_limit():
    n = 300
    s = fastmm.Scheme(n, 1, n, np.zeros((0, n), int), np.zeros((0, n), int), np.zeros((n * n, 0), int))
    with pytest.raises(InputError, match="too large to verify"):
        fastmm.verify(s, sympy=False)
    small = fastmm.Scheme(2, 1, 2, np.zeros((0, 2), int), np.zeros((0, 2), int), np.zeros((4, 0), int))
    assert not fastmm.verify(small, sympy=False)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64, np.uint64])
def test_generated_numpy_code_wraps_big_coefficients_as_integer_products_do(dtype):
    s = fastmm.Scheme(1, 1, 1, [[2**40 + 1], [-(2**40)], [301], [-301]], [[1]] * 4, [[1, 1, 1, 1]])
    assert bool(fastmm.verify(s, sympy=False))
    namespace: dict = {}
    exec(fastmm.export(s, to="numpy"), namespace)  # our own generated code
    a = np.array([[3, 100]], dtype)
    b = np.array([[5], [1]], dtype)
    assert np.array_equal(namespace["matmul"](a, b, levels=1, leaf=1), a @ b)


def test_torch_tensors_numpy_cannot_read_are_one_input_error():
    torch = pytest.importorskip("torch")
    for x in (torch.ones(4, 4, dtype=torch.bfloat16), torch.ones(4, 4, requires_grad=True)):
        with pytest.raises(InputError, match="cannot be read as a numpy array"):
            fastmm.matmul(x, np.ones((4, 4)))


def _strassen_in_another_basis(shift: int) -> fastmm.Scheme:
    """Strassen after A → A·Q, B → Q⁻¹·B with Q = [[1, shift], [0, 1]]: valid over Z, with
    coefficients `shift` (the kind of file AlphaTensor and Perminov publish as _Z)."""
    s = fastmm.strassen()
    q = np.array([[1, shift], [0, 1]], dtype=object)
    q_inv = np.array([[1, -shift], [0, 1]], dtype=object)
    eye = np.eye(2, dtype=int).astype(object)
    wa = s.Wa.astype(object).dot(np.kron(eye, q.T))
    wb = s.Wb.astype(object).dot(np.kron(q_inv, eye))
    return fastmm.verified(fastmm.Scheme(2, 2, 2, wa, wb, s.Wc))


@pytest.mark.parametrize("shift", [2, 3])
def test_shared_subexpressions_of_an_integer_scheme_stay_integer(shift):
    from fastmm.export.slp import build_slp

    s = _strassen_in_another_basis(shift)
    slp = build_slp(s, cse=True, drop_dead=True)
    ops = slp.a.temps + slp.a.outputs + slp.b.temps + slp.b.outputs + slp.c.temps + slp.c.outputs
    assert all(c.denominator == 1 for op in ops for _, c in op.terms)
    namespace: dict = {}
    exec(fastmm.export(s, to="numpy"), namespace)  # our own generated code
    rng = np.random.default_rng(shift)
    for _ in range(50):
        a = rng.integers(-2**40, 2**40, (4, 6))
        b = rng.integers(-2**20, 2**20, (6, 2))
        assert np.array_equal(namespace["matmul"](a, b, levels=1, leaf=1), a @ b)
    torch = pytest.importorskip("torch")
    namespace = {}
    exec(fastmm.export(s, to="torch"), namespace)
    a = torch.tensor(rng.integers(-2**40, 2**40, (4, 6)))
    b = torch.tensor(rng.integers(-2**20, 2**20, (6, 2)))
    assert torch.equal(namespace["matmul"](a, b, levels=1, leaf=1), a @ b)


def test_a_file_without_rank_and_without_products_is_refused_as_input(tmp_path):
    path = tmp_path / "r0.json"
    path.write_text('{"shape":[1,1,1],"Wa":[],"Wb":[],"Wc":[[]]}')
    with pytest.raises(SchemeFormatError, match="at least one product"):
        fastmm.load(path)
    result = subprocess.run([sys.executable, "-m", "fastmm", "verify", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_exporting_a_z2_label_on_integer_exact_coefficients_says_the_true_ring():
    naive = fastmm.naive_scheme(2, 2, 2).with_meta(ring="Z2")
    assert '"z2": true' not in fastmm.export(naive, to="perminov")
    assert "modulo 2" not in fastmm.export(naive, to="text")
    s = fastmm.strassen()
    mod2 = fastmm.Scheme(2, 2, 2, abs(s.Wa), abs(s.Wb), abs(s.Wc), ring="Z2")  # valid modulo 2 only
    assert '"z2": true' in fastmm.export(mod2, to="perminov")


def test_the_c_header_names_the_products_it_leaves_out():
    s = fastmm.strassen()
    ones = np.ones((1, 4), int)
    eight = fastmm.Scheme(2, 2, 2, np.vstack([s.Wa, ones]), np.vstack([s.Wb, ones]),
                          np.hstack([s.Wc, np.zeros((4, 1), int)]))
    assert "7 block products per level. M8 is left out" in fastmm.export(eight, to="c")
    assert "left out" not in fastmm.export(s, to="c")


@pytest.mark.parametrize("modulus", [None, 2])
@pytest.mark.parametrize("seed", range(6))
def test_the_brent_report_counts_entries_no_product_uses_as_a_brute_force_check_does(seed, modulus):
    from fastmm.verify import brent_report

    rng = np.random.default_rng(seed)
    s = fastmm.laderman() if seed % 2 else fastmm.strassen()
    wa = s.Wa.copy()
    wa[:, rng.integers(wa.shape[1])] = 0  # an A entry that no product uses
    if seed % 3 == 0:
        wa[rng.integers(wa.shape[0]), rng.integers(wa.shape[1])] = 1
    damaged = fastmm.Scheme(*s.shape, wa, s.Wb, s.Wc)
    n, m, p = damaged.shape
    tensor = np.einsum("ta,tb,ct->abc", *(w.astype(object) for w in (damaged.Wa, damaged.Wb, damaged.Wc)))
    for i in range(n):
        for j in range(m):
            for k in range(p):
                tensor[i * m + j, j * p + k, i * p + k] -= 1
    wrong = tensor % 2 if modulus else tensor
    report = brent_report(damaged, modulus)
    assert not report.ok
    assert len(report.problems) + report.unlisted == int(np.count_nonzero(wrong))
    where = zip(*np.nonzero(wrong), strict=True)
    assert {(d.a, d.b, d.c) for d in report.problems} == {
        ((a // m, a % m), (b // p, b % p), (c // p, c % p)) for a, b, c in where}


def test_a_huge_sparse_invalid_file_is_checked_quickly_and_without_a_sympy_proof(tmp_path):
    from fastmm.metrics import SYMPY_WORK_LIMIT, sympy_work
    from fastmm.verify import brent_report

    n, m, p = 36, 36, 35
    wa = np.zeros((1, n * m), int)
    wb = np.zeros((1, m * p), int)
    wa[0, 0] = wb[0, 0] = 1
    s = fastmm.Scheme(n, m, p, wa, wb, np.ones((n * p, 1), int))
    assert sympy_work(s) == 930_943 > SYMPY_WORK_LIMIT  # 12 s of sympy before: now skipped
    report = brent_report(s)
    assert len(report.problems) + report.unlisted == n * m * p - 1 + (n * p - 1)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_generated_code_of_a_1x1x1_scheme_takes_any_number_of_levels(lib):
    namespace: dict = {}
    exec(fastmm.export(fastmm.naive_scheme(1, 1, 1), to=lib), namespace)  # our own generated code
    a = np.arange(4.0).reshape(2, 2)
    if lib == "torch":
        torch = pytest.importorskip("torch")
        assert torch.equal(namespace["matmul"](torch.tensor(a), torch.tensor(a), levels=5000, leaf=1),
                           torch.tensor(a @ a))
    else:
        assert np.array_equal(namespace["matmul"](a, a, levels=5000, leaf=1), a @ a)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_generated_code_refuses_bool_matrices_in_words(lib):
    namespace: dict = {}
    exec(fastmm.export(fastmm.strassen(), to=lib), namespace)
    if lib == "torch":
        torch = pytest.importorskip("torch")
        eye = torch.eye(4, dtype=torch.bool)
    else:
        eye = np.eye(4, dtype=bool)
    with pytest.raises(TypeError, match="not bool matrices"):
        namespace["matmul"](eye, eye)


def test_the_c_runtime_runs_a_1x1x1_scheme_with_any_number_of_levels():
    from fastmm.export.build import c_function

    try:
        product = c_function(fastmm.naive_scheme(1, 1, 1), 200_000, "float64", 1)
    except fastmm.FastmmError:
        pytest.skip("no C compiler or BLAS here")
    a = np.arange(25.0).reshape(5, 5)
    assert np.array_equal(product(a, a), a @ a)  # it overflowed the C stack


def test_the_size_message_of_a_rank_0_scheme_states_its_rule():
    z = np.zeros
    s = fastmm.Scheme(64, 64, 64, z((0, 4096), int), z((0, 4096), int), z((4096, 0), int))
    with pytest.raises(InputError, match=r"\(nm\)\(mp\)\(np\)·max\(r, 1\) = 68,719,476,736"):
        fastmm.verify(s)


def test_load_verified_is_public_and_names_a_file_that_fails(tmp_path):
    from fastmm.io import dumps

    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(dumps(fastmm.strassen()))
    s = fastmm.strassen()
    wa = s.Wa.copy()
    wa[0, 0] = 1 - wa[0, 0]
    bad.write_text(dumps(fastmm.Scheme(2, 2, 2, wa, s.Wb, s.Wc)))
    assert "load_verified" in dir(fastmm)
    assert fastmm.load_verified(good) == s
    with pytest.raises(InputError, match="bad.json: ⟨2,2,2;7⟩ fails verification"):
        fastmm.load_verified(bad)


def test_lift_stops_at_its_time_limit(tmp_path):
    import time
    from pathlib import Path

    hard = fastmm.load(Path(fastmm.__file__).parent / "data" / "catalog" / "3x5x6-rank69-Z2.json")
    t0 = time.monotonic()
    with pytest.raises(fastmm.SearchFailed, match=r"within 0.01 s \(stopped at the time limit\)"):
        fastmm.lift(hard, "ZT", tries=1_000_000, time_limit=0.01, sympy=False)
    assert time.monotonic() - t0 < 30
    s = fastmm.strassen()
    mod2 = fastmm.Scheme(2, 2, 2, abs(s.Wa), abs(s.Wb), abs(s.Wc), ring="Z2")
    assert fastmm.lift(mod2, "ZT", time_limit=60, sympy=False).ring == "ZT"
    with pytest.raises(InputError, match="time limit"):
        fastmm.lift(mod2, "ZT", time_limit=float("nan"))
    path = tmp_path / "hard.json"
    path.write_text((Path(fastmm.__file__).parent / "data" / "catalog" / "3x5x6-rank69-Z2.json").read_text())
    r = subprocess.run([sys.executable, "-m", "fastmm", "lift", str(path), "--time-limit", "0.01", "-o",
                        str(tmp_path / "out.json")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "stopped at the time limit" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "out.json").exists()


def test_show_gives_no_stability_factor_for_a_scheme_valid_modulo_2_only(tmp_path):
    from fastmm.io import dumps

    s = fastmm.strassen()
    path = tmp_path / "z2.json"
    path.write_text(dumps(fastmm.Scheme(2, 2, 2, abs(s.Wa), abs(s.Wb), abs(s.Wc), ring="Z2")))
    r = subprocess.run([sys.executable, "-m", "fastmm", "show", str(path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "stability factor E: none (valid modulo 2 only" in r.stdout
