"""Scheme core: known schemes, algebra, rings."""

from fractions import Fraction

import numpy as np
import pytest

from fastmm.metrics import factor_rank_invariant, plain_additions, stability_factor
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, coefficient_ring, naive_scheme
from fastmm.verify import verify


def ok(s: Scheme) -> bool:
    return verify(s, use_sympy=False).ok


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 2, 2), (2, 3, 4), (3, 1, 2), (4, 4, 4)])
def test_naive_scheme_verifies_with_rank_nmp(shape):
    s = naive_scheme(*shape)
    assert s.rank == shape[0] * shape[1] * shape[2]
    assert ok(s) and s.ring == "ZT"


def test_strassen_and_laderman_verify_with_sympy():
    for s, rank in ((strassen(), 7), (laderman(), 23)):
        v = verify(s)
        assert v.ok and v.ring == "ZT" and v.sympy == []
        assert s.rank == rank


def test_strassen_figures():
    s = strassen()
    assert plain_additions(s) == 18
    assert stability_factor(s) == 12
    assert factor_rank_invariant(s) == {(1, 1, 1): 6, (2, 2, 2): 1}


def test_kron_strassen_is_rank_49_for_4x4x4():
    s = strassen().kron(strassen())
    assert s.shape == (4, 4, 4) and s.rank == 49
    assert verify(s).ok


def test_kron_of_rectangular_schemes():
    s = naive_scheme(2, 3, 1).kron(strassen())
    assert s.shape == (4, 6, 2) and s.rank == 42 and ok(s)


def test_direct_sum_222_and_221_gives_223_rank_11():
    s = strassen().direct_sum(naive_scheme(2, 2, 1), "p")
    assert s.shape == (2, 2, 3) and s.rank == 11
    assert verify(s).ok


@pytest.mark.parametrize("axis,other,shape", [("n", (1, 2, 2), (3, 2, 2)), ("m", (2, 3, 2), (2, 5, 2))])
def test_direct_sum_other_axes(axis, other, shape):
    s = strassen().direct_sum(naive_scheme(*other), axis)
    assert s.shape == shape and ok(s)


def test_direct_sum_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        strassen().direct_sum(naive_scheme(3, 3, 3), "p")


@pytest.mark.parametrize("base", [strassen, laderman, lambda: naive_scheme(2, 3, 4),
                                  lambda: strassen().direct_sum(naive_scheme(2, 2, 1))])
def test_cyclic_and_transpose_verify_with_permuted_shapes(base):
    s = base()
    n, m, p = s.shape
    c = s.cyclic()
    t = s.transpose()
    assert c.shape == (m, p, n) and ok(c) and c.rank == s.rank
    assert t.shape == (p, m, n) and ok(t) and t.rank == s.rank
    assert c.cyclic().cyclic() == s
    assert t.transpose() == s


def test_permuted_reaches_every_permutation():
    s = strassen().direct_sum(naive_scheme(2, 2, 1))  # ⟨2,2,3⟩
    for shape in [(2, 2, 3), (2, 3, 2), (3, 2, 2)]:
        q = s.permuted(shape)
        assert q.shape == shape and ok(q) and q.rank == 11
    with pytest.raises(ValueError):
        s.permuted((2, 2, 2))


def test_coefficient_ring_detection():
    z = np.array([[2, 0]], dtype=np.int64)
    t = np.array([[1, -1]], dtype=np.int64)
    q = np.array([[Fraction(1, 2), 0]], dtype=object)
    assert coefficient_ring(t) == "ZT"
    assert coefficient_ring(t, z) == "Z"
    assert coefficient_ring(t, q) == "Q"


def test_rational_scheme_verifies_exactly():
    # A = [a], B = [b]: the product (2a)·(b/2) is exact over Q.
    s = Scheme(1, 1, 1, [[2]], [[Fraction(1, 2)]], [[1]])
    assert s.ring == "Q" and verify(s).ok


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="Wb must be"):
        Scheme(2, 2, 2, strassen().Wa, strassen().Wa[:, :3], strassen().Wc)


def test_project_drops_one_slice_and_the_terms_that_vanish():
    from fastmm.reference import laderman
    from fastmm.scheme import naive_scheme
    from fastmm.verify import verify

    assert naive_scheme(2, 3, 4).project("p", 1).rank == 18
    assert naive_scheme(2, 3, 4).project("n", 0).shape == (1, 3, 4)
    lad = laderman()
    for axis in "nmp":
        for k in range(3):
            small = lad.project(axis, k)
            assert small.shape == tuple(2 if a == axis else 3 for a in "nmp")
            assert small.rank < 23
            assert verify(small, use_sympy=False).ok


def test_project_refuses_a_missing_slice():
    import pytest

    from fastmm.errors import SchemeError
    from fastmm.scheme import naive_scheme

    with pytest.raises(SchemeError):
        naive_scheme(2, 2, 2).project("m", 2)
    with pytest.raises(SchemeError):
        naive_scheme(1, 2, 2).project("n", 0)


def test_fractions_with_numpy_integers_become_python_fractions():
    """A numerical search built Fractions of np.int64 (Fraction(np.int64(1), 2)): hashing one
    failed (pow with a modulus), so `search --distinct K --ring Q` stopped with an internal error
    when comparing schemes; a Scheme now holds Fractions of Python ints."""
    from fastmm.equivalence import dedupe

    s = strassen()
    half = Fraction(np.int64(1), np.int64(2))
    assert type(half.denominator) is not int  # the input this guards against
    wa = s.Wa.astype(object)
    wc = s.Wc.astype(object)
    wa[0] = wa[0] * 2
    wc[:, 0] = [Fraction(np.int64(int(x)), np.int64(2)) for x in wc[:, 0]]
    q = Scheme(2, 2, 2, wa, s.Wb, wc)
    assert all(type(x.numerator) is int and type(x.denominator) is int for x in q.Wc.flat)
    assert verify(q, use_sympy=False).ring == "Q"
    assert len(dedupe([q, s])) == 1 and hash(q.Wc[0, 0]) == hash(Fraction(1, 2))
