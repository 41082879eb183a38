"""Lifting a GF(2) scheme to the integers: sign lifting (→ ZT) and Hensel lifting (→ Z).

Sign lifting. A ternary lift of a GF(2) scheme has the same support (odd entries are ±1, even
ones 0), so only signs are unknown: give each nonzero coefficient a bit σ (entry = (−1)^σ).
Brent equation (u, v, w) is a sum over the k terms whose three factors hit u, v, w of
(−1)^(σa+σb+σc) = δ. Since (−1)^e ≡ 1 − 2e (mod 4), it holds modulo 4 exactly when
Σ (σa+σb+σc) ≡ (k − δ)/2 (mod 2): one linear system over GF(2). A solution is exact over Z
unless some equation has k ≥ 3 terms that cancel wrongly, so solutions are checked exactly,
trying a few random points of the affine solution space.

Hensel lifting. With X ≡ the GF(2) scheme (mod 2) and F(X) ≡ T (mod 2^k), k ≥ 1, set
X' = X + 2^k Δ: F(X') ≡ F(X) + 2^k J Δ (mod 2^(k+1)), with J the Jacobian modulo 2, which
depends only on X mod 2 and so is eliminated once. Solve J Δ = (T − F(X))/2^k (mod 2) with the
free variables at 0, repeat, and after each step test whether the balanced representatives
(−2^k, 2^k] form an exact integer scheme.

Pure Python + numpy (no numba, no sympy): a lift of ⟨3,3,3;23⟩ takes milliseconds. Without a
sign lift, `lift(..., frames=True)` also tries Hensel lifting followed by changes of basis
towards ternary coefficients (frame_to_ternary), as `fastmm lift` does; searches over ZT do it
within a share of their time (`Rescue`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastmm.errors import InputError
from fastmm.scheme import Scheme
from fastmm.search.terms import Terms, bits, matrices

_TARGETS: dict[tuple[int, int, int], np.ndarray] = {}

# A GF(2) system keeps, with each row, the record of the rows combined into it: about
# equations × (unknowns + equations) bits in all. Hensel lifting ⟨6,6,6;161⟩ needs 3·10^9; a
# Kronecker ⟨8,8,8;376⟩ needed 10^11 (gigabytes, and minutes deaf to the time limit).
MAX_SYSTEM_BITS = 2**32


class SystemTooLarge(InputError):
    """The mod-4 sign system of a scheme is beyond MAX_SYSTEM_BITS."""


class _Stopped(Exception):
    """`stop()` became true while a system was built or eliminated."""


@dataclass
class LiftNotes:
    """What a failed `lift` learned on its way, so that `no_lift_reason` can say why without
    building and eliminating its systems a second time (seconds on big shapes)."""

    signs_solvable: bool | None = None  # the mod-4 sign system has a solution (None: not built)
    mod4: tuple | None = None  # (Wa, Wb, Wc) of its solution with the free variables at 0
    hensel: str | None = None  # "too large", "obstructed" (first step unsolvable), "failed"


def _system_bits(equations: int, unknowns: int) -> int:
    return equations * (unknowns + equations)


def hensel_fits(shape: tuple[int, int, int], rank: int) -> bool:
    """Whether Hensel lifting's Jacobian system of a ⟨shape; rank⟩ scheme is within MAX_SYSTEM_BITS."""
    n, m, p = shape
    return _system_bits(n * m * m * p * n * p, rank * (n * m + m * p + n * p)) <= MAX_SYSTEM_BITS


def target(shape: tuple[int, int, int]) -> np.ndarray:
    """⟨n,m,p⟩ as an int64 tensor in the (A, B, C row-major) layout of fastmm.verify."""
    if shape not in _TARGETS:
        n, m, p = shape
        t = np.zeros((n * m, m * p, n * p), dtype=np.int64)
        for i in range(n):
            for j in range(m):
                for k in range(p):
                    t[i * m + j, j * p + k, i * p + k] = 1
        _TARGETS[shape] = t
    return _TARGETS[shape]


def residual(shape: tuple[int, int, int], wa: np.ndarray, wb: np.ndarray, wc: np.ndarray) -> np.ndarray:
    """T − Σ_t a_t⊗b_t⊗c_t, exactly in int64 (callers keep coefficients small)."""
    return target(shape) - np.einsum("ta,tb,ct->abc", wa, wb, wc, optimize=True)


