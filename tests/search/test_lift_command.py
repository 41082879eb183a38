"""`fastmm lift FILE` / fastmm.lift: GF(2) schemes made valid over ZT or Z, verified before written.

tests/data holds two GF(2) schemes reached by flip walks whose mod-4 sign equations have no
solution: no ZT scheme reduces to them modulo 2. ⟨2,2,3;11⟩ still lifts to Z by Hensel lifting,
and a change of basis makes that ternary; ⟨3,3,3;23⟩ lifts by neither. A third, the GF(2)
⟨4,4,4;47⟩ of the catalogue (AlphaTensor's rank, known to exist in characteristic 2 only), has no
integer lift at all, and the first step of Hensel lifting proves it.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm.errors import FastmmError, InputError, VerificationError
from fastmm.io import dumps, load_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme
from fastmm.search.lift import hensel_obstructed
from fastmm.search.terms import to_terms

DATA = Path(__file__).resolve().parent.parent / "data"
NO_TERNARY = DATA / "2x2x3-rank11-Z2-no-ternary-lift.json"
NO_LIFT = DATA / "3x3x3-rank23-Z2-no-lift.json"
CHAR_2 = DATA / "4x4x4-rank47-Z2-characteristic-2.json"


def mod2(scheme: Scheme):
    return [np.asarray(w, dtype=np.int64) % 2 for w in (scheme.Wa, scheme.Wb, scheme.Wc)]


def laderman_mod_2() -> Scheme:
    s = laderman()
    return Scheme(3, 3, 3, abs(s.Wa), abs(s.Wb), abs(s.Wc), ring="Z2")


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastmm", "lift", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_the_fixtures_are_gf2_schemes_without_a_ternary_lift():
    for path in (NO_TERNARY, NO_LIFT):
        s = load_scheme(path)
        assert s.ring == "Z2" and fastmm.verify(s, sympy=False).ring == "Z2"
        assert not fastmm.verify(s.with_meta(ring="ZT"), sympy=False)


def test_a_gf2_laderman_lifts_to_zt_and_reduces_to_its_input():
    start = laderman_mod_2()
    lifted = fastmm.lift(start, sympy=False)
    assert lifted.ring == "ZT" and fastmm.verify(lifted, sympy=False).ring == "ZT"
    assert all((a == b).all() for a, b in zip(mod2(lifted), mod2(start), strict=True))
    assert (lifted.Wa < 0).any() or (lifted.Wb < 0).any() or (lifted.Wc < 0).any()
    assert lifted.provenance["lift"] == "signs" and lifted.provenance["lifted_from"] == "⟨3,3,3;23⟩ over Z2"


def test_without_a_sign_lift_hensel_gives_z_and_a_change_of_basis_zt():
    s = load_scheme(NO_TERNARY)
    lifted = fastmm.lift(s, "Z", sympy=False)
    assert lifted.ring == "Z" and lifted.provenance["lift"] == "hensel"
    assert fastmm.verify(lifted, sympy=False).ring == "Z"
    assert all((a == b).all() for a, b in zip(mod2(lifted), mod2(s), strict=True))
    framed = fastmm.lift(s, "ZT", sympy=False)
    assert framed.provenance["lift"] == "hensel + frames" and framed.rank == 11
    assert fastmm.verify(framed, sympy=False).ring == "ZT"
    assert not all((a == b).all() for a, b in zip(mod2(framed), mod2(s), strict=True))


def test_no_lift_says_when_no_ternary_lift_exists_and_that_the_rest_is_no_proof():
    s = load_scheme(NO_LIFT)
    for ring in ("ZT", "Z"):
        with pytest.raises(FastmmError, match="not a proof that none exists") as err:
            fastmm.lift(s, ring, sympy=False)
        assert "no ZT scheme reduces to it modulo 2" in str(err.value) and err.value.exit_code == 1


def test_a_scheme_of_characteristic_2_alone_is_proved_to_have_no_integer_lift():
    s = load_scheme(CHAR_2)
    assert fastmm.verify(s, sympy=False).ring == "Z2"
    assert hensel_obstructed(s.shape, to_terms(s)) is True
    for ring in ("ZT", "Z"):
        with pytest.raises(FastmmError, match="belongs to characteristic 2 alone") as err:
            fastmm.lift(s, ring, sympy=False)
        assert "not a proof" not in str(err.value)
        assert ("reduces to other terms is not ruled out" in str(err.value)) == (ring == "ZT")


def test_a_failed_lift_builds_each_system_once_to_say_why(monkeypatch):
    # the reason comes from what the lift noted on its way, not from a second elimination
    import fastmm.search.lift as lift_module

    calls = {"sign_system": 0, "_jacobian": 0}
    for name in calls:
        original = getattr(lift_module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(lift_module, name, counted)
    for ring in ("ZT", "Z"):
        calls.update(sign_system=0, _jacobian=0)
        with pytest.raises(FastmmError, match="belongs to characteristic 2 alone"):
            fastmm.lift(load_scheme(CHAR_2), ring, sympy=False)
        assert calls == {"sign_system": 1, "_jacobian": 1}, ring
    notes = lift_module.LiftNotes()
    assert lift_module.lift((4, 4, 4), to_terms(load_scheme(CHAR_2)), "Z", notes=notes) is None
    assert (notes.signs_solvable, notes.mod4, notes.hensel) == (False, None, "obstructed")
    notes = lift_module.LiftNotes()
    assert lift_module.lift((3, 3, 3), to_terms(load_scheme(NO_LIFT)), "Z", notes=notes) is None
    assert notes.signs_solvable is False and notes.hensel == "failed"


def test_the_obstruction_never_fires_where_an_integer_lift_exists():
    # every GF(2) reduction of a valid integer scheme passes the first Hensel step (and so do the
    # two fixtures above: ⟨2,2,3;11⟩ lifts to Z; ⟨3,3,3;23⟩'s first step has solutions)
    for scheme in (strassen(), laderman(), fastmm.catalog_scheme((2, 3, 4)), fastmm.catalog_scheme((3, 3, 4)),
                   load_scheme(NO_TERNARY), load_scheme(NO_LIFT)):
        reduced = Scheme(*scheme.shape, *mod2(scheme), ring="Z2")
        assert hensel_obstructed(scheme.shape, to_terms(reduced)) is False, scheme.label()


def test_the_obstruction_check_refuses_terms_that_are_not_a_scheme_modulo_2():
    s = laderman_mod_2()
    wa = s.Wa.copy()
    wa[3, 4] = 1 - wa[3, 4]
    with pytest.raises(ValueError, match="not a scheme modulo 2"):
        hensel_obstructed((3, 3, 3), to_terms(Scheme(3, 3, 3, wa, s.Wb, s.Wc, ring="Z2")))


def test_a_scheme_valid_over_the_ring_comes_back_unchanged():
    s = strassen()
    assert fastmm.lift(s, "ZT", sympy=False) == s
    assert fastmm.lift(s, "Z", sympy=False) == s


@pytest.mark.parametrize("scheme, ring, error, message", [
    ("laderman.json", "ZT", InputError, "takes a fastmm Scheme"),
    (laderman_mod_2(), "Q", InputError, "not 'Q'"),
    (laderman_mod_2(), "Z2", InputError, "not 'Z2'"),
])
def test_bad_arguments_are_refused(scheme, ring, error, message):
    with pytest.raises(error, match=message):
        fastmm.lift(scheme, ring)


def test_tampered_and_fractional_schemes_are_refused():
    s = laderman_mod_2()
    wa = s.Wa.copy()
    wa[3, 4] = 1 - wa[3, 4]
    with pytest.raises(VerificationError, match="not a scheme modulo 2"):
        fastmm.lift(Scheme(3, 3, 3, wa, s.Wb, s.Wc, ring="Z2"))
    from fractions import Fraction

    t = strassen()
    wc = t.Wc.astype(object)
    wc[:, 0] = [Fraction(int(x), 2) for x in wc[:, 0]]
    wa2 = t.Wa.copy()
    wa2[0] *= 2
    with pytest.raises(InputError, match="has fractions"):
        fastmm.lift(Scheme(2, 2, 2, wa2, t.Wb, wc))
    with pytest.raises(InputError, match="number of tries"):
        fastmm.lift(laderman_mod_2(), tries=0)


def test_cli_writes_the_lifted_scheme_with_its_command(tmp_path):
    (tmp_path / "g.json").write_text(dumps(laderman_mod_2()))
    r = run("g.json", "--no-sympy", "-o", "l.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "over ZT: lifted from Z2 (signs)" in r.stdout
    saved = json.loads((tmp_path / "l.json").read_text())
    assert saved["ring"] == "ZT" and saved["provenance"]["command"].startswith("fastmm lift g.json")
    assert fastmm.verify(load_scheme(tmp_path / "l.json"), sympy=False).ring == "ZT"
    (tmp_path / "h.json").write_text(NO_TERNARY.read_text())
    r = run("h.json", "-o", "h-zt.json", cwd=tmp_path)
    assert r.returncode == 0 and "does not reduce to the input modulo 2" in r.stdout, r.stderr
    r = run("g.json", "--no-sympy", cwd=tmp_path)  # the default name, never overwriting
    assert r.returncode == 0 and (tmp_path / "3x3x3-rank23-ZT.json").exists()
    r = run("g.json", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "3x3x3-rank23-ZT-2.json").exists()


def test_cli_failures_are_one_line_and_write_nothing(tmp_path):
    (tmp_path / "t.json").write_text(NO_LIFT.read_text())
    (tmp_path / "bad.json").write_text('{"format": "fastmm.scheme", "version": 1, "shape": [2,2')
    (tmp_path / "keep.json").write_text("precious")
    for args, code, message in [
        (["t.json"], 1, "no ZT scheme reduces to it modulo 2"),
        (["bad.json"], 2, "bad.json"),
        (["missing.json"], 2, "missing.json"),
        (["t.json", "--ring", "Q"], 2, "Invalid value"),
        (["t.json", "--tries", "-3"], 2, "number of tries"),
        (["t.json", "-o", "keep.json"], 1, "no ZT scheme"),
    ]:
        r = run(*args, cwd=tmp_path)
        assert r.returncode == code, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.strip().count("\n") == 0 or code == 2 and "Usage" in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "keep.json", "t.json"]
    assert (tmp_path / "keep.json").read_text() == "precious"


def test_a_z_scheme_seen_in_another_basis_comes_back_ternary():
    """Strassen moved by A → XA with X = [[1, 2], [0, 1]] (and C → X C to match): valid over Z
    with coefficients up to 2; frames of its own rank-one directions undo the change."""
    from fastmm.equivalence import Transform

    s = strassen()
    moved = Transform("", [[1, 2], [0, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1]], list(range(7)),
                      [(1, 1, 1)] * 7, "Q").apply(s)
    assert fastmm.verify(moved, sympy=False).ring == "Z"
    back = fastmm.lift(moved, "ZT", sympy=False)
    assert back.provenance["lift"] in ("frames", "signs") and fastmm.verify(back, sympy=False).ring == "ZT"
