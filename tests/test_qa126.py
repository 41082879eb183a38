"""QA-126: lift and finish print the file they wrote as they print every name; lift says when a
file's ring label does not fit its coefficients; finish lists only the rings it takes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.io import load_scheme, save_scheme
from fastmm.reference import strassen
from fastmm.scheme import Scheme
from tests.hostile.contract import run_cli

POINTS = "results/numerical_points/2x4x5-r32-fitted.json"


def _z_labelled_zt() -> Scheme:
    """Strassen moved by the change of basis A -> P A (P = [[1, 2], [0, 1]]): coefficients ±2, a
    valid scheme over Z, labelled ZT."""
    s = strassen()
    p = np.array([[1, 2], [0, 1]], dtype=object)
    pinv = np.array([[1, -2], [0, 1]], dtype=object)
    wa = np.array([(np.array(row, dtype=object).reshape(2, 2).T @ pinv).T.reshape(4)  # A -> P A: a' = a P^-1
                   for row in s.Wa], dtype=object)
    wc = np.array(s.Wc, dtype=object).reshape(2, 2, 7)
    wc = np.einsum("ij,jkt->ikt", p, wc).reshape(4, 7)
    return Scheme(2, 2, 2, wa, s.Wb, wc, ring="ZT")


def test_lift_says_the_label_does_not_fit_and_records_the_ring_it_lifted(tmp_path):
    scheme = _z_labelled_zt()
    assert fastmm.verify(scheme.with_meta(ring="Z"), sympy=False).ok
    assert not fastmm.verify(scheme, sympy=False).ok  # the label ZT does not hold
    save_scheme(scheme, tmp_path / "zlie.json")
    r = run_cli("lift", tmp_path / "zlie.json", "-o", tmp_path / "out.json", "--no-sympy")
    assert r.rc == 0
    assert "says ring ZT, but its coefficients need Z" in r.err
    lifted = load_scheme(tmp_path / "out.json")
    assert lifted.ring == "ZT" and fastmm.verify(lifted, sympy=False).ok
    assert lifted.provenance["lifted_from"].endswith(
        "over Z (labelled ZT, which its coefficients do not fit)")


@pytest.mark.parametrize("command", ["lift", "finish"])
def test_the_written_name_is_shown_escaped(tmp_path, command):
    name = tmp_path / "evil\x1b[31mX.json"
    if command == "lift":
        save_scheme(fastmm.verified(strassen(), sympy=False), tmp_path / "s.json")
        args = ["lift", tmp_path / "s.json", "-o", name, "--no-sympy"]
    else:  # Strassen's factors, each term rescaled (a point on its orbit) and slightly off
        s, rng = strassen(), np.random.default_rng(3)
        scale = rng.uniform(0.5, 2.0, size=(7, 2))
        wa = np.array(s.Wa, dtype=float) * scale[:, :1]
        wb = np.array(s.Wb, dtype=float) * scale[:, 1:]
        wct = (np.array(s.Wc, dtype=float).reshape(2, 2, 7).transpose(2, 0, 1).reshape(7, 4)
               / (scale[:, :1] * scale[:, 1:]))
        point = {"residual": 0.0, **{k: (w + rng.normal(0, 1e-9, w.shape)).tolist()
                                     for k, w in (("Wa", wa), ("Wb", wb), ("WcT", wct))}}
        (tmp_path / "p.json").write_text(json.dumps({"shape": [2, 2, 2], "rank": 7, "points": [point]}))
        args = ["finish", tmp_path / "p.json", "--ring", "ZT", "-q", "--no-sympy", "-o", name]
    r = run_cli(*args)
    assert r.rc == 0 and name.exists(), r.err
    assert "\x1b" not in r.out + r.err
    assert "evil\\x1b[31mX.json" in r.out + r.err


def test_finish_lists_only_the_rings_it_takes():
    with pytest.raises(InputError) as exc:
        fastmm.finish(POINTS, ring=None)
    assert str(exc.value) == "finish: unknown ring None (choose from Q, Z, ZT)"


def test_a_file_that_is_no_scheme_gets_only_its_error_line(tmp_path):
    """The label note came before lift's error (CI's hypothesis run found it): one line only."""
    s = strassen()
    wa = np.array(s.Wa, dtype=object)
    wa[0, 0] = 2  # the label ZT no longer fits, and the tensor is wrong even modulo 2
    save_scheme(Scheme(2, 2, 2, wa, s.Wb, s.Wc, ring="ZT"), tmp_path / "s.json")
    r = run_cli("lift", tmp_path / "s.json", "-o", tmp_path / "out.json")
    assert r.rc == 1 and r.err.count("\n") == 1 and r.err.startswith("error: ")
    assert not (tmp_path / "out.json").exists()
