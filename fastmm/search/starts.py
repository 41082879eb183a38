"""Starting points for pooled flip-graph searches: constructions from smaller (and larger) schemes.

For a shape ⟨n,m,p⟩ the candidates are the naive scheme, the catalogue's entry (unless
hidden), direct sums along each dimension, Kronecker products and projections of the
catalogue entries one larger in each dimension (the meta flip graph's move down), each part
chosen recursively as the lowest-rank construction of its shape. Ranks and recipes are known
at once; a scheme is built only when a search uses it, and building polls a stop flag.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from fastmm.known_ranks import canonical
from fastmm.scheme import Scheme, naive_scheme

Shape = tuple[int, int, int]


class Start:
    """A construction: its rank and recipe are known at once, the scheme is built on first use
    (building every candidate of a big shape took a minute; only the chosen few are built)."""

    def __init__(self, rank: int, how: str, scheme: Scheme | None = None,
                 make: Callable[[], Scheme | None] | None = None, axis: str = ""):
        self.rank = rank
        self.how = how  # human-readable construction, e.g. "catalog⟨2,3,3;15⟩ ⊕p catalog⟨2,3,3;15⟩"
        self.axis = axis  # a direct sum: the dimension its parts meet along ("n", "m", "p"); else ""
        self._scheme = scheme
        self._make = make

    @property
    def scheme(self) -> Scheme | None:
        """The scheme (None if a catalogue file it needs no longer verifies)."""
        if self._scheme is None and self._make is not None:
            self._scheme, self._make = self._make(), None
        return self._scheme

    def __repr__(self) -> str:
        return f"Start({self.rank}, {self.how!r})"


class Stopped(Exception):
    """The time limit or Ctrl-C arrived while starting points were being built."""


def _label(shape: Shape, rank: int) -> str:
    return f"⟨{shape[0]},{shape[1]},{shape[2]};{rank}⟩"


class _Builder:
    """Best cheap construction per shape: catalogue entry, naive, sums and products of parts."""

    def __init__(self, ring: str, exclude: Iterable[Shape], use_catalog: bool = True,
                 stop: Callable[[], bool] | None = None):
        self.ring = ring
        self.exclude = [canonical(tuple(s)) for s in exclude]
        self.use_catalog = use_catalog
        self.stop = stop or (lambda: False)
        self._best: dict[Shape, Start] = {}

    def catalog(self, shape: Shape) -> Start | None:
        if not self.use_catalog:
            return None
        from fastmm.catalog import catalog_candidates, load_catalog_scheme

        ring = "Z2" if self.ring == "Z2" else "ZT"
        found = catalog_candidates(shape, ring, self.exclude)  # names only: verified when built
        if not found:
            return None
        rank = found[0].rank

        def make() -> Scheme | None:
            s = load_catalog_scheme(shape, ring, self.exclude)
            return s if s is not None and s.is_integral and s.rank == rank else None
        return Start(rank, f"catalog{_label(shape, rank)}", make=make)

    def best(self, shape: Shape) -> Start:
        """The lowest-rank construction for `shape` (memoised; parts are strictly smaller)."""
        if self.stop():
            raise Stopped
        if shape not in self._best:
            options = [o for o in self.options(shape) if o is not None]
            self._best[shape] = min(options, key=_order)
        return self._best[shape]

    def options(self, shape: Shape) -> list[Start | None]:
        n, m, p = shape
        out: list[Start | None] = [Start(n * m * p, f"naive{_label(shape, n * m * p)}",
                                         make=lambda: naive_scheme(n, m, p)), self.catalog(shape)]
        out += [self.sum(shape, axis, d1) for axis, d1 in self.splits(shape)]
        out += [self.product(shape, f) for f in self.factorizations(shape)]
        out += [self.projection(shape, axis) for axis in "nmp"]
        return out

    def projection(self, shape: Shape, axis: str) -> Start | None:
        """The meta flip graph's move down: the catalogue entry of the shape one larger along
        `axis`, with the slice whose removal drops the most terms projected away."""
        i = "nmp".index(axis)
        big = list(shape)
        big[i] += 1
        if big[i] > 8:
            return None
        parent = self.catalog(tuple(big))
        if parent is None or parent.scheme is None:
            return None
        best = min((parent.scheme.project(axis, k) for k in range(big[i])), key=lambda s: s.rank)
        return Start(best.rank, f"({parent.how} ↓{axis})", best)

    @staticmethod
    def splits(shape: Shape) -> list[tuple[str, int]]:
        return [(axis, d1) for axis, d in zip("nmp", shape, strict=True) for d1 in range(1, d // 2 + 1)]

    @staticmethod
    def factorizations(shape: Shape) -> list[tuple[Shape, Shape]]:
        def divs(d: int) -> list[tuple[int, int]]:
            return [(a, d // a) for a in range(1, d + 1) if d % a == 0]

        out = []
        for (n1, n2), (m1, m2), (p1, p2) in itertools.product(*(divs(d) for d in shape)):
            s1, s2 = (n1, m1, p1), (n2, m2, p2)
            if s1 != (1, 1, 1) and s2 != (1, 1, 1) and s1 <= s2:
                out.append((s1, s2))
        return out

    def sum(self, shape: Shape, axis: str, d1: int) -> Start | None:
        i = "nmp".index(axis)
        s1 = list(shape)
        s2 = list(shape)
        s1[i], s2[i] = d1, shape[i] - d1
        a, b = self.best(tuple(s1)), self.best(tuple(s2))
        if a.how.startswith("naive") and b.how.startswith("naive"):
            return None  # the naive scheme itself
        return Start(a.rank + b.rank, f"({a.how} ⊕{axis} {b.how})",
                     make=lambda: _combine(a, b, lambda x, y: x.direct_sum(y, axis)), axis=axis)

    def product(self, shape: Shape, parts: tuple[Shape, Shape]) -> Start | None:
        a, b = self.best(parts[0]), self.best(parts[1])
        if a.how.startswith("naive") or b.how.startswith("naive"):
            return None  # a product with a naive factor is a repeated direct sum
        return Start(a.rank * b.rank, f"({a.how} ⊗ {b.how})",
                     make=lambda: _combine(a, b, lambda x, y: x.kron(y)))


def _order(start: Start) -> tuple:
    """Lowest rank first; on a tie sums and products before projections (the starts the
    measured searches of results/coverage.md used), then the shorter recipe."""
    return start.rank, "↓" in start.how, len(start.how)


def _combine(a: Start, b: Start, op: Callable[[Scheme, Scheme], Scheme]) -> Scheme | None:
    x, y = a.scheme, b.scheme
    return None if x is None or y is None else op(x, y)


def starting_points(shape: Shape, ring: str = "ZT", exclude: Iterable[Shape] = (),
                    constructions: bool = True, stop: Callable[[], bool] | None = None) -> list[Start]:
    """Every construction for `shape` (own catalogue entry unless excluded, sums, products,
    projections, naive), lowest rank first, one per distinct construction; all valid in `ring`
    or mod 2. Schemes are built when first used; `stop()` true raises Stopped."""
    builder = _Builder(ring, exclude, use_catalog=constructions, stop=stop)
    if not constructions:
        return [builder.options(tuple(shape))[0]]
    seen: set[str] = set()
    out = []
    for o in sorted((o for o in builder.options(tuple(shape)) if o is not None),
                    key=_order):
        if o.how not in seen:
            seen.add(o.how)
            out.append(o)
    return out
