"""Equivalence under the de Groote group: transforms, invariants, decisions, de-duplication."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from fastmm.equivalence import (
    Transform,
    dedupe,
    equivalent,
    invariants,
    random_symmetry,
    random_transform,
    same_coefficients,
)
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.verify import verify


def _F(rows):
    return [[Fraction(x) for x in row] for row in rows]


def _strassen_223() -> Scheme:
    return strassen().direct_sum(naive_scheme(2, 2, 1), "p")


def _strassen_322() -> Scheme:
    return naive_scheme(1, 2, 2).direct_sum(strassen(), "n")


def _winograd() -> Scheme:
    """Winograd's variant of Strassen (15 additions), written out term by term."""
    from fastmm.reference import winograd

    return winograd()


# Schemes over GF(2) found by flip-graph walks from the naive scheme, as bitmasks (bit i*m+j of
# A, j*p+k of B, i*p+k of C), so the tests do not depend on the search code.
FLIP_222 = [(15, 4, 1), (12, 3, 5), (1, 2, 15), (2, 8, 2), (5, 5, 12), (8, 15, 8), (13, 7, 13)]
FLIP_223_A = [(6, 40, 6), (3, 1, 5), (5, 2, 6), (5, 7, 4), (12, 40, 48), (2, 9, 63), (6, 49, 58),
              (4, 27, 54), (4, 54, 36), (10, 56, 56), (12, 48, 40)]
FLIP_223_B = [(5, 1, 7), (3, 3, 2), (10, 8, 8), (6, 54, 32), (2, 45, 9), (12, 32, 32), (2, 54, 45),
              (4, 18, 63), (12, 16, 16), (6, 19, 15), (3, 5, 4)]
FLIP_333 = [(365, 27, 320), (292, 195, 40), (4, 504, 36), (40, 1, 45), (511, 24, 16),
            (237, 31, 422), (292, 130, 56), (45, 5, 390), (199, 220, 166), (276, 8, 219),
            (7, 7, 130), (54, 325, 32), (384, 63, 292), (390, 45, 192), (235, 26, 246),
            (274, 357, 227), (18, 365, 195), (260, 73, 27), (195, 217, 54), (45, 1, 325),
            (390, 63, 228), (256, 292, 483), (455, 219, 144)]


def _z2(n: int, m: int, p: int, masks) -> Scheme:
    def bits(x: int, k: int) -> list[int]:
        return [(x >> i) & 1 for i in range(k)]

    wa = np.array([bits(a, n * m) for a, _, _ in masks])
    wb = np.array([bits(b, m * p) for _, b, _ in masks])
    wc = np.array([bits(c, n * p) for _, _, c in masks]).T
    s = Scheme(n, m, p, wa, wb, wc, ring="Z2")
    assert verify(s, use_sympy=False).ok
    return s


# -- the action ---------------------------------------------------------------------------

def test_gl_action_keeps_schemes_valid_in_our_layout():
    # A -> P A Q^-1, B -> Q B R^-1, C -> P^-T C R^T (C row-major): a non-orthogonal P, Q, R
    # so that a wrong transpose/inverse in the C factor would break the Brent equations.
    s = strassen()
    P = _F([[1, 1], [0, 1]])
    Q = _F([[2, 1], [1, 1]])
    R = _F([[1, 0], [3, 1]])
    t = Transform("", P, Q, R, list(range(7)), [(1, 1, 1)] * 7)
    out = t.apply(s)
    assert verify(out, use_sympy=True).ok
    assert not same_coefficients(out, s)


def test_wrong_c_action_would_fail():
    # Sanity of the test above: applying P (instead of P^-T) to C breaks the scheme.
    s = strassen()
    P = np.array([[1, 1], [0, 1]], dtype=object)
    wc = s.Wc.astype(object).reshape(2, 2, 7)
    bad_c = np.einsum("ab,bkt->akt", P, wc).reshape(4, 7)
    wa = np.einsum("ab,tbj->taj", P, s.Wa.astype(object).reshape(7, 2, 2)).reshape(7, 4)
    assert not verify(Scheme(2, 2, 2, wa, s.Wb, bad_c), use_sympy=False).ok


