"""Wrong arguments to the Python API: a library error (fastmm.errors) with one clear message,
never a TypeError from deep inside, a wrong answer or a file that fails verification."""

import inspect
import json
import subprocess
import sys
import time

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError, SchemeError, SchemeFormatError, VerificationError
from fastmm.io import dumps

S = fastmm.strassen()


def test_float_coefficients_are_taken_exactly():
    halves = fastmm.Scheme(2, 2, 2, S.Wa * 0.5, S.Wb, S.Wc * 2)  # exact in binary: a valid Q scheme
    assert halves.ring == "Q" and fastmm.verify(halves, sympy=False)
    assert fastmm.verify(halves).ok  # the sympy proof agrees with the exact check
    tenths = fastmm.Scheme(2, 2, 2, S.Wa * 0.1, S.Wb, S.Wc * 10)  # 0.1 is not 1/10 in binary
    assert tenths.ring == "Q" and not fastmm.verify(tenths, sympy=False)
    ints = fastmm.Scheme(2, 2, 2, S.Wa.astype(np.int8), S.Wb.astype(np.int32), S.Wc.astype(float))
    assert ints == S


def test_a_float_scheme_that_is_not_exact_is_never_saved(tmp_path):
    target = tmp_path / "s.json"
    with pytest.raises(VerificationError):
        fastmm.save(fastmm.Scheme(2, 2, 2, S.Wa * 0.1, S.Wb, S.Wc * 10), target)
    assert not target.exists()


@pytest.mark.parametrize("wa, message", [
    (S.Wa * np.nan, "exact numbers, got 'nan'"),
    (S.Wa * 1j, "exact numbers, got '1j'"),
    (S.Wa.ravel(), "2-dimensional"),
])
def test_coefficients_that_are_no_numbers_are_refused(wa, message):
    with pytest.raises(SchemeError, match=message):
        fastmm.Scheme(2, 2, 2, wa, S.Wb, S.Wc)


@pytest.mark.parametrize("dims", [(2.0, 2, 2), (True, 2, 2), (0, 2, 2), ("2", 2, 2), (-1, 2, 2)])
def test_dimensions_are_positive_integers(dims):
    with pytest.raises(SchemeError, match="must be a positive integer"):
        fastmm.Scheme(*dims, S.Wa, S.Wb, S.Wc)
    with pytest.raises(SchemeError, match="must be a positive integer"):
        fastmm.naive_scheme(*dims)


def test_naive_scheme_refuses_a_size_that_does_not_fit_in_memory():
    with pytest.raises(SchemeError, match="more than 20,000,000"):
        fastmm.naive_scheme(10**6, 2, 2)


