"""`--symmetry t2`: flip-graph walks among schemes invariant under the transpose (AB)ᵀ = BᵀAᵀ.

For ⟨n,m,n⟩ the matrix multiplication tensor is invariant under σ(x, y, z) = (yᵀ, xᵀ, zᵀ), so a
scheme can be made of fixed terms x⊗xᵀ⊗z (z = zᵀ) and pairs {t, σt}: the same idea as the C3
walks of symmetric.py (Moosbauer & Poole 2025), for the group of order two that every shape with
two equal sizes has. A shape ⟨n,m,p⟩ is walked as the rotation of it that reads ⟨a,b,a⟩ (⟨3,3,6⟩
as ⟨3,6,3⟩), and results are rotated back. The walk is transpose_kernels.py (numba, or plain
Python); results are lifted to ZT / Z by lift.py (sign lifts, then Hensel lifting and frames) and
the runner verifies every one exactly (a lifted scheme need not stay symmetric).

Start: the naive scheme (its terms E_ij⊗E_ji⊗E_ii are fixed, the others pair up), or `start`, a
scheme of the shape (or a permutation of it) that is σ-symmetric modulo 2.
"""

from __future__ import annotations

import numpy as np

from fastmm.errors import InputError
from fastmm.scheme import Scheme
from fastmm.search import flip_py
from fastmm.search.symmetric import ArrayWalker
from fastmm.search.terms import Terms, gf2_tensor_ok
from fastmm.search.terms import to_terms as scheme_terms
from fastmm.search.terms import transpose_bits as transpose_mask

MAX_BITS = 63  # n·m, n·n bits in an int64 factor
PLATEAU = 5_000  # flips without a change of rank before a plus transition (--option plateau)
# how far above a walk's start rank plus transitions may go (without --option plus_limit); the
# walker's arrays hold that much (T2Walker: 4 slots above the start)
PLUS_EXTRA = 4
Split = tuple[list[tuple[int, int, int]], list[tuple[int, int]]]  # (pair representatives, fixed (x, z))


