"""Seed results/catalog/ with schemes built by the scheme algebra from Strassen and Laderman.

For every shape n ≤ m ≤ p ≤ 6 a small dynamic programme picks the cheapest of
  * the naive scheme (rank n·m·p),
  * the references: Strassen ⟨2,2,2;7⟩, Laderman ⟨3,3,3;23⟩,
  * a direct sum along one dimension, ⟨a,m,p⟩ ⊕ ⟨b,m,p⟩ = ⟨a+b,m,p⟩ (ranks add),
  * a Kronecker product ⟨n1,m1,p1⟩ ⊗ ⟨n2,m2,p2⟩ (ranks multiply),
builds it, verifies it exactly and hands it to `add_to_catalog`, which keeps it only if it
improves on what is stored. Provenance: {"method": "algebra", "expression": ...}.

    python benchmarks/seed_catalog.py [--max-dim 6] [--catalog DIR]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from fastmm import __version__
from fastmm.catalog import add_to_catalog
from fastmm.known_ranks import canonical
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.verify import verify

Shape = tuple[int, int, int]


def plan(max_dim: int) -> dict[Shape, tuple[int, tuple]]:
    """Best algebraic construction per canonical shape: shape -> (rank, recipe)."""
    best: dict[Shape, tuple[int, tuple]] = {}
    shapes = sorted(
        (s for s in itertools.product(range(1, max_dim + 1), repeat=3) if s == canonical(s)),
        key=lambda s: (s[0] * s[1] * s[2], s),
    )
    refs = {(2, 2, 2): 7, (3, 3, 3): 23}
    for shape in shapes:
        n, m, p = shape
        options = [(n * m * p, ("naive", shape))]
        if shape in refs:
            options.append((refs[shape], ("ref", shape)))
        for axis in range(3):
            for a in range(1, shape[axis] // 2 + 1):
                left, right = list(shape), list(shape)
                left[axis], right[axis] = a, shape[axis] - a
                rank = best[canonical(tuple(left))][0] + best[canonical(tuple(right))][0]
                options.append((rank, ("sum", axis, tuple(left), tuple(right))))
        for f1 in itertools.product(*[[d for d in range(1, x + 1) if x % d == 0] for x in shape]):
            f2 = tuple(x // d for x, d in zip(shape, f1, strict=True))
            if 1 in (f1[0] * f1[1] * f1[2], f2[0] * f2[1] * f2[2]):
                continue
            rank = best[canonical(f1)][0] * best[canonical(f2)][0]
            options.append((rank, ("kron", f1, f2)))
        # ties: the simplest expression (reference, naive, product, sum)
        order = ("ref", "naive", "kron", "sum")
        best[shape] = min(options, key=lambda o: (o[0], order.index(o[1][0])))
    return best


def build(shape: Shape, best: dict) -> tuple[Scheme, str]:
    """The scheme for exactly `shape` (any order) and its expression."""
    rank, recipe = best[canonical(shape)]
    kind = recipe[0]
    if kind == "naive":
        s, expr = naive_scheme(*canonical(shape)), "naive⟨{},{},{}⟩".format(*shape)
    elif kind == "ref":
        s, expr = (strassen(), "strassen") if recipe[1] == (2, 2, 2) else (laderman(), "laderman")
    elif kind == "sum":
        _, axis, left, right = recipe
        a, ea = build(left, best)
        b, eb = build(right, best)
        s, expr = a.direct_sum(b, "nmp"[axis]), f"({ea} ⊕{'nmp'[axis]} {eb})"
    else:
        _, f1, f2 = recipe
        a, ea = build(f1, best)
        b, eb = build(f2, best)
        s, expr = a.kron(b), f"({ea} ⊗ {eb})"
    if s.rank != rank:
        raise AssertionError(f"{shape}: built rank {s.rank}, planned {rank}")
    return s.permuted(tuple(shape)), expr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-dim", type=int, default=6)
    ap.add_argument("--catalog", type=Path, default=None, help="catalogue directory")
    args = ap.parse_args(argv)
    best = plan(args.max_dim)
    for shape in sorted(best):
        if shape[0] < 2:
            continue  # ⟨1,m,p⟩ is an outer product: nothing to catalogue
        t0 = time.perf_counter()
        scheme, expr = build(shape, best)
        verdict = verify(scheme, use_sympy=max(shape) <= 3)
        if not verdict.ok:
            raise AssertionError(f"{shape}: {expr} fails verification")
        scheme = scheme.with_meta(
            ring=verdict.ring,
            verified=verdict.record(),
            provenance={
                "method": "algebra",
                "expression": expr,
                "seconds": round(time.perf_counter() - t0, 3),
                "version": __version__,
            },
        )
        added = add_to_catalog(scheme, args.catalog)
        print(f"{scheme.label():<14} {verdict.ring:<3} {'added' if added else 'kept existing':<14} {expr}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
