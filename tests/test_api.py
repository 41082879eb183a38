"""The public API holds the rules: limits, bounds, ring labels, verification before return."""

import json
import math

import numpy as np
import pytest

import fastmm
from fastmm.errors import FastmmError, InputError, SchemeError, SearchFailed, VerificationError
from fastmm.export.slp import count_additions
from fastmm.io import dumps


@pytest.mark.parametrize("shape, rank, kw, message", [
    ((9, 2, 2), 30, {}, "beyond the search limit of 8"),
    ((0, 2, 2), 3, {}, "N must be a positive integer"),
    ((2, 2, 2), 6, {}, "rank ≥ 7 is proven (Winograd 1971)"),
    ((3, 3, 3), 18, {}, "Bläser 2003"),
    ((3, 2, 2), 10, {}, "no ⟨3,2,2⟩ scheme of rank 10 exists: rank ≥ 11 is proven (Alekseyev 1985)"),
    ((2, 3, 4), 11, {}, "flattening bound"),
    ((4, 2, 2), 13, {}, "rank ≥ 14 is proven (Hopcroft–Kerr 1971, over GF(2), and so over ZT)"),
    ((2, 6, 2), 20, {"ring": "Z"}, "rank ≥ 21 is proven (Hopcroft–Kerr 1971, over GF(2), and so over Z)"),
    ((3, 3, 2), 14, {"ring": "Z2"}, "rank ≥ 15 is proven (Hopcroft–Kerr 1971, over GF(2))"),
    ((2, 2, 2), 7, {"time_limit": math.nan}, "finite positive number of seconds"),
    ((2, 2, 2), 7, {"time_limit": -1}, "finite positive number of seconds"),
    ((2, 2, 2), 7, {"workers": 0}, "workers must be a positive integer"),
    ((2, 2, 2), 7, {"ring": "R"}, "unknown ring 'R'"),
    ((2, 2, 2), 7, {"method": "magic"}, "unknown method 'magic'"),
    ((2, 2, 3), 11, {"symmetry": "c3"}, "needs a square shape"),
    ((2, 2, 2), 7, {"scheduler": "not an address"}, "tcp://HOST:PORT"),
    ((2, 2, 2), 7, {"ring": "Q", "method": "flip"}, "numerical methods only"),
    ((7, 1, 7), 48, {}, "⟨7,1,7⟩ has a dimension 1: it needs all 49 products"),
    ((2, 2, 2), 7, {"method": "flip", "options": {"device": "cuda"}}, "(--device cuda) runs the numerical"),
    ((2, 2, 2), 7, {"method": "als", "options": {"minimize": "additions"}}, "with the walk methods"),
    ((2, 2, 2), 7, {"options": {"minimize": "multiplications"}}, "(--minimize) must be 'none' or 'additions"),
])
def test_search_refuses_what_cannot_be_searched(shape, rank, kw, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fastmm.search(shape, rank, **kw)


def test_bounds_proven_over_gf2_bind_the_integer_rings_only():
    """Hopcroft–Kerr: ⟨2,2,n⟩ ≥ ⌈7n/2⌉ and ⟨2,3,3⟩ ≥ 15 over GF(2); an integer scheme reduces
    modulo 2, a rational one with halves need not."""
    from fastmm.known_ranks import proven_lower_bound

    assert [proven_lower_bound((2, 2, n), "ZT")[0] for n in range(2, 9)] == [7, 11, 14, 18, 21, 25, 28]
    assert proven_lower_bound((3, 2, 3), "Z2")[0] == 15 and proven_lower_bound((2, 3, 3), "Q")[0] == 9
    assert proven_lower_bound((2, 2, 4))[0] == proven_lower_bound((2, 2, 4), "Q")[0] == 8
    assert proven_lower_bound((2, 2, 3), "Q") == (11, "Alekseyev 1985")  # over every field
    with pytest.raises(SearchFailed, match="within 1 s"):  # over Q it is searched, not refused
        fastmm.search((2, 2, 4), 13, ring="Q", time_limit=1, sympy=False)



def test_finish_over_the_integers_keeps_the_gf2_bounds(tmp_path):
    """QA-141: finish --ring ZT tried a ⟨2,2,4;13⟩ point that search refuses at once."""
    import numpy as np

    rng = np.random.default_rng(0)
    point = {"shape": [2, 2, 4], "points": [{"Wa": rng.normal(size=(13, 4)).tolist(),
                                              "Wb": rng.normal(size=(13, 8)).tolist(),
                                              "WcT": rng.normal(size=(13, 8)).tolist()}]}
    f = tmp_path / "p.json"
    f.write_text(json.dumps(point))
    why = r"no ⟨2,2,4⟩ scheme of rank 13 exists: rank ≥ 14 is proven \(Hopcroft–Kerr 1971, over GF\(2\)"
    with pytest.raises(InputError, match=rf"point 1: {why}, and so over ZT\); nothing was tried"):
        fastmm.finish(f, ring="ZT", time_limit=5)


def test_search_returns_a_verified_scheme_with_provenance():
    s = fastmm.search((2, 2, 3), 11, seed=1, time_limit=60, command="test")
    assert s.rank == 11 and s.ring == "ZT"
    assert s.verified["ok"] and s.verified["sympy"].startswith("proved")
    assert s.provenance["method"] == "flip" and s.provenance["seed"] == 1


def test_minimize_with_distinct_is_refused():
    with pytest.raises(InputError, match="without --distinct"):
        fastmm.search_distinct((2, 2, 3), 11, 2, options={"minimize": "additions"})


@pytest.mark.parametrize("method", ["pool", "ternary"])
def test_minimize_additions_works_for_every_walk_method(method):
    """The pool and ternary walks only find; `minimize` then walks the flip graph at the rank
    found from their scheme (it used to be ignored: the scheme as found, no word said)."""
    plain = fastmm.search((3, 3, 3), 23, method=method, seed=0, time_limit=60, sympy=False)
    s = fastmm.search((3, 3, 3), 23, method=method, seed=0, time_limit=plain.provenance["seconds"] + 3,
                      sympy=False, options={"minimize": "additions"})
    note = s.provenance["minimize"]
    assert s.rank == 23 and fastmm.verify(s, sympy=False) and s.provenance["method"] == method
    assert note["additions_before"] == count_additions(plain)
    assert note["additions_after"] == count_additions(s) <= note["additions_before"]
    assert note["steps"] > 0


def test_search_failure_carries_the_best_verified_scheme():
    with pytest.raises(SearchFailed) as info:
        fastmm.search((3, 3, 4), 28, time_limit=3, sympy=False)
    best = info.value.best
    assert best is not None and best.rank < 36 and fastmm.verify(best, sympy=False)
    assert "best known ZT rank for this shape: 29" in str(info.value)


def test_distinct_refused_for_strassen_by_theorem():
    with pytest.raises(FastmmError, match="de Groote"):
        fastmm.search_distinct((2, 2, 2), 7, count=2)


def test_verify_is_truthy_exactly_when_valid_and_checks_the_ring_label():
    s = fastmm.strassen()
    assert fastmm.verify(s, sympy=False)
    d = json.loads(dumps(s))
    d["Wa"][0] = [2, 0, 0, 2]
    d["Wc"] = [[("1/2" if v == 1 else "-1/2" if v == -1 else 0) if i == 0 else v
                for i, v in enumerate(row)] for row in d["Wc"]]
    from fastmm.io import loads

    halved = loads(json.dumps(d))  # valid over Q, but labelled ZT
    v = fastmm.verify(halved, sympy=False)
    assert not v and v.label_problem == "declares ring ZT but its coefficients need Q"
    relabelled = halved.with_meta(ring="Q")
    assert fastmm.verify(relabelled, sympy=False).ring == "Q"
    d["Wc"][0][0] = 5
    broken = loads(json.dumps(d)).with_meta(ring="Q")
    assert not fastmm.verify(broken, sympy=False)
    with pytest.raises(VerificationError):
        fastmm.save(broken, "never-written.json")


def test_save_load_round_trip(tmp_path):
    path = fastmm.save(fastmm.laderman(), tmp_path / "l.json")
    assert fastmm.load(path) == fastmm.laderman()


def test_export_verifies_first_and_knows_its_formats():
    s = fastmm.strassen()
    assert "\\begin{align*}" in fastmm.export(s, to="latex")
    assert "fastmm_matmul" in fastmm.export(s, to="c")
    with pytest.raises(InputError, match="unknown export format"):
        fastmm.export(s, to="docx")
    wc = np.array(s.Wc)
    wc[0, 0] += 1
    bad = s.with_meta(Wc=wc)
    with pytest.raises(VerificationError):
        fastmm.export(bad, to="c")


def test_matmul_with_and_without_a_scheme():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((130, 70)), rng.standard_normal((70, 90))
    assert np.allclose(fastmm.matmul(A, B), A @ B)
    assert np.allclose(fastmm.matmul(A, B, scheme=fastmm.laderman(), levels=1, cutoff=8), A @ B)
    with pytest.raises(InputError):
        fastmm.matmul(A, A)


def test_errors_share_one_base_class_and_schemes_raise_fastmm_errors():
    with pytest.raises(SchemeError) as info:
        fastmm.Scheme(2, 2, 2, np.zeros((7, 3)), np.zeros((7, 4)), np.zeros((4, 7)))
    assert isinstance(info.value, FastmmError) and isinstance(info.value, ValueError)
    assert issubclass(SearchFailed, FastmmError)


def test_catalog_rows_and_schemes():
    rows = fastmm.catalog()
    assert len(rows) == 35
    row = next(r for r in rows if r["shape"] == [2, 2, 2])
    assert row["catalog_rank"] == 7 and row["status"] == "best known reached"
    s = fastmm.catalog_scheme((3, 2, 2))
    assert s.shape == (3, 2, 2) and s.rank == 11 and fastmm.verify(s, sympy=False)


@pytest.mark.parametrize("shape, rank, ring, symmetry, method", [
    ((5, 5, 5), 93, "ZT", None, "symmetric"),  # only the C3 walk has reached 93 here
    ((5, 5, 5), 93, "Z2", None, "symmetric"),
    ((5, 5, 5), 93, "ZT", "c3", "symmetric"),
    ((5, 5, 5), 100, "ZT", None, "pool"),  # pools reach 100 sooner
    ((6, 6, 6), 161, "ZT", None, "pool"),  # Strassen⊗Laderman at once
    ((4, 4, 4), 49, "ZT", None, "pool"),
    ((4, 4, 4), 47, "Z2", None, "flip"),
    ((2, 2, 2), 7, "ZT", None, "flip"),
    ((2, 3, 3), 15, "Q", None, "als"),
])
def test_auto_chooses_the_method_that_reaches_the_shape(shape, rank, ring, symmetry, method):
    from fastmm.api import choose_method

    assert choose_method(shape, rank, ring, symmetry) == method
