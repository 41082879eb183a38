"""What a scheme page shows, computed with fastmm's own tools: formulas, additions, stability
factor, factor-rank invariant, the downloads (scheme JSON and the C, NumPy and PyTorch code of
the exporters) and equivalence to the other schemes on the site.

The code exporters dominate the cost (each builds the straight-line program; ⟨6,6,6;161⟩ takes
about 0.8 s per exporter on one core), so `scheme_facts` is the unit of work the builder can
spread over processes. Nothing here imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastmm.errors import FastmmError
from fastmm.scheme import Scheme
from fastmm.site.sources import SiteScheme


@dataclass(frozen=True)
class Download:
    """One file offered on a scheme page; `text` is None when it cannot exist (`reason`)."""

    kind: str
    filename: str
    text: str | None
    reason: str = ""


@dataclass(frozen=True)
class SchemeFacts:
    products: list[str]
    c_entries: list[str]
    plain_additions: int
    cse_additions: int | None  # None: beyond the shared-subexpression search's work limit
    stability: str
    invariant: str
    symmetry: str | None  # C3 symmetry modulo 2 of a square scheme (fastmm.search.symmetric)
    transpose_symmetry: str | None  # (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ) modulo 2, two equal sizes (transpose_symmetric)
    downloads: list[Download]
    seconds: float  # compute time, for the build report only (never written to a page)


@dataclass(frozen=True)
class Equivalence:
    other: str  # the other scheme: a site scheme's slug, or a reference scheme's name
    status: str  # "equivalent" | "inequivalent" | "unknown"
    reason: str
    on_site: bool = True  # False: a reference scheme of fastmm.reference (no page of its own)


def _code(kind: str, filename: str, make: Callable[[], str]) -> Download:
    try:
        return Download(kind, filename, make())
    except FastmmError as exc:  # a Z2 scheme has no floating-point code
        return Download(kind, filename, None, str(exc))


def scheme_facts(item: SiteScheme) -> SchemeFacts:
    """Everything the page of `item` needs besides equivalence."""
    from fastmm.export.c import emit_c
    from fastmm.export.pycode import numpy_source, torch_source
    from fastmm.export.slp import count_additions
    from fastmm.formulas import c_lines, product_lines
    from fastmm.io import dumps
    from fastmm.metrics import (
        cse_fits,
        factor_rank_invariant,
        format_invariant,
        plain_additions,
        stability_factor,
    )
    from fastmm.search.symmetric import c3_symmetry
    from fastmm.search.transpose_symmetric import describe as t2_symmetry

    start = time.perf_counter()
    s, slug = item.scheme, item.slug
    cse = cse_fits(s)  # beyond its limit, as `show` and `export`: no sharing (minutes)
    downloads = [
        Download("scheme JSON", f"{slug}.json", dumps(s)),
        _code("C", f"{slug}.c", lambda: emit_c(s, cse=cse)),
        _code("NumPy", f"{slug}-numpy.py", lambda: numpy_source(s, cse=cse)),
        _code("PyTorch", f"{slug}-torch.py", lambda: torch_source(s, cse=cse)),
    ]
    return SchemeFacts(
        products=product_lines(s), c_entries=c_lines(s),
        plain_additions=plain_additions(s), cse_additions=count_additions(s, cse=True) if cse else None,
        stability="none (valid modulo 2 only: no floating-point product)" if s.ring == "Z2"
        else f"{stability_factor(s)}  (max over C entries of Σ |Wc|·‖Wa‖₁·‖Wb‖₁)",
        invariant=format_invariant(factor_rank_invariant(s)),
        symmetry=c3_symmetry(s), transpose_symmetry=t2_symmetry(s), downloads=downloads,
        seconds=time.perf_counter() - start,
    )


def _comparable(sa: Scheme, sb: Scheme) -> bool:
    return (sorted(sa.shape) == sorted(sb.shape) and sa.rank == sb.rank
            and (sa.ring == "Z2") == (sb.ring == "Z2"))


def equivalences(items: list[SiteScheme], max_nodes: int = 20_000) -> dict[str, list[Equivalence]]:
    """For each scheme, its equivalence to every other site scheme of the same shape, rank and
    field (Q, or GF(2) for Z2 schemes), then to the classic schemes of fastmm.reference
    (Strassen, Winograd's form, Laderman). The search is bounded by `max_nodes` per shape move;
    a pair it cannot settle is "unknown"."""
    from fastmm.equivalence import equivalent
    from fastmm.reference import REFERENCES

    out: dict[str, list[Equivalence]] = {it.slug: [] for it in items}
    # Equivalence is an equivalence relation: a scheme is compared with the first member of each
    # class of the earlier ones, and the rest of a class follow from that (200 copies of one
    # scheme took 20,000 comparisons and three minutes, now 200); an "unknown" is compared member
    # by member.
    first_of: dict[str, SiteScheme] = {}  # slug -> the first member of its class
    for i, b in enumerate(items):
        verdicts: dict[str, str] = {}  # first member's slug -> b's status against it
        for a in items[:i]:
            if not _comparable(a.scheme, b.scheme):
                continue
            rep = first_of[a.slug]
            known = verdicts.get(rep.slug)
            if a is not rep and known == "equivalent":
                status, reason = "equivalent", f"both are equivalent to {rep.slug}"
            elif a is not rep and known == "inequivalent":
                status, reason = "inequivalent", f"it is equivalent to {rep.slug}, and the other is not"
            else:
                result = equivalent(a.scheme, b.scheme, max_nodes=max_nodes)
                status, reason = result.status, result.reason
                if a is rep:
                    verdicts[rep.slug] = status
            out[a.slug].append(Equivalence(b.slug, status, reason))
            out[b.slug].append(Equivalence(a.slug, status, reason))
        joined = [rep for rep in items[:i] if verdicts.get(rep.slug) == "equivalent"]
        first_of[b.slug] = joined[0] if joined else b
    for make in REFERENCES.values():
        ref = make()
        name = f"{ref.provenance.get('source', 'reference')} {ref.label()}"
        for it in items:
            if _comparable(ref, it.scheme):
                result = equivalent(ref, it.scheme, max_nodes=max_nodes)
                out[it.slug].append(Equivalence(name, result.status, result.reason, on_site=False))
    return out