class GF2System:
    """Rows over GF(2) as Python ints, eliminated once; solved for any right-hand side.

    Row e of the system is `rows[e]` (bit x = coefficient of variable x). Elimination keeps,
    for every reduced row, which original rows were combined (bits above `nvars`), so a new
    right-hand side costs one parity per pivot.
    """

    def __init__(self, rows: list[int], nvars: int, stop: Callable[[], bool] | None = None):
        self.nvars = nvars
        varmask = (1 << nvars) - 1
        pivots: dict[int, int] = {}
        nulls: list[int] = []
        for e, row in enumerate(rows):
            if stop is not None and e % 256 == 0 and stop():
                raise _Stopped
            row |= 1 << (nvars + e)
            while True:
                part = row & varmask
                if not part:
                    nulls.append(row >> nvars)
                    break
                h = part.bit_length() - 1
                other = pivots.get(h)
                if other is None:
                    pivots[h] = row
                    break
                row ^= other
        self.pivots = sorted(pivots.items())
        self.nulls = nulls
        self.free = [x for x in range(nvars) if x not in pivots]

    def solve(self, rhs: int, free_bits: int = 0) -> int | None:
        """A solution (bit x = variable x) of rows·x = rhs, or None; `free_bits` sets free variables."""
        for comb in self.nulls:
            if (comb & rhs).bit_count() & 1:
                return None
        x = 0
        for pos, v in enumerate(self.free):
            if free_bits >> pos & 1:
                x |= 1 << v
        varmask = (1 << self.nvars) - 1
        for h, row in self.pivots:
            val = ((row >> self.nvars) & rhs).bit_count() & 1
            val ^= ((row & varmask & ~(1 << h)) & x).bit_count() & 1
            if val:
                x |= 1 << h
        return x


def _delta(shape: tuple[int, int, int], u: int, v: int, w: int) -> int:
    n, m, p = shape
    i, j = divmod(u, m)
    j2, k = divmod(v, p)
    i2, k2 = divmod(w, p)
    return int(i == i2 and j == j2 and k == k2)


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return x ^ (x >> 31)


def sign_system(shape: tuple[int, int, int], terms: Terms, stop: Callable[[], bool] | None = None):
    """(system, rhs, variables) of the mod-4 sign equations; variables[x] = (factor, term, bit).
    SystemTooLarge beyond MAX_SYSTEM_BITS; `stop()` true raises _Stopped."""
    A, B, C = terms
    var: dict[tuple[int, int, int], int] = {}
    variables: list[tuple[int, int, int]] = []
    for f, F in enumerate((A, B, C)):
        for t, x in enumerate(F):
            for u in bits(x):
                var[(f, t, u)] = len(variables)
                variables.append((f, t, u))
    eqs: dict[tuple[int, int, int], list[int]] = {}
    for t in range(len(A)):
        if stop is not None and stop():
            raise _Stopped
        bb, cc = bits(B[t]), bits(C[t])
        for u in bits(A[t]):
            xa = 1 << var[(0, t, u)]
            for v in bb:
                xab = xa ^ (1 << var[(1, t, v)])
                for w in cc:
                    e = eqs.setdefault((u, v, w), [0, 0])
                    e[0] ^= xab ^ (1 << var[(2, t, w)])
                    e[1] += 1
    if _system_bits(len(eqs), len(variables)) > MAX_SYSTEM_BITS:
        raise SystemTooLarge(f"⟨{shape[0]},{shape[1]},{shape[2]};{len(A)}⟩ is too large to lift: its mod-4 "
                             f"sign system has {len(eqs):,} equations in {len(variables):,} unknowns")
    rows, rhs = [], 0
    for idx, ((u, v, w), (row, k)) in enumerate(eqs.items()):
        d = _delta(shape, u, v, w)
        if (k - d) % 2:
            raise ValueError("the terms are not a scheme modulo 2")
        rows.append(row)
        if (k - d) // 2 % 2:
            rhs |= 1 << idx
    return GF2System(rows, len(variables), stop), rhs, variables