@pytest.mark.parametrize("seed", range(4))
def test_random_transform_is_valid_and_not_identical(seed):
    rng = np.random.default_rng(seed)
    for base in (strassen(), _strassen_223()):
        copy = random_transform(base, rng)
        assert copy.shape == base.shape and copy.rank == base.rank
        assert verify(copy, use_sympy=False).ok


def test_random_transform_over_gf2_stays_z2():
    rng = np.random.default_rng(3)
    s2 = strassen().with_meta(ring="Z2")
    copy = random_transform(s2, rng)
    assert copy.ring == "Z2"
    assert verify(copy, use_sympy=False).ok


def test_shape_moves_only_when_the_shape_allows():
    rng = np.random.default_rng(0)
    for _ in range(10):
        assert random_symmetry(_strassen_223(), rng).moves in ("", "cct")


# -- invariants ---------------------------------------------------------------------------

def test_strassen_invariants():
    inv = invariants(strassen())
    assert inv["factor_ranks"] == (((1, 1, 1), 6), ((2, 2, 2), 1))


@pytest.mark.parametrize("seed", range(3))
def test_invariants_survive_transforms(seed):
    rng = np.random.default_rng(seed)
    for base in (strassen(), laderman(), _strassen_223()):
        assert invariants(random_transform(base, rng)) == invariants(base)


# -- decisions ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_transformed_strassen_is_equivalent_and_transform_recreates_it(seed):
    rng = np.random.default_rng(seed)
    base = strassen()
    copy = random_transform(base, rng)
    res = equivalent(base, copy)
    assert res.status == "equivalent"
    assert res.transform is not None
    assert same_coefficients(res.transform.apply(base), copy)


@pytest.mark.parametrize("unimodular", [False, True])
def test_signed_permutations_and_unimodular_matrices(unimodular):
    rng = np.random.default_rng(11)
    base = _strassen_223()
    copy = random_transform(base, rng, unimodular=unimodular)
    res = equivalent(base, copy)
    assert res.status == "equivalent", res.reason
    assert same_coefficients(res.transform.apply(base), copy)


def test_cyclic_shift_and_transpose_are_recognised():
    base = strassen()
    for other in (base.cyclic(), base.transpose(), base.cyclic().transpose()):
        res = equivalent(base, other)
        assert res.status == "equivalent"
        assert same_coefficients(res.transform.apply(base), other)


def test_transposed_shape_is_equivalent_across_permuted_shapes():
    a, b = _strassen_223(), _strassen_322()
    assert b.shape == (3, 2, 2)
    res = equivalent(a, b)
    assert res.status == "equivalent"
    assert "t" in res.transform.moves or "c" in res.transform.moves
    assert same_coefficients(res.transform.apply(a), b)


def test_laderman_vs_transformed_laderman():
    rng = np.random.default_rng(5)
    base = laderman()
    copy = random_transform(base, rng)
    res = equivalent(base, copy)
    assert res.status == "equivalent", res.reason
    assert same_coefficients(res.transform.apply(base), copy)


def test_strassen_squared_vs_transformed_copy():
    base = strassen().kron(strassen())
    copy = random_transform(base, np.random.default_rng(6))
    res = equivalent(base, copy)
    assert res.status == "equivalent"
    assert same_coefficients(res.transform.apply(base), copy)


def test_every_rank7_scheme_we_have_is_equivalent_to_strassen():
    w = _winograd()
    assert verify(w, use_sympy=True).ok
    rng = np.random.default_rng(2)
    for s in (w, random_transform(w, rng), strassen().transpose()):
        res = equivalent(strassen(), s)
        assert res.status == "equivalent"
        assert res.transform is not None and same_coefficients(res.transform.apply(strassen()), s)


def test_gf2_equivalence():
    rng = np.random.default_rng(9)
    s2 = strassen().with_meta(ring="Z2")
    res = equivalent(s2, random_transform(s2, rng))
    assert res.status == "equivalent" and "GF(2)" in res.reason


def test_flip_graph_rank7_over_gf2_is_strassen():
    res = equivalent(strassen().with_meta(ring="Z2"), _z2(2, 2, 2, FLIP_222))
    assert res.status == "equivalent" and res.transform is not None