@pytest.mark.parametrize("call, message", [
    (lambda: fastmm.export(None, to="c"), "export() takes a fastmm Scheme, not NoneType"),
    (lambda: fastmm.save(None, "x.json"), "save() takes a fastmm Scheme"),
    (lambda: fastmm.verified("x"), "verified() takes a fastmm Scheme, not str"),
    (lambda: fastmm.load(None), "load: a file name is a str or path, not NoneType"),
    (lambda: fastmm.load(3), "load: a file name is a str or path, not int"),
    (lambda: fastmm.save(S, ""), "save: the file name is empty"),
    (lambda: fastmm.save(S, 5), "save: a file name is a str or path"),
    (lambda: fastmm.import_scheme(None, "perminov"), "import_scheme: a file name"),
    (lambda: fastmm.import_scheme("x.npz", "alphatensor", key=222), "key must be a str, not int"),
    (lambda: fastmm.finish(None), "finish: a file name"),
    (lambda: fastmm.search(None, 7), "a shape is three positive integers"),
    (lambda: fastmm.catalog_scheme(None), "a shape is three positive integers"),
    (lambda: fastmm.catalog_scheme((2, 2, 2), ring="R"), "unknown ring 'R'"),
    (lambda: fastmm.search((2, 2, 2), 7, ring=None), "unknown ring None"),
    (lambda: fastmm.lift(S, ring=None), "lifting goes from GF(2) to ZT or Z, not None"),
    (lambda: fastmm.catalog(5.5), "max_dim must be a positive integer"),
    (lambda: fastmm.export(S, to="c", cse="no"), "cse must be True or False"),
    # a NUL in a file name raised the OS's bare ValueError
    (lambda: fastmm.load("a\0b.json"), "load: the file name contains a NUL character"),
    (lambda: fastmm.save(S, "x\0.json"), "save: the file name contains a NUL character"),
    (lambda: fastmm.import_scheme("p\0.json", "perminov"), "import_scheme: the file name contains a NUL"),
    (lambda: fastmm.finish("f\0.npz"), "finish: the file name contains a NUL character"),
    (lambda: fastmm.search((2, 2, 2), 7, method="als", options={"save_fitted": "d\0"}),
     "option save_fitted (--save-fitted): the file name contains a NUL character"),
    # a progress callback that is not a function raised TypeError once the search had started
    (lambda: fastmm.search((2, 2, 2), 7, method="als", on_progress=5),
     "on_progress must be a function (or None), got 5"),
    (lambda: fastmm.search_distinct((2, 2, 3), 11, 2, on_found="x"), "on_found must be a function"),
    # an int beyond any float raised OverflowError
    (lambda: fastmm.search((2, 2, 2), 7, time_limit=10**400), "finite positive number of seconds"),
    (lambda: fastmm.search((2, 2, 2), 7, method="als", options={"device": ""}),
     "device (--device) must be cpu or cuda, got ''"),
    (lambda: fastmm.search((2, 2, 2), 7, method="als", options={"device": 0}),
     "device (--device) must be cpu or cuda, got 0"),
    # an array as a walk's backend or walk raised numpy's "truth value ... is ambiguous" ValueError
    (lambda: fastmm.search((2, 2, 2), 7, method="flip", options={"backend": np.array(["c", "x"])}),
     "unknown walk backend"),
    (lambda: fastmm.search((2, 2, 2), 7, method="flip", options={"backend": np.array(["python"])}),
     "unknown walk backend"),
    (lambda: fastmm.search((2, 2, 2), 7, method="pool", options={"walk": np.array([1, 2])}),
     "pool option walk must be gf2 or ternary"),
    (lambda: fastmm.search((2, 2, 2), 7, method="spn", options={"optimizer": "als"}),
     "--method spn fits with Adam (the paper's optimiser), not 'als'"),
])
def test_wrong_argument_types_get_a_library_error(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value)


def test_matmul_refuses_complex_input_instead_of_dropping_the_imaginary_part():
    a = np.ones((4, 4)) + 1j
    with pytest.raises(InputError, match="real matrices, not complex128"):
        fastmm.matmul(a, np.ones((4, 4)))


def test_matmul_refuses_a_scheme_valid_modulo_2_only():
    with pytest.raises(InputError, match="valid modulo 2 only"):
        fastmm.matmul(np.ones((4, 4)), np.ones((4, 4)), scheme=S.with_meta(ring="Z2"))


@pytest.mark.parametrize("kw", [{"levels": "abc"}, {"levels": None}, {"levels": -1}, {"cutoff": -1},
                                {"cutoff": "x"}, {"levels": True}])
def test_matmul_levels_and_cutoff_are_integers(kw):
    with pytest.raises(InputError, match="must be an integer >= 0"):
        fastmm.matmul(np.ones((4, 4)), np.ones((4, 4)), **kw)


def test_combine_refuses_what_no_scheme_file_could_hold():
    k8 = fastmm.combine("kron", fastmm.combine("kron", S, S, sympy=False), S, sympy=False)
    with pytest.raises(InputError, match="1,843,968 coefficients, more than a scheme file holds"):
        fastmm.combine("kron", k8, S, sympy=False)


def test_combine_refuses_what_could_not_be_verified_before_building_it():
    """⟨6,6,6;161⟩ ⊗ Strassen was built and verified (10 s, 170 MB), then refused by the writer."""
    big = fastmm.catalog_scheme((6, 6, 6))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"^the kron would be ⟨12,12,12;1127⟩, too large to verify "
                                         r"\(\(nm\)\(mp\)\(np\)·r = 3,365,203,968 > 2,147,483,648\)$"):
        fastmm.combine("kron", big, S, sympy=False)
    assert time.perf_counter() - t0 < 5  # refused from the shapes (its inputs are verified first)


