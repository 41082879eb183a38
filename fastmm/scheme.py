"""Scheme: an exact bilinear algorithm for ⟨n,m,p⟩ as three coefficient matrices.

    vec(C) = Wc · ((Wa · vec A) ⊙ (Wb · vec B))        (row-major vec)

Wa is r×(n·m) with A[i][j] -> i*m+j, Wb is r×(m·p) with B[j][k] -> j*p+k and
Wc is (n·p)×r with C[i][k] -> i*p+k. Integer coefficients are stored as int64
arrays, rational ones as object arrays of Fraction.

Rings: "ZT" (all coefficients in {-1,0,1}), "Z" (integers), "Q" (rationals) and
"Z2" (valid modulo 2 only), given in any case and stored upper-case. `Scheme.ring` is the ring
in which the scheme is claimed valid; `coefficient_ring` is the smallest ring holding its
coefficients.
"""

from __future__ import annotations

import copy
import numbers
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from fastmm.errors import SchemeError
from fastmm.validate import digits

RINGS = ("ZT", "Z", "Q", "Z2")
# The one ring order: ZT ⊂ Z ⊂ Q; an integer scheme also holds modulo 2 (Z2), a Z2 one only there.
RING_SERVES = {"ZT": ("ZT", "Z", "Q", "Z2"), "Z": ("Z", "Q", "Z2"), "Q": ("Q",), "Z2": ("Z2",)}


def ring_serves(have: str, want: str) -> bool:
    """Is a scheme valid over ring `have` also a valid scheme over ring `want`?"""
    return want in RING_SERVES.get(have, ())


def scheme_serves(scheme: Scheme, ring: str) -> bool:
    """Does this (verified) scheme serve ring `ring`? One labelled Z2 is valid modulo 2 only,
    whatever its coefficients; a search modulo 2 takes any scheme it was given."""
    return ring == "Z2" or (scheme.ring != "Z2" and ring_serves(scheme.coefficient_ring, ring))


RING_NAMES = {
    "ZT": "ternary integers {-1, 0, 1}",
    "Z": "integers",
    "Q": "rationals",
    "Z2": "GF(2) — valid modulo 2 only",
}


def as_coefficients(values: Any) -> np.ndarray:
    """A 2-D array of exact coefficients: int64 when every entry is an integer, else Fraction objects."""
    arr = np.array(values, dtype=object)
    if arr.ndim != 2:
        raise SchemeError("coefficient matrix must be 2-dimensional")
    try:
        flat = [_python_fraction(x) for x in arr.flat]
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        bad = next(x for x in arr.flat if not _is_number(x))
        raise SchemeError(f"coefficients must be exact numbers, got {str(bad)[:40]!r}") from None
    if all(f.denominator == 1 for f in flat):
        ints = [int(f) for f in flat]
        if not ints or max(abs(x) for x in ints) < 2**62:
            return np.array(ints, dtype=np.int64).reshape(arr.shape)
        return np.array(ints, dtype=object).reshape(arr.shape)
    return np.array(flat, dtype=object).reshape(arr.shape)


def _dimension(name: str, d: Any) -> int:
    """A dimension n, m or p: a positive integer (not a bool, not a float), else SchemeError."""
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
        raise SchemeError(f"{name} must be a positive integer, got {d!r}")
    return int(d)


def _exact_matrix(w: Any) -> np.ndarray:
    """2-D integer arrays as int64 (fast); everything else through as_coefficients, floats
    exactly (0.1 is not 1/10, so a float scheme verifies only if its floats are exact)."""
    if isinstance(w, np.ma.MaskedArray):  # an ndarray whose masked entries int64 would keep, unseen
        raise SchemeError("a masked array is not a coefficient matrix: fill its masked entries first "
                          "(w.filled(0)) or pass w.data")
    if isinstance(w, np.ndarray) and w.ndim == 2 and w.dtype.kind in "iu":
        # int64 only below 2**62 in magnitude, as as_coefficients keeps them: the exact checks
        # multiply int64 values under that bound, and abs(-2**63) is still negative in int64
        if w.size == 0 or (-(2**62) < int(w.min()) and int(w.max()) < 2**62):
            return np.array(w, dtype=np.int64)  # a copy: the scheme never shares the caller's array
    return as_coefficients(w)