@pytest.mark.parametrize("masks", [FLIP_223_A, FLIP_223_B])
def test_flip_graph_223_rank11_recognised_after_transform(masks):
    s = _z2(2, 2, 3, masks)
    copy = random_transform(s, np.random.default_rng(1))
    res = equivalent(s, copy)
    assert res.status == "equivalent"
    assert same_coefficients(res.transform.apply(s), copy)


def test_flip_graph_333_rank23_recognised_after_transform():
    s = _z2(3, 3, 3, FLIP_333)
    copy = random_transform(s, np.random.default_rng(2))
    res = equivalent(copy, s)
    assert res.status == "equivalent"
    assert same_coefficients(res.transform.apply(copy), s)


def test_laderman_mod2_is_not_this_flip_scheme():
    res = equivalent(laderman().with_meta(ring="Z2"), _z2(3, 3, 3, FLIP_333))
    assert res.status == "inequivalent"


def test_equal_invariants_but_inequivalent_proved_by_exhaustive_search():
    a, b = _z2(2, 2, 3, FLIP_223_A), _z2(2, 2, 3, FLIP_223_B)
    assert invariants(a) == invariants(b)
    res = equivalent(a, b)
    assert res.status == "inequivalent"
    assert "exhaustive" in res.reason


def test_strassen_vs_naive_is_inequivalent():
    res = equivalent(strassen(), naive_scheme(2, 2, 2))
    assert res.status == "inequivalent"
    assert "rank" in res.reason


def test_different_shapes_and_rings_are_inequivalent():
    assert equivalent(strassen(), laderman()).status == "inequivalent"
    res = equivalent(strassen(), strassen().with_meta(ring="Z2"))
    assert res.status == "inequivalent" and "ring" in res.reason


def test_naive_direct_sum_is_a_reordering_of_naive():
    a = naive_scheme(2, 2, 2).direct_sum(naive_scheme(2, 2, 1), "p")
    res = equivalent(naive_scheme(2, 2, 3), a)
    assert res.status == "equivalent"
    assert same_coefficients(res.transform.apply(naive_scheme(2, 2, 3)), a)


def test_exhaustive_search_proves_inequivalence_when_invariants_agree():
    # Strassen with one term's A and B factors both negated is still Strassen (signs cancel);
    # breaking it — scaling C of one term by 2 — keeps every invariant but is not a valid
    # scheme, and no symmetry maps Strassen onto it: the search must say "inequivalent".
    s = strassen()
    wc = s.Wc.copy()
    wc[:, 0] *= 2
    broken = Scheme(2, 2, 2, s.Wa, s.Wb, wc, ring="Z")
    assert invariants(broken) == invariants(s)
    res = equivalent(s, broken)
    assert res.status == "inequivalent"
    assert "exhaustive" in res.reason


# -- dedupe -------------------------------------------------------------------------------

def test_dedupe_keeps_inequivalent_flip_schemes_apart():
    a, b = _z2(2, 2, 3, FLIP_223_A), _z2(2, 2, 3, FLIP_223_B)
    rng = np.random.default_rng(8)
    reps = dedupe([a, random_transform(b, rng), random_transform(a, rng), b])
    assert len(reps) == 2
    assert reps[0] is a


def test_dedupe_collapses_copies():
    rng = np.random.default_rng(4)
    base = strassen()
    schemes = [base] + [random_transform(base, rng) for _ in range(3)] + [naive_scheme(2, 2, 2)]
    reps = dedupe(schemes)
    assert len(reps) == 2
    assert reps[0] is base and reps[1].rank == 8


def test_a_dead_product_makes_the_answer_unknown_never_a_crash():
    """A valid scheme with a product whose factor is all zero (it contributes nothing): the search
    assumes nonzero factors, so such a pair is "unknown" unless the coefficients are identical."""
    from tests.export.schemes import dead_product_schemes

    dead = dead_product_schemes()
    a, b = dead["zero_left"], dead["unused"]
    assert equivalent(a, a).status == "equivalent"
    got = equivalent(a, b)
    assert got.status == "unknown" and "all-zero factor" in got.reason
    assert len(dedupe([a, b])) == 2


