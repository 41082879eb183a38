"""Exact verification of schemes.

Two independent checks:

* the Brent equations Σ_t Wa[t,(i,j)]·Wb[t,(j',k)]·Wc[(i',k'),t] = δ(i,i')δ(j,j')δ(k,k'),
  checked exactly one A entry (i,j) at a time over the products that use it: int64 where no
  sum can overflow, Python integers otherwise, rationals scaled to integers by their common
  denominators, or modulo 2 for Z2;
* a sympy proof that expands every entry of C symbolically and compares it with Σ_j a_ij·b_jk.

A failure names the C entries that go wrong, e.g. ``C12: extra a11*b21``. Both refuse, with
InputError, a scheme beyond MAX_BRENT_WORK ((nm)(mp)(np)·r ≤ 2^31, fastmm.validate): the bound
scheme files have, now for schemes built in memory too.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fastmm import __version__
from fastmm.errors import SchemeError
from fastmm.scheme import Scheme, magnitude, ring_serves


def entry_name(letter: str, i: int, j: int, big: bool) -> str:
    """1-based name of a matrix entry or block: A12, or A1_12 when a dimension exceeds 9."""
    return f"{letter}{i + 1}_{j + 1}" if big else f"{letter}{i + 1}{j + 1}"


def uses_big_names(scheme: Scheme) -> bool:
    return max(scheme.shape) > 9


@dataclass
class Discrepancy:
    """C[ci][ck] holds coefficient `got` of a[ai][aj]·b[bj][bk] where `expected` was due."""

    c: tuple[int, int]
    a: tuple[int, int]
    b: tuple[int, int]
    got: Fraction | int
    expected: int

    def describe(self, big: bool = False) -> str:
        cname = entry_name("C", *self.c, big)
        mono = f"{entry_name('a', *self.a, big)}*{entry_name('b', *self.b, big)}"
        if self.expected == 0:
            coef = "" if self.got == 1 else "-" if self.got == -1 else f"{self.got}*"
            return f"{cname}: extra {coef}{mono}"
        if self.got == 0:
            return f"{cname}: missing {mono}"
        return f"{cname}: {mono} has coefficient {self.got}, expected {self.expected}"


@dataclass
class Report:
    """Outcome of a verification: valid or not, in which ring, and what goes wrong."""

    ok: bool
    ring: str  # ring the check was done in: "Z" (exact integers/rationals) or "Z2"
    problems: list[Discrepancy] = field(default_factory=list)  # the first MAX_LISTED, in order
    big_names: bool = False  # a dimension exceeds 9: names read a1_10
    unlisted: int = 0  # wrong coefficients beyond those in `problems`

    def lines(self, big: bool | None = None, limit: int = 20) -> list[str]:
        big = self.big_names if big is None else big
        out = [d.describe(big) for d in self.problems[:limit]]
        more = len(self.problems) - limit + self.unlisted
        if more > 0:
            out.append(f"... and {more} more wrong coefficients")
        return out


MAX_LISTED = 10_000  # discrepancies a report lists (a wrong ⟨10,10,10⟩ can have 10^6)
_SLICE_WORK = 1 << 22  # multiply-adds per numpy call: Ctrl-C gets through between calls


def check_size(scheme: Scheme) -> None:
    """InputError for a scheme beyond the Brent work a scheme file may hold (MAX_BRENT_WORK):
    the same bound for schemes built in memory as for those read from files."""
    from fastmm.errors import InputError
    from fastmm.validate import MAX_BRENT_WORK

    n, m, p = scheme.shape
    work = (n * m) * (m * p) * (n * p) * max(scheme.rank, 1)  # rank 0 still costs one pass
    if work > MAX_BRENT_WORK:
        raise InputError(f"⟨{n},{m},{p};{scheme.rank}⟩ is too large to verify: (nm)(mp)(np)·max(r, 1) = "
                         f"{work:,} is beyond the limit of {MAX_BRENT_WORK:,} (as for scheme files)")


def _work_counts(wa: np.ndarray, wb: np.ndarray, wc: np.ndarray) -> tuple[int, int, int]:
    """(small, scaled, big): what check_big_work weighs, from the nonzero patterns alone."""
    # every product of the dense slices costs a small-integer multiply-add; those of two nonzeros
    # (Σ_t nnz(a_t)·nnz(b_t)·nnz(c_t)) cost the big-integer weight
    nnz = [np.count_nonzero(w, axis=ax) for w, ax in ((wa, 1), (wb, 1), (wc, 0))]
    big = int(sum(int(x) * int(y) * int(z) for x, y, z in zip(*nnz, strict=True)))
    small = int(np.count_nonzero(wa)) * wb.shape[1] * wc.shape[0]
    return small, sum(int(np.count_nonzero(w)) for w in (wa, wb, wc)), big


def _big_work(counts: tuple[int, int, int], bits: int) -> float:
    small, scaled, big = counts
    # scaling each nonzero coefficient to the common denominator costs its bits too
    return small + scaled * max(1.0, bits / 64) + big * max(1.0, bits / 64) ** 1.5


def check_big_work(scheme: Scheme, wa: np.ndarray, wb: np.ndarray, wc: np.ndarray, bits: int,
                   at_least: bool = False) -> None:
    """InputError for an exact check on integers of `bits` bits that would take minutes: many
    distinct denominators make a common one of thousands of bits (a 500 KB ⟨6,6,6;216⟩ over Q
    would take about 4 minutes, timed slice by slice). Counted as the multiply-adds the slices do,
    those of two nonzeros weighted (bits/64)^1.5 (measured: 61 ns at 64 bits, 154 µs at 16,384); a
    product with a zero costs one small multiply-add. `at_least`: `bits` is a lower bound."""
    from fastmm.errors import InputError
    from fastmm.validate import MAX_BIG_INTEGER_WORK

    work = _big_work(_work_counts(wa, wb, wc), bits)
    if work > MAX_BIG_INTEGER_WORK:
        about = "more than" if at_least else "about"
        raise InputError(f"{scheme.label()} is too costly to verify exactly: its coefficients over a "
                         f"common denominator need {about} {bits:,} bits per product, and the check "
                         f"would take {about} {work:.2g} multiply-adds of 64 bits (limit "
                         f"{MAX_BIG_INTEGER_WORK:.2g}); fewer distinct denominators make it cheap")


def _max_bits(wa: np.ndarray, wb: np.ndarray, wc: np.ndarray) -> int:
    """The most bits per product check_big_work lets through for these nonzero patterns."""
    from fastmm.validate import MAX_BIG_INTEGER_WORK

    counts = _work_counts(wa, wb, wc)
    lo, hi = 0, 1 << 40  # the work grows with the bits: bisect for the last bits within the limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _big_work(counts, mid) <= MAX_BIG_INTEGER_WORK:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _capped_lcm(w: np.ndarray, max_bits: int) -> int | None:
    """lcm of the denominators of w, or None once it passes max_bits bits: stopping there keeps a
    refusal cheap (10^4 distinct 61-bit denominators make an lcm of 600,000 bits, and scaling
    every coefficient to it took 40 s and 1.3 GB)."""
    dens = sorted({Fraction(x).denominator for x in w.flat} - {1})
    d = 1
    for start in range(0, len(dens), 64):  # in chunks: each step costs at most max_bits + 64·62
        d = math.lcm(d, *dens[start:start + 64])
        if d.bit_length() > max_bits:
            return None
    return d


def brent_tensor(scheme: Scheme, modulus: int | None = None) -> np.ndarray:
    """T[(i,j),(j',k),(i',k')] = Σ_t Wa·Wb·Wc, exactly, as one dense tensor (object arrays when
    values could overflow). For small schemes and tests: brent_report works slice by slice."""
    check_size(scheme)
    wa, wb, wc = scheme.Wa, scheme.Wb, scheme.Wc
    exact_int = all(w.dtype == np.int64 for w in (wa, wb, wc))
    if exact_int:
        bound = magnitude(wa) * magnitude(wb) * magnitude(wc) * max(scheme.rank, 1)
        if bound < 2**62:
            t = np.einsum("ta,tb,ct->abc", wa, wb, wc)
            return t % modulus if modulus else t
    # exact but slow path: Python ints / Fractions
    wa, wb, wc = (w.astype(object) for w in (wa, wb, wc))
    t = np.zeros((wa.shape[1], wb.shape[1], wc.shape[0]), dtype=object)
    for r in range(scheme.rank):
        t = t + wa[r][:, None, None] * wb[r][None, :, None] * wc[:, r][None, None, :]
    if modulus:
        t = np.vectorize(lambda x: int(x) % modulus, otypes=[object])(t)
    return t


def target_tensor(n: int, m: int, p: int) -> np.ndarray:
    """The matrix-multiplication tensor in the same (A, B, C row-major) layout."""
    t = np.zeros((n * m, m * p, n * p), dtype=np.int64)
    for i in range(n):
        for j in range(m):
            for k in range(p):
                t[i * m + j, j * p + k, i * p + k] = 1
    return t


def _integers(w: np.ndarray, d: int | None = None) -> tuple[np.ndarray, int]:
    """(W', d) with W' integers (int64, or Python ints in an object array) and W = W'/d; d is the
    lcm of the denominators unless given."""
    if w.dtype != object:
        return w, 1
    if d is None:
        d = math.lcm(1, *(Fraction(x).denominator for x in w.flat))
    ints = np.empty(w.shape, dtype=object)
    ints.flat[:] = [int(Fraction(x) * d) for x in w.flat]
    return ints, d


def _brent_slices(scheme: Scheme, modulus: int | None):
    """(a, S, D) for each A entry a = (i, j): S[(j',k),(i',k')] = D·Σ_t Wa[t,a]·Wb[t,·]·Wc[·,t]
    for one integer D. Exact: int64 where no sum can overflow, Python ints otherwise; only the
    terms t that use entry a are multiplied, in pieces of at most _SLICE_WORK multiply-adds."""
    ws = (scheme.Wa, scheme.Wb, scheme.Wc)
    dens: list[int | None] = [None, None, None]
    if any(w.dtype == object for w in ws):
        # refuse a common denominator too big to check before building it: the lcm and the
        # scaled coefficients cost (distinct denominators)·(its bits), minutes for 10^4 of them
        most = left = _max_bits(*ws)
        for k, w in enumerate(ws):
            d = _capped_lcm(w, left) if w.dtype == object else 1
            if d is None:  # the product da·db·dc has more than `most` bits
                check_big_work(scheme, *ws, bits=most + 1, at_least=True)
                raise AssertionError("unreachable: the work beyond `most` bits passes the limit")
            dens[k] = d
            left -= d.bit_length() - 1  # da·db·dc ≥ 2^(Σ(bits - 1))
    (wa, da), (wb, db), (wc, dc) = (_integers(w, d) for w, d in zip(ws, dens, strict=True))
    if modulus:  # integral (checked by the caller): reduce first, the sum is taken mod 2 anyway
        wa, wb, wc = (np.asarray(w % modulus, dtype=np.int64) for w in (wa, wb, wc))
    scale = da * db * dc
    bound = magnitude(wa) * magnitude(wb) * magnitude(wc) * max(scheme.rank, 1)
    dtype = np.int64 if bound < 2**62 and scale < 2**62 else object
    if dtype is object:
        check_big_work(scheme, wa, wb, wc, max(bound.bit_length(), scale.bit_length()))
    wa, wb, wc = (np.asarray(w, dtype=dtype) for w in (wa, wb, wc))
    mp, np_ = wb.shape[1], wc.shape[0]
    wb_t, wc_t = wb.T, wc  # (mp, r) and (np, r)
    piece = max(1, _SLICE_WORK // max(1, mp * np_))
    for a in range(wa.shape[1]):
        terms = np.flatnonzero(wa[:, a] != 0)
        if not len(terms):  # no product uses this entry: every slice coefficient is 0
            yield a, None, scale
            continue
        total = np.zeros((mp, np_), dtype=dtype)
        for start in range(0, len(terms), piece):
            t = terms[start:start + piece]
            total += (wb_t[:, t] * wa[t, a]) @ wc_t[:, t].T
        yield a, total, scale


def brent_report(scheme: Scheme, modulus: int | None = None) -> Report:
    """Check every Brent equation exactly; modulus=2 checks over GF(2).

    One A entry at a time, with only the products that use it, so the work follows the
    nonzero coefficients (a naive ⟨10,10,10;1000⟩ is 1000 small products, not 10^9
    multiply-adds) and Ctrl-C gets through between pieces. Beyond MAX_BRENT_WORK: InputError."""
    check_size(scheme)
    n, m, p = scheme.shape
    if modulus is not None and not scheme.is_integral:
        raise SchemeError("a scheme with fractions cannot be checked modulo 2")
    where_a, where_b, where_c, values = [], [], [], []
    count = 0
    ks = np.arange(p)
    for a, got, scale in _brent_slices(scheme, modulus):
        i, j = divmod(a, m)
        if got is None:  # an A entry no product uses: its p target coefficients are missing
            b_idx, c_idx = j * p + ks, i * p + ks
            missing = [(-scale) % modulus if modulus else -scale] * p
        else:
            got[j * p + ks, i * p + ks] -= scale  # minus the target: what is left is wrong
            if modulus:
                got %= modulus
            b_idx, c_idx = np.nonzero(got)
            if not len(b_idx):
                continue
        count += len(b_idx)
        if len(values) < MAX_LISTED:  # enough to list; the first by A entry, sorted below
            keep = MAX_LISTED - len(values)
            b_idx, c_idx = b_idx[:keep], c_idx[:keep]
            where_a += [a] * len(b_idx)
            where_b += b_idx.tolist()
            where_c += c_idx.tolist()
            values += [(int(x), scale) for x in (missing[:keep] if got is None else got[b_idx, c_idx])]
    problems = []
    for a_idx, b_idx, c_idx, (diff, scale) in zip(where_a, where_b, where_c, values, strict=True):
        i, j = divmod(a_idx, m)
        j2, k = divmod(b_idx, p)
        i2, k2 = divmod(c_idx, p)
        want = int(j2 == j and i2 == i and k2 == k)
        g = Fraction(diff, scale) + want
        if modulus:
            g = (diff + want) % modulus
        problems.append(Discrepancy((i2, k2), (i, j), (j2, k), int(g) if g == int(g) else g, want))
    problems.sort(key=lambda d: (d.c, d.a, d.b))
    return Report(ok=count == 0, ring="Z2" if modulus == 2 else "Z", problems=problems,
                  big_names=uses_big_names(scheme), unlisted=count - len(problems))


def sympy_problems(scheme: Scheme, modulus: int | None = None) -> list[str]:
    """Expand every C entry with sympy and list what differs from Σ_j a_ij·b_jk.

    Uses sympy's sparse polynomial rings (exact over QQ, or GF(2) for Z2 schemes).
    Returns [] for a proved scheme. Independent of the Brent code path above.
    """
    check_size(scheme)
    from sympy import GF, QQ
    from sympy.polys.rings import ring

    n, m, p = scheme.shape
    big = uses_big_names(scheme)
    names = [entry_name("a", i, j, big) for i in range(n) for j in range(m)]
    names += [entry_name("b", j, k, big) for j in range(m) for k in range(p)]
    domain = GF(modulus) if modulus else QQ
    R, *gens = ring(",".join(names), domain)
    flat_a, flat_b = gens[: n * m], gens[n * m:]

    def const(c) -> object:
        f = Fraction(c)
        return domain.convert(int(f)) if modulus else QQ(int(f.numerator), int(f.denominator))

    def lin(row, syms):
        return sum((const(c) * x for c, x in zip(row, syms, strict=True) if c != 0), R.zero)

    products = [lin(scheme.Wa[t], flat_a) * lin(scheme.Wb[t], flat_b) for t in range(scheme.rank)]
    problems: list[str] = []
    for i in range(n):
        for k in range(p):
            row = scheme.Wc[i * p + k]
            got = sum((const(c) * products[t] for t, c in enumerate(row) if c != 0), R.zero)
            want = sum((flat_a[i * m + j] * flat_b[j * p + k] for j in range(m)), R.zero)
            delta = got - want
            if not delta:
                continue
            cname = entry_name("C", i, k, big)
            for monom, coef in sorted(delta.terms()):
                term = "*".join(g if e == 1 else f"{g}**{e}" for g, e in zip(names, monom, strict=True) if e)
                wanted = want.get(monom, 0)
                total = got.get(monom, domain.zero)
                if not wanted:
                    c = int(coef) if modulus else coef
                    sign = "" if c == 1 else "-" if c == -1 else f"{c}*"
                    problems.append(f"{cname}: extra {sign}{term}")
                elif not total:
                    problems.append(f"{cname}: missing {term}")
                else:
                    problems.append(f"{cname}: {term} has coefficient {total}, expected {wanted}")
    return problems


@dataclass
class Verdict:
    """The full verdict on a scheme: valid in which ring, how it was checked, what fails."""

    ok: bool
    ring: str  # ZT/Z/Q when exact, Z2 when valid modulo 2 only, "" when invalid
    report: Report
    sympy: list[str] | None  # None when the sympy proof was skipped
    label_problem: str | None = None  # the ring label does not hold the coefficients
    sympy_skipped: str | None = None  # why a proof that was asked for was not run (its size)

    def __bool__(self) -> bool:
        return self.ok

    def lines(self, limit: int = 20) -> list[str]:
        """What is wrong, one line each (empty when valid)."""
        out = [self.label_problem] if self.label_problem else []
        return out + self.report.lines(limit=limit)

    def record(self) -> dict:
        """What a scheme file stores under "verified"; a failing verdict records ok false, ring ""
        and (at most 5 of) its problems."""
        if self.ring:
            how = {
                "ZT": "exact integer Brent equations",
                "Z": "exact integer Brent equations",
                "Q": "exact rational Brent equations (Fractions)",
                "Z2": "Brent equations modulo 2",
            }[self.ring]
        else:  # failed: say in which ring the equations were checked
            how = "Brent equations modulo 2" if self.report.ring == "Z2" else "exact Brent equations"
        if self.sympy is None:
            proof = f"skipped: {self.sympy_skipped}" if self.sympy_skipped else "skipped"
        elif self.sympy:
            proof = f"failed: {len(self.sympy)} wrong coefficient(s)"
        else:
            proof = "proved: every C entry expanded symbolically"
        rec = {
            "ok": self.ok,
            "ring": self.ring,
            "brent": how,
            "sympy": proof,
            "by": f"fastmm {__version__}",
            "at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if not self.ok:
            rec["problems"] = self.lines(limit=5)
        return rec


def verify(scheme: Scheme, use_sympy: bool = True) -> Verdict:
    """Verify a scheme in the ring it claims; a Z2 scheme is checked modulo 2 only. The sympy proof
    is skipped (`sympy_skipped` says why) beyond metrics.SYMPY_WORK_LIMIT, for every caller.

    A scheme claimed over ZT/Z/Q that is valid only modulo 2 is reported as failing
    (with the exact discrepancies) — it is not silently relabelled.
    """
    check_size(scheme)  # InputError before any work, as for a scheme file
    modulus = 2 if scheme.ring == "Z2" else None
    report = brent_report(scheme, modulus)
    ring = ""
    label = None
    if modulus is None and not ring_serves(scheme.coefficient_ring, scheme.ring):
        label = f"declares ring {scheme.ring} but its coefficients need {scheme.coefficient_ring}"
    if report.ok:
        ring = "Z2" if modulus else scheme.coefficient_ring
    sym = skipped = None
    if use_sympy:  # beyond SYMPY_WORK_LIMIT the proof would take minutes and GBs: the exact check stands
        from fastmm.metrics import SYMPY_WORK_LIMIT, sympy_work

        work = sympy_work(scheme)
        if work > SYMPY_WORK_LIMIT:
            use_sympy, skipped = False, f"expansion size {work:,} > {SYMPY_WORK_LIMIT:,}"
    if use_sympy:
        sym = sympy_problems(scheme, modulus)
        if report.ok and sym:  # the two checks disagree (a bug): trust neither, accept nothing
            label = "the Brent check and the sympy proof disagree: " + "; ".join(sym[:3])
    ok = report.ok and label is None
    return Verdict(ok=ok, ring=ring if ok else "", report=report, sympy=sym, label_problem=label,
                   sympy_skipped=skipped)


def checks_done(record: dict | None) -> str:
    """The checks a "verified" record says were run, for a message: "Brent equations and a sympy
    proof", "Brent equations", or why the proof asked for was skipped."""
    proof = str((record or {}).get("sympy", ""))
    if proof.startswith("proved"):
        return "Brent equations and a sympy proof"
    if proof.startswith("skipped: "):
        return f"Brent equations; sympy proof {proof}"
    return "Brent equations"


def verified_copy(scheme: Scheme, use_sympy: bool = True) -> Scheme:
    """The scheme with its "verified" record filled in; raises VerificationError if invalid."""
    from fastmm.errors import VerificationError

    v = verify(scheme, use_sympy)
    if not v.ok:
        lines = [v.label_problem] if v.label_problem else []
        lines += v.report.lines(uses_big_names(scheme), limit=5)
        raise VerificationError(f"{scheme.label()} fails verification: " + "; ".join(lines))
    return scheme.with_meta(ring=v.ring, verified=v.record())


# `fastmm.verify(...)` is the public API function (fastmm.api.verify); see fastmm/_callable.py.
from fastmm._callable import make_callable  # noqa: E402

make_callable(__name__, "verify")