_RATIONAL_TEXT = re.compile(r"[+-]?[0-9]+(?:/[0-9]+)?", re.ASCII)


def _python_fraction(x: Any) -> Fraction:
    """x as a Fraction of Python ints: Fraction(np.int64(1), 2) keeps an int64 numerator, which
    wraps in products and breaks hash() (pow with a modulus), so numpy integers are converted."""
    if isinstance(x, np.bool_):  # as a Python bool is taken: 0 or 1
        x = int(x)
    if isinstance(x, str):  # text as scheme files write it: an integer or p/q, ASCII digits
        if not _RATIONAL_TEXT.fullmatch(x.strip()):
            raise ValueError(f"{x[:40]!r} is not an integer or p/q fraction")
        x = x.strip()
    elif isinstance(x, np.floating):  # exactly, long doubles included (Fraction refuses them)
        if not np.isfinite(x):
            raise ValueError(f"{x} is not finite")
        x = Fraction(*(int(v) for v in x.as_integer_ratio()))
    f = Fraction(x)
    if type(f.numerator) is int and type(f.denominator) is int:
        return f
    return Fraction(int(f.numerator), int(f.denominator))


def _is_number(x: Any) -> bool:
    try:
        _python_fraction(x)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return False
    return True


def is_integral(w: np.ndarray) -> bool:
    return w.dtype != object or all(Fraction(x).denominator == 1 for x in w.flat)


def coefficient_ring(*mats: np.ndarray) -> str:
    """Smallest of ZT ⊂ Z ⊂ Q holding every coefficient."""
    if not all(is_integral(w) for w in mats):
        return "Q"
    if all(w.size == 0 or int(np.max(np.abs(w.astype(object)))) <= 1 for w in mats):
        return "ZT"
    return "Z"


MAX_METADATA_DEPTH = 200  # nesting of provenance / verified held in memory (files allow less)