def test_combine_takes_numpy_integer_indices():
    assert fastmm.combine("project", S, axis="p", index=np.int64(0), sympy=False).shape == (2, 2, 1)


def test_combine_refuses_a_z2_scheme_with_fractions():
    with pytest.raises(InputError, match="combines with integer schemes only"):
        fastmm.combine("kron", S.with_meta(ring="Z2"), fastmm.Scheme(2, 2, 2, S.Wa * 0.5, S.Wb, S.Wc * 2))


def test_a_json_key_given_twice_is_refused(tmp_path):
    text = dumps(S)
    path = tmp_path / "dup.json"
    path.write_text(text[: text.rindex("}")] + ', "ring": "Z2"}')
    with pytest.raises(SchemeFormatError, match="the key 'ring' appears twice"):
        fastmm.load(path)
    r = subprocess.run([sys.executable, "-m", "fastmm", "verify", str(path)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "appears twice" in r.stderr


def test_the_callable_modules_show_the_api_signature():
    assert list(inspect.signature(fastmm.search).parameters)[:2] == ["shape", "rank"]
    assert list(inspect.signature(fastmm.export).parameters)[:2] == ["scheme", "to"]
    assert "sympy" in inspect.signature(fastmm.verify).parameters


def test_lift_names_a_wrong_label(tmp_path):
    d = json.loads(dumps(S))
    d["Wc"][0][0] = -d["Wc"][0][0]  # a wrong sign: invalid over ZT, still valid modulo 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    r = subprocess.run([sys.executable, "-m", "fastmm", "lift", str(bad), "--no-sympy", "-o",
                        str(tmp_path / "out.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "lifted from Z2 (labelled ZT, valid modulo 2 only) (signs)" in r.stdout


def test_save_fitted_makes_no_parent_folders(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7", "--method",
                        "als", "--save-fitted", str(missing)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_import_names_the_file_when_z2_meets_fractions(tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(fastmm.export(fastmm.Scheme(2, 2, 2, S.Wa * 0.5, S.Wb, S.Wc * 2), to="fast-matmul"))
    with pytest.raises(SchemeError, match=f"^{q}: a Z2 scheme must have integer coefficients"):
        fastmm.import_scheme(q, "fast-matmul", z2=True)


def test_matmul_says_it_takes_2d_matrices():
    with pytest.raises(InputError, match="multiplies 2-D matrices"):
        fastmm.matmul(np.ones((3, 4, 4)), np.ones((3, 4, 4)))


def test_an_empty_resume_directory_is_refused(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "3", "--rank", "11",
                        "--resume", ""], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "error: --resume: the directory name is empty\n"
    assert list(tmp_path.iterdir()) == []


def test_a_batch_beyond_memory_is_refused_before_anything_is_allocated():
    with pytest.raises(InputError, match=r"--batch 1000000 for ⟨8,8,8;400⟩ needs about [\d,.]+ GiB"):
        fastmm.search((8, 8, 8), 400, method="als", options={"batch": 1_000_000})


def test_numerical_threads_are_bounded():
    with pytest.raises(InputError, match="threads must be at most 1024"):
        fastmm.search((2, 3, 3), 15, method="als", options={"threads": 10**6})


def test_resume_is_refused_for_the_numerical_methods_and_writes_nothing(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "3", "3", "--rank", "15", "--method",
                        "als", "--resume", "rs"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--resume works with the walk methods" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_save_fitted_keeps_the_points_of_an_earlier_run(tmp_path):
    for std in ("0.5", "0.3"):
        r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7",
                            "--method", "als", "--save-fitted", "sf", "--option", f"init_std={std}", "-q",
                            "--no-sympy", "-o", f"s{std}.json"], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "sf").iterdir())
    assert len(names) >= 2 and len(names) == len(set(names))
    assert any(n.endswith("-2.npz") for n in names)  # the second run's restart 0 beside the first's
