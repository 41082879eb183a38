"""Best-known ranks (2026) and proven lower bounds, from ../shared/REFERENCES.md §2.

Rechecked 2026-12 against the current public records as REFERENCES.md reports them: ⟨3,6,6⟩ over
Z/ZT (and so Z2) is 83 in Perminov's status table of 2026-07 (this table said 82 before).

Ranks are the same for every permutation of (n, m, p); look-ups sort the shape.
"""

from __future__ import annotations

# (n, m, p) with n <= m <= p  ->  best-known rank over Q, Z, ZT, Z2
_TABLE = """
2,2,2 7 7 7 7
2,2,3 11 11 11 11
2,2,4 14 14 14 14
2,2,5 18 18 18 18
2,2,6 21 21 21 21
2,3,3 15 15 15 15
2,3,4 20 20 20 20
2,3,5 25 25 25 25
2,3,6 30 30 30 30
2,4,4 26 26 26 26
2,4,5 32 33 33 33
2,4,6 39 39 39 39
2,5,5 40 40 40 40
2,5,6 47 47 47 47
2,6,6 56 56 56 56
3,3,3 23 23 23 23
3,3,4 29 29 29 29
3,3,5 36 36 36 36
3,3,6 40 42 42 42
3,4,4 38 38 38 38
3,4,5 47 47 47 47
3,4,6 54 54 54 54
3,5,5 58 58 58 58
3,5,6 68 68 68 68
3,6,6 80 83 83 83
4,4,4 48 49 49 47
4,4,5 61 61 61 60
4,4,6 73 73 73 73
4,5,5 76 76 76 73
4,5,6 90 90 90 89
4,6,6 105 105 105 105
5,5,5 93 93 93 93
5,5,6 110 110 110 110
5,6,6 130 130 130 130
6,6,6 153 153 153 153
"""
_RINGS = ("Q", "Z", "ZT", "Z2")
BEST_KNOWN: dict[tuple[int, int, int], dict[str, int]] = {}
for _line in _TABLE.strip().splitlines():
    _shape, *_ranks = _line.split()
    BEST_KNOWN[tuple(int(x) for x in _shape.split(","))] = dict(zip(_RINGS, map(int, _ranks), strict=True))

# Proven lower bounds beyond the flattening bound: Winograd 1971, Bläser 2003, and Alekseyev 1985
# (V. B. Alekseyev, "On the complexity of some algorithms of matrix multiplication", J. Algorithms
# 6 (1985): the rank of ⟨2,2,3⟩ is 11 over any field; its border rank is 10).
_PROVEN = {(2, 2, 2): (7, "Winograd 1971"), (2, 2, 3): (11, "Alekseyev 1985"), (3, 3, 3): (19, "Bläser 2003")}

# Bounds proven over GF(2) (Hopcroft & Kerr, SIAM J. Appl. Math. 20 (1971): ⟨2,2,n⟩ needs ⌈7n/2⌉
# products and ⟨2,3,3⟩ 15 without commutativity). A scheme with integer coefficients reduces modulo
# 2 to a GF(2) scheme of the same rank, so they bound ZT and Z too; not Q, whose halves do not reduce.
_MOD2_RINGS = ("Z2", "Z", "ZT")


def _mod2_bound(n: int, m: int, p: int) -> int:
    if (n, m) == (2, 2):
        return -(-7 * p // 2)
    return 15 if (n, m, p) == (2, 3, 3) else 0


def canonical(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(sorted(shape))  # type: ignore[return-value]


def best_known_rank(shape: tuple[int, int, int], ring: str = "ZT") -> int | None:
    """Best-known rank for the shape over the ring (Q for rationals), or None if not tabulated."""
    n, m, p = canonical(shape)
    if n == 1:
        return m * p  # ⟨1,m,p⟩ is an outer product: rank exactly m·p
    entry = BEST_KNOWN.get((n, m, p))
    return entry[ring] if entry else None


def proven_lower_bound(shape: tuple[int, int, int], ring: str | None = None) -> tuple[int, str]:
    """A proven lower bound on the rank and where it comes from: over every field, and with `ring`
    one of Z2, Z, ZT also the bounds proven over GF(2)."""
    n, m, p = canonical(shape)
    flat = max(n * m, m * p, n * p)
    bound, why = flat, "flattening bound max(nm, mp, np)"
    if n == 1:
        bound, why = m * p, f"{_outer(shape)} has a dimension 1: it needs all {m * p} products"
    if (n, m, p) in _PROVEN and _PROVEN[(n, m, p)][0] > bound:
        bound, why = _PROVEN[(n, m, p)]
    if ring in _MOD2_RINGS and _mod2_bound(n, m, p) > bound:
        bound = _mod2_bound(n, m, p)
        why = "Hopcroft–Kerr 1971, over GF(2)" + ("" if ring == "Z2" else f", and so over {ring}")
    return bound, why


def _outer(shape: tuple[int, int, int]) -> str:
    """The shape as asked (not its canonical order): ⟨7,1,7⟩, ⟨1,3,4⟩..."""
    return "⟨" + ",".join(str(d) for d in shape) + "⟩"


# Where the best-known ranks come from (../shared/REFERENCES.md §2), for the website:
# shape -> {ring or "*": source}; anything not listed is BEST_KNOWN_SOURCE_DEFAULT.
BEST_KNOWN_SOURCE_DEFAULT = "Perminov's FastMatrixMultiplication status table (2026-07)"
BEST_KNOWN_SOURCES: dict[tuple[int, int, int], dict[str, str]] = {
    (2, 2, 2): {"*": "Strassen 1969"},
    (2, 4, 5): {"Q": "AlphaEvolve 2025"},
    (3, 3, 3): {"*": "Laderman 1976"},
    (3, 3, 6): {"Q": "Smirnov 2013"},
    (3, 6, 6): {"Q": "AlphaEvolve 2025; rational form by Dumas–Pernet–Sedoglavic (arXiv:2506.13242)",
                "*": "Perminov's status table (2026-07) lists 83 over Z/ZT; an earlier version said 82"},
    (4, 4, 4): {"Q": "AlphaEvolve 2025; rational form by Dumas–Pernet–Sedoglavic (arXiv:2506.13242)",
                "Z": "Strassen ⊗ Strassen", "ZT": "Strassen ⊗ Strassen",
                "Z2": "AlphaTensor (Fawzi et al. 2022)"},
    (4, 4, 6): {"*": "Kauers–Wood meta flip graph (arXiv:2505.05896, 2510.19787)"},
    (5, 5, 5): {"*": "Moosbauer–Poole symmetric flip graphs (arXiv:2502.04514)"},
    (5, 5, 6): {"*": "Kauers–Wood meta flip graph (arXiv:2505.05896, 2510.19787)"},
    (5, 6, 6): {"*": "Kauers–Wood meta flip graph (arXiv:2505.05896, 2510.19787)"},
    (6, 6, 6): {"*": "Moosbauer–Poole symmetric flip graphs (arXiv:2502.04514)"},
}


def best_known_source(shape: tuple[int, int, int], ring: str = "ZT") -> str:
    """Who found (or where to read) the best-known rank of `shape` over `ring`."""
    entry = BEST_KNOWN_SOURCES.get(canonical(shape), {})
    return entry.get(ring) or entry.get("*") or BEST_KNOWN_SOURCE_DEFAULT