def walk_shape(shape: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """The cyclic rotation of `shape` that reads ⟨a,b,a⟩ (the walk's shape), or None if none does."""
    n, m, p = shape
    for s in ((n, m, p), (m, p, n), (p, n, m)):
        if s[0] == s[2]:
            return s
    return None


def check_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The walk shape of `shape`; InputError when it has no two equal sizes or is too large."""
    w = walk_shape(shape)
    if w is None:
        raise InputError(f"--symmetry t2 needs two equal sizes (⟨n,m,n⟩ up to rotation, e.g. ⟨3,3,6⟩), "
                         f"got ⟨{shape[0]},{shape[1]},{shape[2]}⟩")
    n, m, _ = w
    if max(n * m, n * n) > MAX_BITS:
        raise InputError(f"the t2 walk supports n·m and n·n up to {MAX_BITS}, got ⟨{n},{m},{n}⟩")
    return w


def sigma(t: tuple[int, int, int], n: int, m: int) -> tuple[int, int, int]:
    x, y, z = t
    return transpose_mask(y, m, n), transpose_mask(x, n, m), transpose_mask(z, n, n)


def naive_split(n: int, m: int) -> Split:
    """The naive scheme of ⟨n,m,n⟩: E_ij⊗E_ji⊗E_ii fixed, (i,j,k) and (k,j,i) paired."""
    reps, fixed = [], []
    for i in range(n):
        for j in range(m):
            for k in range(n):
                if i == k:
                    fixed.append((1 << (i * m + j), 1 << (i * n + i)))
                elif i < k:
                    reps.append((1 << (i * m + j), 1 << (j * n + k), 1 << (i * n + k)))
    return reps, fixed


def split_scheme(scheme: Scheme) -> Split:
    """(pair representatives, fixed terms) of a ⟨n,m,n⟩ scheme that is σ-symmetric modulo 2 (terms
    equal modulo 2 cancel in pairs). InputError if it is not."""
    n, m, p = scheme.shape
    if n != p or not scheme.is_integral:
        raise InputError(f"a t2 start must be an integral ⟨n,m,n⟩ scheme, got {scheme.label()}")
    try:
        A, B, C = scheme_terms(scheme)
    except ValueError as exc:
        raise InputError(f"the t2 start {scheme.label()}: {exc}") from None
    acc: set[tuple[int, int, int]] = set()
    for t in zip(A, B, C, strict=True):
        acc.symmetric_difference_update({t})
    reps, fixed, seen = [], [], set()
    for t in sorted(acc):
        if t in seen:
            continue
        image = sigma(t, n, m)
        if image == t:
            fixed.append((t[0], t[2]))
            continue
        if image not in acc:
            raise InputError(f"the start {scheme.label()} is not symmetric under (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ) "
                             "modulo 2 (a term's image is not in the scheme)")
        seen.update((t, image))
        reps.append(t)
    xs = [x for x, _ in fixed]
    if len(set(xs)) != len(xs):  # the walk keeps one fixed term per x: add their z
        merged: dict[int, int] = {}
        for x, z in fixed:
            merged[x] = merged.get(x, 0) ^ z
        fixed = [(x, z) for x, z in merged.items() if z]
    return reps, fixed


def splits(scheme: Scheme, wshape: tuple[int, int, int]) -> bool:
    """Can `scheme` (any permutation of the walk shape) start a t2 walk?"""
    try:
        split_scheme(scheme.permuted(wshape))
    except (InputError, ValueError):
        return False
    return True


def describe(scheme: Scheme) -> str | None:
    """The scheme's transpose symmetry modulo 2 in words, or None when the question does not
    apply (no rotation reads ⟨a,b,a⟩, fractions, or too large for the walk)."""
    w = walk_shape(scheme.shape)
    if w is None or not scheme.is_integral or max(w[0] * w[1], w[0] * w[0]) > MAX_BITS:
        return None
    try:
        reps, fixed = split_scheme(scheme.permuted(w))
    except InputError:
        return "no"
    return f"yes modulo 2 ({len(fixed)} fixed + {len(reps)} pairs)"


_NUMBA_WALKS: list = []


def _kernel(backend: str):
    from fastmm.search import transpose_kernels as kernels

    if backend == "python":
        return kernels.walk.py_func
    if not _NUMBA_WALKS:
        from fastmm.search.flip import warm_numba

        F = np.zeros((3, 8), dtype=np.int64)
        X = np.zeros(8, dtype=np.int64)
        st = np.array([0, 0, 0, 99, 0], dtype=np.int64)
        warm_numba(lambda: kernels.walk(F, X, X.copy(), st, np.zeros(1, dtype=np.uint64), 1, 0, 10, 0, 2, 2))
        _NUMBA_WALKS.append(kernels.walk)
    return _NUMBA_WALKS[0]


def choose_backend(choice: str | None) -> str:
    """numba where it loads, else plain Python (the walk has no C version)."""
    from fastmm.search.flip import numba_available

    if choice is not None:
        if choice not in ("numba", "python"):
            raise InputError(f"the t2 walk runs on numba or python, not {choice!r}")
        if choice == "numba" and not numba_available():
            raise InputError("backend numba: numba is not installed (pip install numba)")
        return choice
    return "numba" if numba_available() else "python"


class T2Walker(ArrayWalker):
    """One transpose-symmetric walk of ⟨n,m,n⟩ from `split` (the SymWalker interface)."""

    def __init__(self, n: int, m: int, split: Split, seed: int, backend: str, plus_limit: int):
        reps, fixed = split
        self.n, self.m = n, m
        k = len(reps)
        rank = len(fixed) + 2 * k
        cap = max(rank, plus_limit) + PLUS_EXTRA
        self.F = np.zeros((3, 2 * cap), dtype=np.int64)
        for o, rep in enumerate(reps):
            self.F[:, 2 * o] = rep
            self.F[:, 2 * o + 1] = sigma(rep, n, m)
        self.X = np.zeros(cap + 1, dtype=np.int64)
        self.Z = np.zeros(cap + 1, dtype=np.int64)
        for e, (x, z) in enumerate(fixed):
            self.X[e], self.Z[e] = x, z
        self.st = np.array([k, len(fixed), 0, rank, 0], dtype=np.int64)
        self.rng = np.array([flip_py.seed_state(seed)], dtype=np.uint64)
        self.backend = backend
        self.kernel = _kernel(backend)

    def _fixed_terms(self) -> dict[int, int]:
        """The fixed terms as x -> z, those of one x added up (the walk keeps two apart after a
        z-split) and zeros dropped: the multiplications the scheme really has."""
        out: dict[int, int] = {}
        for x, z in zip(self.X[: int(self.st[1])], self.Z[: int(self.st[1])], strict=True):
            out[int(x)] = out.get(int(x), 0) ^ int(z)
        return {x: z for x, z in out.items() if x and z}

    @property
    def rank(self) -> int:
        return len(self._fixed_terms()) + 2 * int(self.st[0])

    @property
    def fixed(self) -> int:
        return len(self._fixed_terms())

    def _state(self) -> tuple[np.ndarray, ...]:
        return self.F, self.X, self.Z, self.st

    def _walk(self, steps: int, target: int, plateau: int, plus_limit: int) -> int:
        return int(self.kernel(self.F, self.X, self.Z, self.st, self.rng, steps, target, plateau,
                               plus_limit, self.n, self.m))

    def terms(self) -> Terms:
        k = int(self.st[0])
        fixed = self._fixed_terms()
        A = [int(x) for x in self.F[0, : 2 * k]] + list(fixed)
        B = [int(x) for x in self.F[1, : 2 * k]] + [transpose_mask(x, self.n, self.m) for x in fixed]
        C = [int(x) for x in self.F[2, : 2 * k]] + list(fixed.values())
        return A, B, C


def start_split(task_shape: tuple[int, int, int], wshape: tuple[int, int, int],
                given: Scheme | None) -> Split:
    """The walk's start: `given` rotated to the walk shape and split, else the naive split."""
    n, m, _ = wshape
    if given is None:
        return naive_split(n, m)
    if sorted(given.shape) != sorted(task_shape):
        raise InputError(f"the start scheme must be of shape {task_shape} or a permutation of it")
    w = given.permuted(wshape)
    if not w.is_integral or not gf2_tensor_ok(wshape, scheme_terms(w)):
        raise InputError(f"the start scheme {given.label()} is not valid modulo 2")
    return split_scheme(w)
