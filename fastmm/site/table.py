"""The index table: one row per shape n ≤ m ≤ p and ring, the site's best scheme for it against
the best-known rank (with its source) and the naive rank.

A scheme serves every ring its coefficients are valid in (fastmm.scheme.RING_SERVES): a ternary
scheme also counts over Z, Q and modulo 2; a Z2 scheme only modulo 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastmm.known_ranks import BEST_KNOWN, best_known_source, canonical
from fastmm.scheme import RING_SERVES, RINGS
from fastmm.site.sources import SiteScheme

Shape = tuple[int, int, int]


def record_status(gap: int) -> str:
    """'at record', 'behind by 3' or 'beats record by 1' for rank − best known = gap."""
    if gap == 0:
        return "at record"
    return f"behind by {gap}" if gap > 0 else f"beats record by {-gap}"


@dataclass(frozen=True)
class RankRow:
    shape: Shape
    ring: str
    naive: int
    best: int | None  # best-known rank over `ring`; None when the shape is not tabulated
    source: str
    item: SiteScheme | None  # the site's lowest-rank scheme serving `ring`

    @property
    def rank(self) -> int | None:
        return self.item.scheme.rank if self.item else None

    @property
    def gap(self) -> int | None:
        """rank − best known (negative: below the recorded best)."""
        return None if self.item is None or self.best is None else self.item.scheme.rank - self.best

    @property
    def status(self) -> str:
        if self.item is None:
            return "missing"
        if self.best is None:
            return "no record tabulated"
        return record_status(self.gap)


def table_limit() -> int:
    """Largest dimension of the best-known table: the index covers every shape up to it."""
    return max(max(shape) for shape in BEST_KNOWN)


def _preference(item: SiteScheme) -> tuple:
    # lowest rank; then the strongest ring; then catalogue entries before extra files
    return (item.scheme.rank, RINGS.index(item.scheme.ring), item.origin != "catalogue", item.slug)


def rank_rows(items: list[SiteScheme]) -> list[RankRow]:
    """Rows sorted by shape, then ring in the order ZT, Z, Q, Z2."""
    limit = table_limit()
    shapes = {(n, m, p) for n in range(2, limit + 1) for m in range(n, limit + 1)
              for p in range(m, limit + 1)}
    shapes |= {canonical(it.scheme.shape) for it in items}
    rows = []
    for shape in sorted(shapes):
        n, m, p = shape
        mine = [it for it in items if canonical(it.scheme.shape) == shape]
        for ring in RINGS:
            serving = sorted((it for it in mine if ring in RING_SERVES[it.scheme.ring]), key=_preference)
            best = BEST_KNOWN.get(shape, {}).get(ring)
            rows.append(RankRow(shape, ring, n * m * p, best,
                                best_known_source(shape, ring) if best is not None else "",
                                serving[0] if serving else None))
    return rows
