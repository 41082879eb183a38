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
    cse_additions: int
    stability: str
    invariant: str
    downloads: list[Download]
    seconds: float  # compute time, for the build report only (never written to a page)


@dataclass(frozen=True)
class Equivalence:
    other: str  # slug of the other scheme
    status: str  # "equivalent" | "inequivalent" | "unknown"
    reason: str


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
    from fastmm.metrics import factor_rank_invariant, format_invariant, plain_additions, stability_factor

    start = time.perf_counter()
    s, slug = item.scheme, item.slug
    downloads = [
        Download("scheme JSON", f"{slug}.json", dumps(s)),
        _code("C", f"{slug}.c", lambda: emit_c(s)),
        _code("NumPy", f"{slug}-numpy.py", lambda: numpy_source(s)),
        _code("PyTorch", f"{slug}-torch.py", lambda: torch_source(s)),
    ]
    return SchemeFacts(
        products=product_lines(s), c_entries=c_lines(s),
        plain_additions=plain_additions(s), cse_additions=count_additions(s, cse=True),
        stability=str(stability_factor(s)), invariant=format_invariant(factor_rank_invariant(s)),
        downloads=downloads, seconds=time.perf_counter() - start,
    )


def _comparable(a: SiteScheme, b: SiteScheme) -> bool:
    sa, sb = a.scheme, b.scheme
    return (sorted(sa.shape) == sorted(sb.shape) and sa.rank == sb.rank
            and (sa.ring == "Z2") == (sb.ring == "Z2"))


def equivalences(items: list[SiteScheme], max_nodes: int = 20_000) -> dict[str, list[Equivalence]]:
    """For each scheme, its equivalence to every other site scheme of the same shape, rank and
    field (Q, or GF(2) for Z2 schemes). The search is bounded by `max_nodes` per shape move;
    a pair it cannot settle is "unknown"."""
    from fastmm.equivalence import equivalent

    out: dict[str, list[Equivalence]] = {it.slug: [] for it in items}
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if not _comparable(a, b):
                continue
            result = equivalent(a.scheme, b.scheme, max_nodes=max_nodes)
            reason = result.reason
            out[a.slug].append(Equivalence(b.slug, result.status, reason))
            out[b.slug].append(Equivalence(a.slug, result.status, reason))
    return out
