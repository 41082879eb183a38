"""`build_site`: the whole static site, written into a fresh folder that then replaces OUTDIR.

Layout: index.html, style.css, site.js, schemes/<slug>.html, files/<slug>.{json,c},
files/<slug>-numpy.py, files/<slug>-torch.py, and .fastmm-site (a marker, so a rebuild only
ever replaces a folder this function made). Output depends on the input alone: sorted, no build
time, no absolute paths, so two builds from the same catalogue are byte-identical and diffs show
what changed. Worker processes (`workers`) change the time, never the bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fastmm.errors import InputError
from fastmm.known_ranks import canonical
from fastmm.site.assets import SITE_JS, STYLE_CSS
from fastmm.site.facts import SchemeFacts, equivalences, scheme_facts
from fastmm.site.pages import index_page, scheme_page, scheme_title
from fastmm.site.sources import collect_schemes
from fastmm.site.table import rank_rows

MARKER = ".fastmm-site"


@dataclass
class SiteReport:
    """What a build did: pages and files written, schemes left out, and where the time went."""

    outdir: Path
    schemes: int = 0
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (slug, seconds), top 3


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _replace_dir(fresh: Path, outdir: Path) -> None:
    """Move `fresh` to `outdir`; an existing outdir must be empty or an earlier site."""
    if outdir.exists():
        if not outdir.is_dir():
            raise InputError(f"{outdir} exists and is not a folder")
        if any(outdir.iterdir()) and not (outdir / MARKER).is_file():
            raise InputError(f"{outdir} is not empty and was not made by `fastmm site`; "
                             "choose a new or empty folder")
        old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old-", dir=outdir.parent))
        os.replace(outdir, old / "site")
        os.replace(fresh, outdir)
        shutil.rmtree(old)
    else:
        os.replace(fresh, outdir)


def _nothing_to_show(outdir: Path, warnings: list[str]) -> str:
    """The one line refusing a build without a single verified scheme."""
    if not warnings:
        why = "the inputs hold no scheme files"
    else:
        first = warnings[0] if len(warnings[0]) <= 160 else warnings[0][:160] + "..."
        why = f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}, the first: {first}"
    return f"no verified scheme to build a site from ({why}); {outdir} was left as it was"


def _all_facts(items: list, workers: int) -> list[SchemeFacts]:
    if workers <= 1 or len(items) <= 1:
        return [scheme_facts(it) for it in items]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(scheme_facts, items, chunksize=1))


def build_site(outdir: str | Path, catalog: str | Path | None = None, schemes: Iterable[str | Path] = (),
               workers: int = 1) -> SiteReport:
    """Build the site for the catalogue folder (default: the shipped one) plus extra scheme files
    or folders `schemes`. Every scheme is verified; one that fails is left out with a warning.
    A named path that is missing or unreadable, or inputs without a single verified scheme, are an
    InputError raised before anything is written: `outdir` is never replaced then."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    start = time.perf_counter()
    outdir = Path(os.path.abspath(outdir))
    if outdir == Path.cwd() or outdir in Path.cwd().parents:
        raise InputError(f"{outdir} holds the current folder; build the site into a folder of its own")
    items, warnings = collect_schemes(catalog, schemes)
    if not items:  # never replace a site with an empty one
        raise InputError(_nothing_to_show(outdir, warnings))
    rows = rank_rows(items)
    facts = _all_facts(items, workers)
    eqs = equivalences(items)
    names = {it.slug: f"{scheme_title(it)}, {it.slug}" for it in items}
    row_of = {(r.shape, r.ring): r for r in rows}

    outdir.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.new-", dir=outdir.parent))
    try:
        files = {"index.html": index_page(rows, items), "style.css": STYLE_CSS, "site.js": SITE_JS,
                 MARKER: "made by `fastmm site`; the whole folder is replaced on rebuild\n"}
        for it, f in zip(items, facts, strict=True):
            files[f"schemes/{it.slug}.html"] = scheme_page(
                it, row_of.get((canonical(it.scheme.shape), it.scheme.ring)), f, eqs[it.slug], names)
            for d in f.downloads:
                if d.text is not None:
                    files[f"files/{d.filename}"] = d.text
        for rel in sorted(files):
            _write(fresh, rel, files[rel])
        os.chmod(fresh, 0o755)  # mkdtemp makes it private; a site is meant to be served
        _replace_dir(fresh, outdir)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    slowest = sorted(((it.slug, f.seconds) for it, f in zip(items, facts, strict=True)),
                     key=lambda x: -x[1])[:3]
    return SiteReport(outdir, len(items), len(files), warnings, time.perf_counter() - start, slowest)