def sign_lift(shape: tuple[int, int, int], terms: Terms, tries: int = 32,
              seed: int = 0, stop: Callable[[], bool] | None = None, notes: LiftNotes | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact ternary (Wa, Wb, Wc) with the terms' support, or None if none was found.

    Tries the solution with free variables 0, then `tries − 1` random points of the solution
    space of the mod-4 system; each candidate is checked exactly over Z. `stop()` true ends the
    tries early (None). `notes` gets whether the system has a solution, and its first one.
    """
    try:
        system, rhs, variables = sign_system(shape, terms, stop)
    except _Stopped:
        return None
    base = matrices(shape, terms)
    h = _mix(seed)
    for attempt in range(tries):
        if attempt and stop is not None and stop():
            return None
        free_bits = 0
        if attempt:
            for chunk in range(0, len(system.free), 64):
                h = _mix(h)
                free_bits |= h << chunk
        x = system.solve(rhs, free_bits)
        if notes is not None and not attempt:
            notes.signs_solvable = x is not None
        if x is None:
            return None
        wa, wb, wc = _apply_signs((w.copy() for w in base), x, variables)
        if notes is not None and not attempt:
            notes.mod4 = (wa.copy(), wb.copy(), wc.copy())
        if not residual(shape, wa, wb, wc).any():
            return wa, wb, wc
    return None


def hensel_lift(shape: tuple[int, int, int], terms: Terms, max_steps: int = 12,
                stop: Callable[[], bool] | None = None, notes: LiftNotes | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact integer (Wa, Wb, Wc) reducing to the terms mod 2, by Hensel lifting; None on failure,
    when its system is beyond MAX_SYSTEM_BITS (`hensel_fits`) or when `stop()` becomes true.
    `notes` (from a sign lift of the same terms) saves building the sign system again, and gets
    why Hensel lifting failed."""
    notes = LiftNotes() if notes is None else notes
    try:
        got = _hensel_lift(shape, terms, max_steps, stop, notes)
    except _Stopped:
        return None
    if got is None and notes.hensel is None:
        notes.hensel = "failed"
    return got


def _jacobian(shape: tuple[int, int, int], terms: Terms, stop: Callable[[], bool] | None) -> GF2System:
    """The Jacobian of the Brent equations at the terms, modulo 2, eliminated; variable order:
    every term's A coefficients, then B's, then C's (as `_hensel_lift` applies a solution)."""
    n, m, p = shape
    A, B, C = terms
    r = len(A)
    na, nb, nc = n * m, m * p, n * p
    # equation (u,v,w) <- ∂/∂a[t,u] = b_t[v] c_t[w], etc.
    rows = [0] * (na * nb * nc)
    for t in range(r):
        if stop is not None and stop():
            raise _Stopped
        ab, bb, cb = bits(A[t]), bits(B[t]), bits(C[t])
        for v in bb:
            for w in cb:
                for u in range(na):
                    rows[(u * nb + v) * nc + w] |= 1 << (t * na + u)
        for u in ab:
            for w in cb:
                for v in range(nb):
                    rows[(u * nb + v) * nc + w] |= 1 << (r * na + t * nb + v)
            for v in bb:
                for w in range(nc):
                    rows[(u * nb + v) * nc + w] |= 1 << (r * (na + nb) + t * nc + w)
    return GF2System(rows, r * (na + nb + nc), stop)


def _bits_of(res: np.ndarray, k: int) -> int:
    """Bit k of every entry of a residual divisible by 2^k, as one int (bit e = entry e)."""
    rhs = 0
    for e in np.flatnonzero(((res >> k) & 1).reshape(-1)):
        rhs |= 1 << int(e)
    return rhs


def hensel_obstructed(shape: tuple[int, int, int], terms: Terms,
                      stop: Callable[[], bool] | None = None) -> bool | None:
    """Whether no integer scheme reduces to the GF(2) terms modulo 2 — a proof, not a failed search.

    Any integer lift is X + 2Δ with X the 0/1 terms, and F(X + 2Δ) ≡ F(X) + 2 J Δ (mod 4), so
    J Δ ≡ (T − F(X))/2 (mod 2) must have a solution: the first step of Hensel lifting. When it has
    none, no scheme over Z (nor over Q with odd denominators) reduces to the terms: they belong to
    characteristic 2 alone, like the GF(2) ⟨4,4,4;47⟩. None when the system is beyond
    MAX_SYSTEM_BITS (`hensel_fits`) or `stop()` became true.
    """
    if not hensel_fits(shape, len(terms[0])):
        return None
    try:
        system = _jacobian(shape, terms, stop)
    except _Stopped:
        return None
    res = residual(shape, *matrices(shape, terms))
    if (res % 2).any():
        raise ValueError("the terms are not a scheme modulo 2")
    return system.solve(_bits_of(res, 1)) is None


def _hensel_lift(shape: tuple[int, int, int], terms: Terms, max_steps: int,
                 stop: Callable[[], bool] | None, notes: LiftNotes
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    n, m, p = shape
    r = len(terms[0])
    if not hensel_fits(shape, r):
        notes.hensel = "too large"
        return None
    na, nb, nc = n * m, m * p, n * p
    system = _jacobian(shape, terms, stop)
    wa, wb, wc = matrices(shape, terms)
    start = 1
    # Start from a mod-4 sign solution when there is one: it keeps coefficients small.
    if notes.signs_solvable is None:
        signed = _signs_mod4(shape, terms, stop)
        notes.signs_solvable = signed is not None
    else:
        signed = None if notes.mod4 is None else tuple(w.copy() for w in notes.mod4)
    if signed is not None:
        wa, wb, wc = signed
        start = 2
    for k in range(start, max_steps + 1):
        res = residual(shape, wa, wb, wc)
        if not res.any():
            return wa, wb, wc
        if (res % (1 << k)).any():
            raise AssertionError("Hensel invariant broken")
        x = system.solve(_bits_of(res, k))
        if x is None:
            # from the 0/1 terms, an unsolvable first step is `hensel_obstructed`'s proof
            notes.hensel = "obstructed" if k == 1 else "failed"
            return None
        step = 1 << k
        for idx in bits(x):
            if idx < r * na:
                t, u = divmod(idx, na)
                wa[t, u] += step
            elif idx < r * (na + nb):
                t, v = divmod(idx - r * na, nb)
                wb[t, v] += step
            else:
                t, w = divmod(idx - r * (na + nb), nc)
                wc[w, t] += step
        mod = 1 << (k + 1)
        bal = [((w + mod // 2 - 1) % mod) - (mod // 2 - 1) for w in (wa, wb, wc)]
        if not residual(shape, *bal).any():
            return bal[0], bal[1], bal[2]
    return None


def _signs_mod4(shape: tuple[int, int, int], terms: Terms, stop: Callable[[], bool] | None = None):
    system, rhs, variables = sign_system(shape, terms, stop)
    x = system.solve(rhs)
    if x is None:
        return None
    return _apply_signs(matrices(shape, terms), x, variables)


def _apply_signs(mats, x: int, variables):
    """Set to −1 every coefficient whose sign bit is 1 in the solution x of a sign system."""
    wa, wb, wc = mats
    for idx in bits(x):
        f, t, u = variables[idx]
        if f == 0:
            wa[t, u] = -1
        elif f == 1:
            wb[t, u] = -1
        else:
            wc[u, t] = -1
    return wa, wb, wc


def no_lift_reason(notes: LiftNotes, ring: str, tries: int) -> str:
    """Why `lift` found nothing, from what it noted on its way: definite when the mod-4 sign
    system has no solution (no ternary scheme reduces to the terms modulo 2) and when the first
    Hensel step has none (no integer scheme does: `hensel_obstructed`), else how far it went."""
    if notes.signs_solvable is False:
        why = "its mod-4 sign equations have no solution, so no ZT scheme reduces to it modulo 2"
    else:
        why = (f"its mod-4 sign equations have solutions, but none of the {tries} tried is exact "
               "over Z (more tries may find one)")
    if notes.hensel == "too large":
        why += "; Hensel lifting was not tried (its linear system would be too large)"
    elif notes.hensel == "obstructed":
        why += ("; nor does any integer scheme: the first step of Hensel lifting (modulo 4) has no "
                "solution, which proves that it belongs to characteristic 2 alone")
        if ring == "ZT":
            why += " (a ZT scheme of its rank that reduces to other terms is not ruled out)"
    elif ring == "Z":
        why += "; Hensel lifting found no integer scheme either (that is not a proof that none exists)"
    else:
        why += ("; nor did Hensel lifting and changes of basis give a ZT scheme of its rank (that is "
                "not a proof that none exists)")
    return why


def frame_to_ternary(shape: tuple[int, int, int], wa: np.ndarray, wb: np.ndarray,
                     wc: np.ndarray, stop: Callable[[], bool] | None = None) -> Scheme | None:
    """A ZT scheme of the same rank from an integer one, by changes of basis: the frames of its
    own rank-one directions and diagonal rescaling (fastmm.search.frames); None if none is ternary
    (or `stop()` became true between two candidates).

    Of 124 ⟨3,3,3;23⟩ GF(2) schemes from flip walks without a sign lift, Hensel lifting gave 91
    integer schemes and this made 53 of those ternary (results/lift_yield.md); on ⟨3,4,5;48⟩ it
    takes about 20 s a scheme, so searches call it only within a share of their time (`Rescue`).
    """
    from fastmm.search.frames import balance, framed_points, on_integers
    from fastmm.verify import verify

    u, v, w = (np.asarray(x, dtype=np.float64) for x in (wa, wb, wc.T))
    for framed in framed_points(u, v, w, shape):
        if stop is not None and stop():
            return None
        for cand in (framed, balance(*framed, shape)):
            ints = None if cand is None else on_integers(cand)
            if ints is None or max(np.abs(i).max() for i in ints) > 1:
                continue
            a, b, c = (i.astype(np.int64) for i in ints)
            scheme = Scheme(*shape, a, b, np.ascontiguousarray(c.T))
            if verify(scheme, use_sympy=False).ok:
                return scheme
    return None


def lift(shape: tuple[int, int, int], terms: Terms, ring: str, seed: int = 0,
         tries: int = 32, frames: bool = False, stop: Callable[[], bool] | None = None,
         notes: LiftNotes | None = None) -> tuple[Scheme, str] | None:
    """An exact scheme valid in `ring` ("ZT" or "Z") lifted from GF(2) terms, and how it was made.

    With `frames` (ring ZT), terms without a sign lift are Hensel-lifted to Z and then framed
    (frame_to_ternary): a ZT scheme of the same rank, though not one that reduces to the terms.
    `stop()` true cuts the sign tries and the framing short (None unless one was found).
    `notes` gets what a failure learned (`no_lift_reason` words it).
    """
    notes = LiftNotes() if notes is None else notes
    got = sign_lift(shape, terms, tries=tries, seed=seed, stop=stop, notes=notes)
    if got is not None:
        return Scheme(*shape, *got), "signs"
    if stop is not None and stop():
        return None
    if ring == "Z":
        got = hensel_lift(shape, terms, stop=stop, notes=notes)
        return (Scheme(*shape, *got), "hensel") if got is not None else None
    if frames:
        framed = hensel_to_ternary(shape, terms, stop=stop, notes=notes)
        return (framed, "hensel + frames") if framed is not None else None
    return None


def hensel_to_ternary(shape: tuple[int, int, int], terms: Terms,
                      stop: Callable[[], bool] | None = None, notes: LiftNotes | None = None
                      ) -> Scheme | None:
    """A ZT scheme of the same rank for GF(2) terms without a sign lift: Hensel-lifted to Z, then
    framed (frame_to_ternary, which `stop` may cut short); None when either step finds none."""
    got = hensel_lift(shape, terms, stop=stop, notes=notes)
    return None if got is None else frame_to_ternary(shape, *got, stop=stop)


RESCUE_SHARE = 0.1  # default share of a ZT search's time that Hensel lifting and frames may take
RESCUE_AFTER = 5.0  # seconds a search runs before it rescues (a quick search never pays for it)
RESCUE_SLACK = 1.0  # seconds one rescue may run past the share before its frames stop


class Rescue:
    """A search's lifting over ZT with the rescue of schemes that have no sign lift: Hensel
    lifting to Z, then changes of basis towards ternary coefficients (`lift(..., frames=True)`,
    what `fastmm lift` does). That turns almost twice as many GF(2) schemes into ZT ones (⟨3,3,3;23⟩:
    119 of 190 samples against 66 by signs alone, results/lift_yield.md), but Hensel costs about
    10× a sign lift and frames up to seconds (⟨3,3,4⟩ flip walks at rank 29: 1 to 58 tries, and 2
    s for one framing that failed), so the rescue starts after `after` seconds and runs only while
    it has taken at most `share` of the search's time (0: never); frames stop with the search, or
    `RESCUE_SLACK` seconds past the share."""

    def __init__(self, share: float = RESCUE_SHARE, stop: Callable[[], bool] | None = None,
                 after: float | None = None):
        self.share, self.stop = share, stop
        self.after = RESCUE_AFTER if after is None else after
        self.t0 = time.perf_counter()
        self.spent = 0.0
        self.tried = self.rescued = 0  # schemes without a sign lift given to Hensel, and made ZT

    def _allowance(self) -> float:
        """Seconds of rescue left now (≤ 0: none)."""
        elapsed = time.perf_counter() - self.t0
        return self.share * elapsed - self.spent if elapsed >= self.after else 0.0

    def lift(self, shape: tuple[int, int, int], terms: Terms, ring: str, seed: int = 0
             ) -> tuple[Scheme, str] | None:
        notes = LiftNotes()  # the sign system is built once for both
        got = lift(shape, terms, ring, seed=seed, notes=notes)
        if got is not None or ring != "ZT" or self.share <= 0 or self._allowance() <= 0:
            return got
        t = time.perf_counter()
        self.tried += 1

        def enough() -> bool:
            over = self.spent + (time.perf_counter() - t) - self.share * (time.perf_counter() - self.t0)
            return over > RESCUE_SLACK or (self.stop is not None and self.stop())

        try:
            framed = hensel_to_ternary(shape, terms, stop=enough, notes=notes)
        finally:
            self.spent += time.perf_counter() - t
        if framed is None:
            return None
        self.rescued += 1
        return framed, "hensel + frames"
