"""Verification: every single-coefficient change of Strassen fails; reports name the entries."""

import itertools

import numpy as np
import pytest

from fastmm.reference import strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.verify import brent_report, sympy_problems, verify


def _changed(s: Scheme, name: str, idx, value=None, delta=0) -> Scheme:
    """s with one coefficient (or row) of Wa, Wb or Wc set to `value` or moved by `delta` (a
    Scheme is immutable: the change is made on a copy)."""
    mat = np.array(getattr(s, name))
    mat[idx] = mat[idx] + delta if value is None else value
    return s.with_meta(**{name: mat})


def _mutations():
    s = strassen()
    for name in ("Wa", "Wb", "Wc"):
        mat = getattr(s, name)
        for idx in itertools.product(*map(range, mat.shape)):
            for delta in (-1, 1):
                yield name, idx, delta


def test_every_single_coefficient_change_of_strassen_fails():
    count = 0
    for name, idx, delta in _mutations():
        s = _changed(strassen(), name, idx, delta=delta)
        assert not brent_report(s).ok, (name, idx, delta)
        count += 1
    assert count == 2 * (7 * 4 + 7 * 4 + 4 * 7)


def test_single_changes_also_fail_the_sympy_proof():
    for name, idx, delta in list(_mutations())[::7]:
        s = _changed(strassen(), name, idx, delta=delta)
        assert sympy_problems(s), (name, idx, delta)


def test_report_names_the_wrong_entries():
    s = _changed(strassen(), "Wc", (1, 2), 0)  # C12 = M3 + M5 loses M3 = A11·(B12 − B22)
    v = verify(s)
    assert not v.ok
    assert v.report.lines() == ["C12: missing a11*b12", "C12: extra a11*b22"]
    assert sorted(v.sympy) == sorted(["C12: missing a11*b12", "C12: extra a11*b22"])


def test_extra_term_message_format():
    s = _changed(naive_scheme(2, 2, 2), "Wb", 0, [1, 0, 1, 0])  # a11*b11 becomes a11*(b11 + b21)
    assert verify(s).report.lines() == ["C11: extra a11*b21"]


def test_z2_scheme_is_checked_modulo_2_only():
    s = strassen()
    wa = s.Wa.copy()
    wa[0] = wa[0] + 2 * np.array([1, 0, 0, 0])  # even change: still valid mod 2
    z2 = Scheme(2, 2, 2, wa, s.Wb, s.Wc, ring="Z2")
    v = verify(z2)
    assert v.ok and v.ring == "Z2"
    assert set(np.unique(z2.Wa)) <= {0, 1}
    assert not verify(Scheme(2, 2, 2, wa, s.Wb, s.Wc)).ok  # over Z it is wrong


@pytest.mark.parametrize("shape", [(3, 3, 3), (2, 4, 3)])
def test_naive_schemes_prove_with_sympy(shape):
    assert sympy_problems(naive_scheme(*shape)) == []


def test_big_names_use_underscores():
    s = _changed(naive_scheme(1, 10, 1), "Wc", (0, 9), 0)
    assert verify(s, use_sympy=False).report.lines() == ["C1_1: missing a1_10*b10_1"]


def test_every_caller_skips_the_sympy_proof_beyond_its_size_limit():
    """QA-137: only `fastmm verify` and `import` kept SYMPY_WORK_LIMIT; combine, lift and the
    library ran a proof of minutes and ~0.8 GB (⟨6,12,20;936⟩: 86 s) and recorded it as proved."""
    import time

    import fastmm

    n, m, p = 36, 36, 35  # one product, invalid: 930,943 monomials for sympy (12 s before)
    wa, wb = np.zeros((1, n * m), int), np.zeros((1, m * p), int)
    wa[0, 0] = wb[0, 0] = 1
    big = Scheme(n, m, p, wa, wb, np.ones((n * p, 1), int))
    start = time.perf_counter()
    v = fastmm.verify(big)
    assert not v.ok and v.sympy is None and v.sympy_skipped == "expansion size 930,943 > 200,000"
    assert time.perf_counter() - start < 10  # the exact check alone: well under a second
    assert v.record()["sympy"] == "skipped: expansion size 930,943 > 200,000"
    assert fastmm.verify(strassen()).sympy == [] and fastmm.verify(strassen()).sympy_skipped is None


def test_results_beyond_the_limit_say_the_proof_was_skipped(monkeypatch, tmp_path, capsys):
    import fastmm
    from fastmm.cli import main
    from fastmm.io import load_scheme, save_scheme

    monkeypatch.setattr("fastmm.metrics.SYMPY_WORK_LIMIT", 100)  # Strassen ⊗ Strassen: 1,088
    kron = fastmm.combine("kron", strassen(), strassen())
    assert kron.verified["sympy"] == "skipped: expansion size 1,088 > 100"
    assert fastmm.verified(strassen()).verified["sympy"].startswith("proved")  # 67: under it
    save_scheme(kron, tmp_path / "k.json")
    with pytest.raises(SystemExit) as exc:
        main(["lift", str(tmp_path / "k.json"), "-o", str(tmp_path / "l.json")])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "verified (Brent equations; sympy proof skipped: expansion size 1,088 > 100)" in out, out
    assert load_scheme(tmp_path / "l.json").verified["sympy"] == "skipped: expansion size 1,088 > 100"