def _shuffled(s: Scheme, perm: list[int], scale: tuple) -> Scheme:
    """s with its terms in the order `perm`, every term scaled by (λ, μ, 1/(λμ))."""
    lam, mu = Fraction(scale[0]), Fraction(scale[1])
    wa = [[Fraction(int(v)) * lam for v in s.Wa[t]] for t in perm]
    wb = [[Fraction(int(v)) * mu for v in s.Wb[t]] for t in perm]
    wc = [[Fraction(int(v)) / (lam * mu) for v in s.Wc[:, t]] for t in perm]
    return Scheme(*s.shape, np.array(wa, dtype=object), np.array(wb, dtype=object),
                  np.array(wc, dtype=object).T)


@pytest.mark.parametrize("make", [_strassen_223, laderman, lambda: strassen().kron(strassen())])
def test_the_same_products_give_the_identity_transform(make):
    """A scheme against itself, or its products reordered and rescaled, is matched by the
    identity (P, Q, R), not by a stabiliser: ⟨2,2,1⟩ ⊕ Strassen is also fixed by R = diag(2,1,1),
    which the search used to report first."""
    s = make()
    perm = list(reversed(range(s.rank)))
    for other in (s, _shuffled(s, perm, (2, -1))):
        res = equivalent(s, other)
        assert res.status == "equivalent"
        tr = res.transform
        n, m, p = s.shape
        assert (tr.moves, tr.P, tr.Q, tr.R) == ("", _F(np.eye(n, dtype=int)), _F(np.eye(m, dtype=int)),
                                                  _F(np.eye(p, dtype=int)))
        assert same_coefficients(tr.apply(s), other)
    assert equivalent(s, _shuffled(s, perm, (2, -1))).transform.perm == perm


def test_the_identity_match_over_gf2_and_a_changed_term_falls_through():
    s = _strassen_223().with_meta(ring="Z2")
    res = equivalent(s, s)
    assert res.status == "equivalent" and res.transform.field == "GF2"
    assert res.transform.R == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    moved = random_transform(_strassen_223(), np.random.default_rng(3))
    res = equivalent(_strassen_223(), moved)  # a real change of basis still found by the search
    assert res.status == "equivalent" and same_coefficients(res.transform.apply(_strassen_223()), moved)


def test_bad_arguments_are_input_errors_not_deep_tracebacks():
    """helper-73: the schemes were never checked (AttributeError from deep inside)."""
    from fastmm.errors import InputError

    s, lad = strassen(), laderman()
    for call, says in ((lambda: equivalent(s, None), "equivalent() takes a fastmm Scheme, not NoneType"),
                       (lambda: equivalent("x", s), "equivalent() takes a fastmm Scheme, not str"),
                       (lambda: dedupe(s), "dedupe() takes a list of fastmm Schemes, not Scheme"),
                       (lambda: dedupe([s, None]), "dedupe() takes a fastmm Scheme, not NoneType"),
                       (lambda: invariants("x"), "invariants() takes a fastmm Scheme, not str"),
                       (lambda: random_transform(lad, None), "rng is a numpy Generator"),
                       (lambda: equivalent(lad, lad.transpose()).transform.apply(s),
                        "this transform acts on schemes of shape ⟨3,3,3⟩")):
        with pytest.raises(InputError, match=re.escape(says)):
            call()
    empty = Scheme(2, 2, 2, np.zeros((0, 4), dtype=int), np.zeros((0, 4), dtype=int),
                   np.zeros((4, 0), dtype=int))
    with pytest.raises(InputError, match="without products"):
        equivalent(empty, empty)


@pytest.mark.parametrize("flag_name", ["unimodular", "shape_moves"])
def test_random_transform_flags_are_true_or_false(flag_name):
    from fastmm.errors import InputError

    with pytest.raises(InputError, match=f"{flag_name} must be True or False"):
        random_transform(strassen(), np.random.default_rng(0), **{flag_name: "no"})
    assert random_transform(strassen(), np.random.default_rng(0), **{flag_name: np.bool_(False)}).rank == 7
