"""The two kinds of page: the index (table, plot, list of schemes) and one page per scheme.

Every string from a scheme file (provenance, verified record, file names) goes through
fastmm.site.html, which escapes it; addresses are built only from slugs (safe characters).
"""

from __future__ import annotations

import json

from fastmm import __version__
from fastmm.scheme import RING_NAMES, RINGS
from fastmm.site.facts import Download, Equivalence, SchemeFacts
from fastmm.site.html import Html, el, page
from fastmm.site.plot import plotted, rank_plot
from fastmm.site.sources import SiteScheme
from fastmm.site.table import RankRow, record_status

Z2_NOTE = "valid modulo 2 only (GF(2) scheme): not a correct algorithm over the integers or reals"


def scheme_title(item: SiteScheme) -> str:
    return f"{item.scheme.label()} over {item.scheme.ring}"


def _footer() -> Html:
    return el("footer", el("p", f"Built by fastmm {__version__} (", el("code", "fastmm site"),
                           "). Every scheme was verified when the site was built."))


def _dl(pairs: list[tuple[object, object]]) -> Html:
    return el("dl", [[el("dt", k), el("dd", v)] for k, v in pairs])


# -- index --------------------------------------------------------------------------------

_COLUMNS = ("shape", "ring", "rank", "best known", "source", "naive", "status")


def _row(r: RankRow) -> Html:
    n, m, p = r.shape
    item = r.item
    rank = (el("a", str(item.scheme.rank), href=f"schemes/{item.slug}.html") if item else "—")
    status = r.status
    kind = ("missing" if item is None else "at" if r.gap is not None and r.gap <= 0
            else "behind" if r.gap is not None else "none")
    cells = [
        el("td", f"⟨{n},{m},{p}⟩", data_sort=f"{n:02d}{m:02d}{p:02d}"),
        el("td", r.ring, data_sort=str(RINGS.index(r.ring))),
        el("td", rank, data_sort=str(item.scheme.rank if item else 99999), class_="num"),
        el("td", "—" if r.best is None else str(r.best), data_sort=str(r.best or 99999), class_="num"),
        el("td", r.source, class_="source"),
        el("td", str(r.naive), data_sort=str(r.naive), class_="num"),
        el("td", status, data_sort=str(r.gap if r.gap is not None else 99999), class_=f"status {kind}"),
    ]
    return el("tr", cells, data_shape=f"{n}x{m}x{p}", data_ring=r.ring, data_status=kind)


def _filters() -> Html:
    # hidden until site.js runs: without JavaScript the table is simply sorted by shape
    ring = el("select", el("option", "all rings", value=""),
              [el("option", f"{r} — {RING_NAMES[r]}", value=r) for r in RINGS], id="ring-filter")
    return el(
        "form", el("label", "Shape ", el("input", type="search", id="shape-filter",
                                          placeholder="e.g. 3x3 or 2x2x2")),
        " ", el("label", "Ring ", ring),
        " ", el("label", el("input", type="checkbox", id="behind-filter"), " only shapes behind the record"),
        " ", el("span", "", id="row-count"),
        id="filters", hidden=True,
    )


def _plot_caption(rows: list[RankRow], items: list[SiteScheme]) -> str:
    """Which schemes the plot shows, and how: the count is the plot's own."""
    shown = len(plotted(rows))
    which = (f"Every scheme on this site ({shown})" if shown == len(items) else
             f"{shown} of the {len(items)} schemes on this site, those the table below shows (the "
             "lowest-rank one for each shape and ring; every scheme is in the list at the end)")
    return (f"{which}: a filled circle, or an outlined square for a scheme valid modulo 2 only; click "
            "a point for its page. The solid line joins the best-known ranks over ZT, the dashed "
            "line is the naive rank n·m·p.")


def index_page(rows: list[RankRow], items: list[SiteScheme]) -> Html:
    at = sum(1 for r in rows if r.ring == "ZT" and r.gap is not None and r.gap <= 0)
    # the shapes with a best-known rank, as `fastmm catalog` counts them
    shapes = sum(1 for r in rows if r.ring == "ZT" and r.best is not None)
    head = el("thead", el("tr", [el("th", el("button", c, type="button"), scope="col") for c in _COLUMNS]))
    table = el("table", el("caption", "Ranks by shape and ring. Click a column to sort."),
               head, el("tbody", [_row(r) for r in rows]), id="ranks", class_="ranks")
    ordered = sorted(items, key=lambda i: (sorted(i.scheme.shape), i.scheme.rank, i.slug))
    listing = el("ul", [el("li", el("a", scheme_title(it), href=f"schemes/{it.slug}.html"),
                           f" — {it.origin}: ", el("code", it.name)) for it in ordered],
                 class_="schemes")
    body = [
        el("header", el("h1", "fastmm: fast matrix-multiplication schemes")),
        el("main",
           el("p", f"{len(items)} verified schemes. Over ZT (coefficients in {{−1, 0, 1}}) "
                   f"{at} of {shapes} shapes are at the best-known rank. Each scheme page has the "
                   "formulas, additions, stability factor, invariants and code to download."),
           el("h2", "Rank against n·m·p"),
           el("figure", rank_plot(rows), el("figcaption", _plot_caption(rows, items))),
           el("h2", "Ranks by shape and ring"),
           el("p", "Ring: ZT ternary integers, Z integers, Q rationals, Z2 valid modulo 2 only. "
                   "A ZT scheme serves every ring; a Z2 scheme serves Z2 only."),
           _filters(), table,
           el("h2", "Every scheme"), listing),
        _footer(),
    ]
    return page("fastmm catalogue", body, description="Verified fast matrix-multiplication schemes")


