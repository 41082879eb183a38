"""Property-based tests of the scheme algebra (hypothesis): every operation keeps a scheme valid,
and round trips give back the same scheme."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmm.io import dumps, loads
from fastmm.reference import laderman, strassen
from fastmm.scheme import naive_scheme
from fastmm.verify import verify

dims = st.integers(min_value=1, max_value=3)


@st.composite
def schemes(draw):
    """A valid scheme: naive, Strassen, Laderman, or a sum/product of two of those."""
    base = draw(st.sampled_from(["naive", "strassen", "laderman"]))
    if base == "naive":
        s = naive_scheme(draw(dims), draw(dims), draw(dims))
    else:
        s = strassen() if base == "strassen" else laderman()
    for _ in range(draw(st.integers(0, 3))):
        move = draw(st.sampled_from(["cyclic", "transpose"]))
        s = s.cyclic() if move == "cyclic" else s.transpose()
    return s


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ok(s) -> bool:
    return verify(s, use_sympy=False).ok


@FAST
@given(schemes())
def test_cyclic_three_times_and_transpose_twice_are_the_identity(s):
    assert s.cyclic().cyclic().cyclic() == s
    assert s.transpose().transpose() == s
    assert ok(s.cyclic()) and ok(s.transpose())


@FAST
@given(schemes(), dims, st.sampled_from("nmp"))
def test_direct_sum_with_a_naive_slice_is_valid_and_ranks_add(s, d, axis):
    n, m, p = s.shape
    other = naive_scheme(d if axis == "n" else n, d if axis == "m" else m, d if axis == "p" else p)
    t = s.direct_sum(other, axis)
    assert ok(t) and t.rank == s.rank + other.rank


@FAST
@given(schemes(), st.sampled_from([(1, 1, 2), (2, 1, 1), (1, 2, 1), (2, 2, 2)]))
def test_kron_is_valid_and_ranks_multiply(s, small):
    other = strassen() if small == (2, 2, 2) else naive_scheme(*small)
    t = s.kron(other)
    assert ok(t) and t.rank == s.rank * other.rank
    assert t.shape == tuple(a * b for a, b in zip(s.shape, other.shape, strict=True))


@FAST
@given(schemes(), st.sampled_from("nmp"), st.integers(0, 2))
def test_projection_stays_valid(s, axis, k):
    size = s.shape["nmp".index(axis)]
    if size < 2:
        return
    t = s.project(axis, k % size)
    assert ok(t) and t.rank <= s.rank


@FAST
@given(schemes())
def test_file_round_trip_is_exact(s):
    assert loads(dumps(s)) == s