def _plain_metadata(value: Any, what: str) -> dict:
    """provenance / verified as a dict of its own: a copy all the way down (so neither the caller
    nor another scheme shares it), numpy scalars and arrays turned into Python numbers and lists.
    None means {}; anything but a mapping, a dict or list that contains itself, or nesting deeper
    than MAX_METADATA_DEPTH is a SchemeError. Whether JSON can write the values is checked when the
    scheme is written (fastmm.io.dumps), not here."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SchemeError(f"{what} must be a dict, got {type(value).__name__}")
    return _plain_copy(value, what, set(), 0)


def _plain_copy(value: Any, what: str, inside: set[int], depth: int) -> Any:
    """`inside`: ids of the containers being copied around `value`, to refuse a cycle (which
    would recurse without end) with one line."""
    if not isinstance(value, Mapping | list | tuple | np.ndarray):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if id(value) in inside:
        raise SchemeError(f"{what} contains itself (a dict or list that refers to itself cannot be "
                          "stored)")
    if depth >= MAX_METADATA_DEPTH:
        raise SchemeError(f"{what} is nested more than {MAX_METADATA_DEPTH} levels deep")
    inside.add(id(value))
    try:
        if isinstance(value, Mapping):
            return {_plain_copy(k, what, inside, depth + 1): _plain_copy(v, what, inside, depth + 1)
                    for k, v in value.items()}
        items = [_plain_copy(v, what, inside, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    finally:
        inside.discard(id(value))


def _handed_out(w: np.ndarray) -> np.ndarray:
    """What `Wa`, `Wb` and `Wc` return: a new read-only view of an int64 array (setting its
    `dtype` or `shape` changes that view only, never the scheme), a read-only copy of an object
    array (its elements could be replaced through a view)."""
    if w.dtype == object:
        return _frozen(w)
    view = w.view()
    view.setflags(write=False)
    return view


def _frozen(w: np.ndarray) -> np.ndarray:
    """A read-only view over a read-only base, so that `setflags(write=True)` cannot make the
    scheme's array writable again (numpy refuses it for a view of a read-only base). Integer
    arrays lie in an immutable bytes buffer, so not even their base can be made writable."""
    if w.dtype != object:
        base = np.frombuffer(w.tobytes(), dtype=w.dtype).reshape(w.shape)
    else:
        base = np.array(w, dtype=object)  # owns its data: no one else holds it
        base.setflags(write=False)
    view = base.view()
    view.setflags(write=False)
    return view


class Scheme:
    """An exact scheme for ⟨n,m,p⟩ of rank r. See the module docstring for the layout.

    Immutable: the constructor checks the matrices against each other and the ring, so a scheme
    cannot be changed afterwards (assigning an attribute raises AttributeError, the coefficient
    arrays are read-only views that `setflags(write=True)` cannot make writable again; arrays of
    fractions or big integers, whose base numpy would let be made writable, and `provenance` and
    `verified` are handed out as copies). The arrays and dicts are the scheme's own copies;
    build a changed scheme with `with_meta(...)` or `Scheme(...)`. Numpy scalars in provenance
    and verified become Python numbers.
    """

    __slots__ = ("n", "m", "p", "_Wa", "_Wb", "_Wc", "ring", "_provenance", "_verified")

    n: int
    m: int
    p: int
    ring: str

    def __init__(self, n: int, m: int, p: int, Wa: Any, Wb: Any, Wc: Any, ring: str = "",
                 provenance: Mapping | None = None, verified: Mapping | None = None) -> None:
        n, m, p = (_dimension(k, d) for k, d in zip("nmp", (n, m, p), strict=True))
        wa, wb, wc = (_exact_matrix(w) for w in (Wa, Wb, Wc))
        r = wa.shape[0]
        if wa.shape != (r, n * m):
            raise SchemeError(f"Wa must be {r}×{n * m}, got {wa.shape[0]}×{wa.shape[1]}")
        if wb.shape != (r, m * p):
            raise SchemeError(f"Wb must be {r}×{m * p}, got {wb.shape[0]}×{wb.shape[1]}")
        if wc.shape != (n * p, r):
            raise SchemeError(f"Wc must be {n * p}×{r}, got {wc.shape[0]}×{wc.shape[1]}")
        if ring is not None and not isinstance(ring, str):
            raise SchemeError(f"ring must be a str such as 'ZT', got {type(ring).__name__}")
        if not ring:
            ring = coefficient_ring(wa, wb, wc)
        if ring.upper() not in RINGS:  # any case, as the API functions take it; stored upper-case
            raise SchemeError(f"unknown ring {ring[:20]!r} (expected one of {', '.join(RINGS)})")
        ring = ring.upper()
        if ring == "Z2":
            if not (is_integral(wa) and is_integral(wb) and is_integral(wc)):
                raise SchemeError("a Z2 scheme must have integer coefficients")
            wa, wb, wc = (np.asarray(w.astype(object) % 2, dtype=np.int64) for w in (wa, wb, wc))
        provenance = _plain_metadata(provenance, "provenance")
        verified = None if verified is None else _plain_metadata(verified, "verified")
        for name, value in (("n", n), ("m", m), ("p", p), ("_Wa", _frozen(wa)), ("_Wb", _frozen(wb)),
                            ("_Wc", _frozen(wc)), ("ring", ring), ("_provenance", provenance),
                            ("_verified", verified)):
            object.__setattr__(self, name, value)

    # int64 arrays are read-only views of an immutable buffer; object arrays (fractions, big
    # integers) can be made writable again through their base, so each access gets its own copy
    @property
    def Wa(self) -> np.ndarray:
        """r × nm: row t is the A-combination of product t."""
        return _handed_out(self._Wa)

    @property
    def Wb(self) -> np.ndarray:
        """r × mp: row t is the B-combination of product t."""
        return _handed_out(self._Wb)

    @property
    def Wc(self) -> np.ndarray:
        """np × r: column t says where product t goes in C."""
        return _handed_out(self._Wc)

    @property
    def provenance(self) -> dict:
        """Where the scheme comes from: a copy (changing it changes nothing in the scheme)."""
        return copy.deepcopy(self._provenance)

    @property
    def verified(self) -> dict | None:
        """The verification record of these coefficients in this ring, or None: a copy, so that
        no caller can mark a scheme verified behind the checks (with_meta(verified=...) builds a
        new scheme)."""
        return copy.deepcopy(self._verified)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Scheme cannot be changed after it is built (setting {name!r}); "
                             f"make a new one with scheme.with_meta({name}=...) or Scheme(...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Scheme cannot be changed after it is built (deleting {name!r})")

    def __reduce__(self):
        # through the constructor, so an unpickled or copied scheme is checked and read-only too
        return (Scheme, (self.n, self.m, self.p, self.Wa, self.Wb, self.Wc, self.ring,
                         self.provenance, self.verified))

    def __setstate__(self, state: Any) -> None:
        """Pickles written by fastmm before Scheme was immutable (a dataclass: the state is its
        attribute dict) load through the constructor too, so they are checked and read-only."""
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) as pickle may pass them
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict) or not {"n", "m", "p", "Wa", "Wb", "Wc"} <= set(state):
            raise SchemeError("not a pickled fastmm Scheme")
        built = Scheme(state["n"], state["m"], state["p"], state["Wa"], state["Wb"], state["Wc"],
                       state.get("ring", ""), state.get("provenance"), state.get("verified"))
        for name in Scheme.__slots__:
            object.__setattr__(self, name, getattr(built, name))

    # -- basic properties -------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n, self.m, self.p)

    @property
    def rank(self) -> int:
        return int(self.Wa.shape[0])

    @property
    def coefficient_ring(self) -> str:
        return coefficient_ring(self.Wa, self.Wb, self.Wc)

    @property
    def is_integral(self) -> bool:
        return is_integral(self.Wa) and is_integral(self.Wb) and is_integral(self.Wc)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scheme):
            return NotImplemented
        return self._same_content(other)

    def __hash__(self) -> int:
        """Equal schemes hash alike (a Scheme is immutable, so it can key a dict or join a set):
        shape, ring and where the nonzero coefficients are, whatever their dtype."""
        where = (np.flatnonzero(w).tobytes() for w in (self.Wa, self.Wb, self.Wc))
        return hash((self.shape, self.ring, *where))

    def __repr__(self) -> str:
        n, m, p = self.shape
        return f"Scheme(⟨{n},{m},{p};{self.rank}⟩, ring={self.ring})"

    def label(self) -> str:
        n, m, p = self.shape
        return f"⟨{n},{m},{p};{self.rank}⟩"

    def live_terms(self) -> list[int]:
        """Indices of the products that contribute to C: a nonzero left operand (row of Wa), a
        nonzero right operand (row of Wb) and a nonzero column of Wc. The others are dead: the
        code emitters leave them out and the addition counts ignore them."""
        return _live(self.Wa, self.Wb, self.Wc)

    def with_meta(self, **changes: Any) -> Scheme:
        """A new scheme with some of the constructor's arguments replaced (usually provenance,
        verified or ring), checked as any other; it shares nothing with this one (the
        constructor copies the arrays and, all the way down, provenance and verified).

        The "verified" record describes these coefficients in this ring: it is kept only while
        they stay as they are (the same shape, Wa, Wb, Wc and ring, as values). A scheme whose
        coefficients or ring change has none unless `verified=` gives it its new one."""
        kw = dict(n=self.n, m=self.m, p=self.p, Wa=self.Wa, Wb=self.Wb, Wc=self.Wc,
                  ring=self.ring, provenance=self.provenance, verified=self.verified)
        unknown = sorted(set(changes) - set(kw))
        if unknown:
            raise SchemeError(f"with_meta takes {', '.join(kw)}; not {', '.join(map(str, unknown))[:80]}")
        kw.update(changes)
        out = Scheme(**kw)
        if "verified" not in changes and out.verified is not None and not set(changes) <= {"provenance"} \
                and not out._same_content(self):
            object.__setattr__(out, "_verified", None)
        return out

    def _same_content(self, other: Scheme) -> bool:
        return (self.shape == other.shape and self.ring == other.ring and _same(self.Wa, other.Wa)
                and _same(self.Wb, other.Wb) and _same(self.Wc, other.Wc))

    # -- terms --------------------------------------------------------------
    def factor_matrices(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The A (n×m), B (m×p) and C (n×p) coefficient matrices of term t."""
        n, m, p = self.shape
        t = _index("the term t", t, self.rank)
        return (
            self.Wa[t].reshape(n, m),
            self.Wb[t].reshape(m, p),
            self.Wc[:, t].reshape(n, p),
        )

    # -- algebra ------------------------------------------------------------
    def transpose(self) -> Scheme:
        """⟨n,m,p⟩ -> ⟨p,m,n⟩ through (AB)ᵀ = BᵀAᵀ."""
        n, m, p = self.shape
        r = self.rank
        wa = self.Wb.reshape(r, m, p).transpose(0, 2, 1).reshape(r, p * m)
        wb = self.Wa.reshape(r, n, m).transpose(0, 2, 1).reshape(r, m * n)
        wc = self.Wc.reshape(n, p, r).transpose(1, 0, 2).reshape(p * n, r)
        return Scheme(p, m, n, wa, wb, wc, ring=self.ring, provenance={"derived": "transpose"})

    def cyclic(self) -> Scheme:
        """⟨n,m,p⟩ -> ⟨m,p,n⟩ through the cyclic symmetry of tr(A·B·Cᵀ-factor)."""
        n, m, p = self.shape
        r = self.rank
        wa = self.Wb.copy()  # A' = B-factor, m×p row-major
        # B'[k,i] = Cᵀ-factor[k,i] = Wc[i*p+k]
        wb = self.Wc.reshape(n, p, r).transpose(2, 1, 0).reshape(r, p * n)
        # C'[j,i] = A-factor[i,j]
        wc = self.Wa.reshape(r, n, m).transpose(2, 1, 0).reshape(m * n, r)
        return Scheme(m, p, n, wa, wb, wc, ring=self.ring, provenance={"derived": "cyclic"})

    def permuted(self, shape: tuple[int, int, int]) -> Scheme:
        """An equivalent scheme for any permutation of (n, m, p), through cyclic shifts and transposes."""
        listed = isinstance(shape, tuple | list) or (isinstance(shape, np.ndarray) and shape.ndim == 1)
        if isinstance(shape, str | bytes) or not listed or len(shape) != 3 \
                or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape):
            raise SchemeError(f"permuted needs a shape of three integers, got {str(shape)[:40]!r}")
        shape = tuple(int(d) for d in shape)
        candidates = [self]
        for _ in range(2):
            candidates.append(candidates[-1].cyclic())
        candidates += [s.transpose() for s in candidates[:3]]
        for s in candidates:
            if s.shape == tuple(shape):
                return s
        raise SchemeError(f"({', '.join(digits(x) for x in shape)}) is not a permutation of {self.shape}")

    def kron(self, other: Scheme) -> Scheme:
        """Kronecker (tensor) product: ⟨n1n2, m1m2, p1p2; r1r2⟩."""
        other = _other_scheme(other, "kron")
        (n1, m1, p1), (n2, m2, p2) = self.shape, other.shape
        r1, r2 = self.rank, other.rank

        def prod(x: np.ndarray, y: np.ndarray, a1: int, b1: int, a2: int, b2: int) -> np.ndarray:
            if x.dtype != object and y.dtype != object and magnitude(x) * magnitude(y) >= 2**62:
                x, y = x.astype(object), y.astype(object)  # Python ints: int64 products would wrap
            x = x.reshape(r1, a1, b1)[:, None, :, None, :, None]
            y = y.reshape(r2, a2, b2)[None, :, None, :, None, :]
            return (x * y).reshape(r1 * r2, a1 * a2 * b1 * b2)

        wa = prod(self.Wa, other.Wa, n1, m1, n2, m2)
        wb = prod(self.Wb, other.Wb, m1, p1, m2, p2)
        wc = prod(self.Wc.T, other.Wc.T, n1, p1, n2, p2).T
        ring = "Z2" if "Z2" in (self.ring, other.ring) else ""
        return Scheme(n1 * n2, m1 * m2, p1 * p2, as_coefficients(wa), as_coefficients(wb),
                      as_coefficients(wc), ring=ring, provenance={"derived": "kron"})

    def direct_sum(self, other: Scheme, axis: str = "p") -> Scheme:
        """Join two schemes along one dimension: ⟨n,m,p1⟩ ⊕ ⟨n,m,p2⟩ = ⟨n,m,p1+p2⟩ (ranks add).

        axis "n" stacks A and C by rows, "p" stacks B and C by columns, "m" splits the inner
        dimension (C = A1·B1 + A2·B2).
        """
        other = _other_scheme(other, "direct_sum")
        (n1, m1, p1), (n2, m2, p2) = self.shape, other.shape
        if axis == "n" and (m1, p1) == (m2, p2):
            big, offs = (n1 + n2, m1, p1), ((0, 0, 0), (n1, 0, 0))
        elif axis == "m" and (n1, p1) == (n2, p2):
            big, offs = (n1, m1 + m2, p1), ((0, 0, 0), (0, m1, 0))
        elif axis == "p" and (n1, m1) == (n2, m2):
            big, offs = (n1, m1, p1 + p2), ((0, 0, 0), (0, 0, p1))
        else:
            raise SchemeError(f"cannot join {self.shape} and {other.shape} along {axis!r}")
        parts = [_embed(s, big, off) for s, off in zip((self, other), offs, strict=True)]
        wa = np.concatenate([x[0] for x in parts], axis=0)
        wb = np.concatenate([x[1] for x in parts], axis=0)
        wc = np.concatenate([x[2] for x in parts], axis=1)
        ring = "Z2" if "Z2" in (self.ring, other.ring) else ""
        return Scheme(*big, as_coefficients(wa), as_coefficients(wb), as_coefficients(wc),
                      ring=ring, provenance={"derived": f"direct_sum({axis})"})


    def project(self, axis: str, index: int) -> Scheme:
        """Drop index `index` of one dimension: ⟨n,m,p⟩ -> ⟨n−1,m,p⟩ (axis "n"), etc.

        The meta flip graph's projection (Kauers & Wood 2025): A's row (n), A's column and B's
        row (m) or B's and C's column (p) are zeroed and removed; terms whose A or B factor
        vanishes are dropped, so the rank falls by their number. Valid in the same ring.
        """
        n, m, p = self.shape
        dims = {"n": n, "m": m, "p": p}
        if not isinstance(axis, str) or axis not in dims:
            raise SchemeError(f"project's axis is 'n', 'm' or 'p', not {str(axis)[:20]!r}")
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise SchemeError(f"project's index must be an integer, got {str(index)[:20]!r}")
        index = int(index)
        if not 0 <= index < dims[axis] or dims[axis] < 2:
            raise SchemeError(f"cannot project ⟨{n},{m},{p}⟩ along {axis!r} at {digits(index)}")
        keep_a = [i * m + j for i in range(n) for j in range(m)
                  if not (axis == "n" and i == index) and not (axis == "m" and j == index)]
        keep_b = [j * p + k for j in range(m) for k in range(p)
                  if not (axis == "m" and j == index) and not (axis == "p" and k == index)]
        keep_c = [i * p + k for i in range(n) for k in range(p)
                  if not (axis == "n" and i == index) and not (axis == "p" and k == index)]
        wa, wb, wc = self.Wa[:, keep_a], self.Wb[:, keep_b], self.Wc[keep_c, :]
        live = _live(wa, wb, wc)
        small = (n - (axis == "n"), m - (axis == "m"), p - (axis == "p"))
        ring = "Z2" if self.ring == "Z2" else ""
        return Scheme(*small, wa[live], wb[live], wc[:, live], ring=ring,
                      provenance={"derived": f"project({axis}={index})"})