# -- scheme pages ---------------------------------------------------------------------------

def _verification(item: SiteScheme) -> Html:
    record = item.scheme.verified or {}  # this build's check (site.sources), not the file's claim
    pairs: list[tuple[object, object]] = [("checked when this site was built", item.check)]
    for key, label in (("sympy", "sympy proof"), ("by", "checked by")):  # no time: same input, same bytes
        if key in record:
            pairs.append((label, _value(record[key])))
    return _dl(pairs)


def _value(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)


def _provenance(item: SiteScheme) -> Html:
    prov = item.scheme.provenance or {}
    first = [k for k in ("command", "expression", "method", "seed", "seconds") if k in prov]
    rest = sorted(k for k in prov if k not in first)
    pairs: list[tuple[object, object]] = []
    if "command" not in prov:
        pairs.append(("command", "not recorded"))
    for k in first + rest:
        value = _value(prov[k])
        pairs.append((k, el("code", value) if k in ("command", "expression") else value))
    return _dl(pairs)


def _equivalence(eqs: list[Equivalence], names: dict[str, str]) -> Html:
    if not eqs:
        return el("p", "No other scheme on this site, and no classic scheme, has the same shape, "
                       "rank and field.")
    return el("ul", [el("li", el("strong", e.status), " to ",
                        el("a", names[e.other], href=f"{e.other}.html") if e.on_site
                        else [e.other, " (fastmm's reference copy)"],
                        ": ", e.reason) for e in eqs])


def _downloads(downloads: list[Download]) -> Html:
    items = []
    for d in downloads:
        if d.text is None:
            items.append(el("li", f"{d.kind}: not available — {d.reason}"))
        else:
            size = len(d.text.encode("utf-8"))
            items.append(el("li", el("a", f"{d.kind} ({d.filename})", href=f"../files/{d.filename}",
                                     download=d.filename, type="text/plain"), f", {size:,} bytes"))
    return el("ul", items, class_="downloads")


_SECTIONS = ("cost", "downloads", "formulas", "verification", "provenance", "equivalence")


def _contents() -> Html:
    links = [el("a", name, href=f"#{name}") for name in _SECTIONS]
    return el("nav", "On this page: ", [[" · " if i else "", a] for i, a in enumerate(links)], class_="toc")


def scheme_page(item: SiteScheme, row: RankRow | None, facts: SchemeFacts,
                eqs: list[Equivalence], names: dict[str, str]) -> Html:
    """The page of one scheme; `row` is its index row over its own ring, `names` slug -> title."""
    s = item.scheme
    n, m, p = s.shape
    record = "not tabulated"
    if row is not None and row.best is not None:
        status = record_status(s.rank - row.best)
        record = f"{row.best} over {s.ring} ({row.source}) — this scheme is {status}"
    summary = _dl([
        ("shape", f"⟨{n},{m},{p}⟩: A is {n}×{m}, B is {m}×{p}, C = A·B is {n}×{p}"),
        ("rank", f"{s.rank} multiplications (naive {n * m * p})"),
        ("best known", record),
        ("ring", f"{s.ring} — {RING_NAMES[s.ring]}"),
        ("file", [f"{item.origin}: ", el("code", item.name)]),
    ])
    formulas = "\n".join(facts.products + [""] + facts.c_entries)
    body = [
        el("header", el("p", el("a", "← all schemes", href="../index.html")),
           el("h1", scheme_title(item))),
        el("main",
           el("p", Z2_NOTE, class_="warning") if s.ring == "Z2" else None,
           summary,
           _contents(),
           el("h2", "Cost and stability", id="cost"),
           _dl([("additions", f"{facts.plain_additions} plain, {facts.cse_additions} with shared "
                              "subexpressions (greedy CSE), per recursion level"
                 if facts.cse_additions is not None else
                 f"{facts.plain_additions} plain per recursion level; shared subexpressions not counted "
                 "(too large for the greedy search), and the code downloads do not share them"),
                ("stability factor E", facts.stability),
                ("factor-rank invariant", facts.invariant),
                *([("C3 symmetry (A,B,Cᵀ) → (Cᵀ,A,B)", facts.symmetry)] if facts.symmetry else []),
                *([("transpose symmetry (A,B,C) → (Bᵀ,Aᵀ,Cᵀ)", facts.transpose_symmetry)]
                  if facts.transpose_symmetry else [])]),
           el("h2", "Downloads", id="downloads"), _downloads(facts.downloads),
           el("h2", "Formulas", id="formulas"),
           el("p", "Products M1…M", str(s.rank), " of blocks of A and B, then the blocks of C."),
           el("pre", formulas, class_="formulas"),
           el("h2", "Verification", id="verification"), _verification(item),
           el("h2", "Provenance", id="provenance"), _provenance(item),
           el("h2", "Equivalence", id="equivalence"), _equivalence(eqs, names)),
        _footer(),
    ]
    return page(f"{scheme_title(item)} — fastmm", body, root="../",
                description=f"Fast matrix-multiplication scheme {s.label()} over {s.ring}")