def magnitude(w: np.ndarray) -> int:
    """The largest |entry| of an integer array (int64, or Python ints in an object array) as a
    Python int: np.abs of int64's minimum wraps to a negative."""
    if w.dtype == object:
        return max((abs(int(x)) for x in w.flat), default=0)
    return max(-int(w.min(initial=0)), int(w.max(initial=0)))


def _index(what: str, value: Any, limit: int) -> int:
    """An index 0 <= value < limit (an integer, not a bool), else SchemeError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < limit:
        raise SchemeError(f"{what} must be an integer from 0 to {limit - 1}, got {str(value)[:20]!r}")
    return int(value)


def _live(wa: np.ndarray, wb: np.ndarray, wc: np.ndarray) -> list[int]:
    return [t for t in range(wa.shape[0])
            if np.any(wa[t] != 0) and np.any(wb[t] != 0) and np.any(wc[:, t] != 0)]


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    if x.shape != y.shape:
        return False
    if x.dtype != object and y.dtype != object:
        return bool(np.array_equal(x, y))
    return all(Fraction(a) == Fraction(b) for a, b in zip(x.flat, y.flat, strict=True))


def _other_scheme(other: Any, what: str) -> Scheme:
    if not isinstance(other, Scheme):
        raise SchemeError(f"{what} needs another fastmm Scheme, got {type(other).__name__}")
    return other


def _embed(s: Scheme, big: tuple[int, int, int], off: tuple[int, int, int]):
    """Place scheme s inside a bigger ⟨N,M,P⟩ index space at offsets (i0, j0, k0)."""
    N, M, P = big
    i0, j0, k0 = off
    n, m, p = s.shape
    r = s.rank
    wa = np.zeros((r, N, M), dtype=object)
    wb = np.zeros((r, M, P), dtype=object)
    wc = np.zeros((N, P, r), dtype=object)
    wa[:, i0:i0 + n, j0:j0 + m] = s.Wa.reshape(r, n, m)
    wb[:, j0:j0 + m, k0:k0 + p] = s.Wb.reshape(r, m, p)
    wc[i0:i0 + n, k0:k0 + p, :] = s.Wc.reshape(n, p, r)
    return wa.reshape(r, N * M), wb.reshape(r, M * P), wc.reshape(N * P, r)


NAIVE_MAX_ENTRIES = 20_000_000  # coefficients (8 bytes each) of a naive scheme built in memory


def naive_scheme(n: int, m: int, p: int) -> Scheme:
    """The schoolbook algorithm: one product a_ij·b_jk per (i, j, k), rank n·m·p."""
    n, m, p = (_dimension(k, d) for k, d in zip("nmp", (n, m, p), strict=True))
    r = n * m * p
    if r * (n * m + m * p + n * p) > NAIVE_MAX_ENTRIES:
        raise SchemeError(f"the naive ⟨{n},{m},{p}⟩ scheme would have {r * (n * m + m * p + n * p):,} "
                          f"coefficients, more than {NAIVE_MAX_ENTRIES:,}")
    wa = np.zeros((r, n * m), dtype=np.int64)
    wb = np.zeros((r, m * p), dtype=np.int64)
    wc = np.zeros((n * p, r), dtype=np.int64)
    t = 0
    for i in range(n):
        for j in range(m):
            for k in range(p):
                wa[t, i * m + j] = 1
                wb[t, j * p + k] = 1
                wc[i * p + k, t] = 1
                t += 1
    return Scheme(n, m, p, wa, wb, wc, ring="ZT", provenance={"method": "naive"})


def scheme_from_terms(n: int, m: int, p: int, terms, ring: str = "") -> Scheme:
    """Build a scheme from rank-one terms (A n×m, B m×p, C n×p) given as nested lists."""
    wa = [np.array(a, dtype=object).reshape(-1) for a, _, _ in terms]
    wb = [np.array(b, dtype=object).reshape(-1) for _, b, _ in terms]
    wc = np.array([np.array(c, dtype=object).reshape(-1) for _, _, c in terms], dtype=object).T
    return Scheme(n, m, p, as_coefficients(wa), as_coefficients(wb), as_coefficients(wc), ring=ring)
