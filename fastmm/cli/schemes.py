"""`fastmm verify FILE...` and `fastmm show FILE`."""

from __future__ import annotations

import click

from fastmm.cli import cli
from fastmm.cli.terminal import one_line, printable
from fastmm.errors import EXIT_FAILED, EXIT_USAGE, FastmmError


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--no-sympy", is_flag=True, help="Skip the sympy proof (the exact Brent check stays).")
def verify(files: tuple[str, ...], no_sympy: bool) -> int:
    """Check scheme files exactly: Brent equations and a sympy proof."""
    from fastmm.io import load_scheme
    from fastmm.verify import brent_report, uses_big_names
    from fastmm.verify import verify as check

    worst = 0
    invalid = unreadable = 0
    for path in files:
        name = printable(path)  # a name holding a newline must not fake a line of the report
        try:
            scheme = load_scheme(path)
        except FastmmError as exc:
            click.echo(one_line(f"error: {exc}"), err=True)
            worst = max(worst, EXIT_USAGE)
            unreadable += 1
            continue
        v = check(scheme, use_sympy=not no_sympy)
        problem = v.label_problem  # the declared ring must hold the coefficients (ZT ⊂ Z ⊂ Q)
        if v.ok and problem is None:
            how = v.record()["brent"] + ("; sympy proof" if v.sympy is not None else "")
            if v.sympy_skipped:
                how += f"; sympy proof skipped: {v.sympy_skipped}"
            note = " — valid modulo 2 only" if v.ring == "Z2" else ""
            click.echo(f"{name}: {scheme.label()} valid over {v.ring}{note} ({how})")
            continue
        worst = max(worst, EXIT_FAILED)
        invalid += 1
        if problem:
            click.echo(f"{name}: {scheme.label()} INVALID: {problem}")
            if v.report.ok:
                continue
            click.echo("  and it fails the Brent equations:")
        else:
            click.echo(f"{name}: {scheme.label()} INVALID over {scheme.ring}:")
        for line in v.report.lines(uses_big_names(scheme)):
            click.echo(f"  {line}")
        if scheme.ring != "Z2" and scheme.is_integral and brent_report(scheme, 2).ok:
            click.echo("  (it is valid modulo 2: label it ring \"Z2\" if that is what you want)")
    if invalid or (unreadable and len(files) > 1):  # details on stdout (invalid) or above
        parts = [f"{invalid} invalid"] * bool(invalid) + [f"{unreadable} unreadable"] * bool(unreadable)
        click.echo(f"error: {invalid + unreadable} of {len(files)} scheme file"
                   f"{'s' if len(files) > 1 else ''} failed verification ({', '.join(parts)})", err=True)
    return worst


@cli.command()
@click.argument("file")
def show(file: str) -> int:
    """Print a scheme's formulas, rank, ring, additions, stability factor and invariants."""
    from fastmm.catalog import check_catalog_dir
    from fastmm.formulas import formula_text
    from fastmm.io import load_scheme
    from fastmm.metrics import (
        CSE_WORK_LIMIT,
        cse_work,
        factor_rank_invariant,
        format_invariant,
        plain_additions,
        stability_factor,
    )
    from fastmm.scheme import RING_NAMES
    from fastmm.search.symmetric import c3_symmetry
    from fastmm.search.transpose_symmetric import describe as t2_symmetry
    from fastmm.verify import uses_big_names
    from fastmm.verify import verify as check

    scheme = load_scheme(file)
    check_catalog_dir()  # the comparison at the end reads it: a folder that is not one is said first
    v = check(scheme, use_sympy=False)
    n, m, p = scheme.shape
    click.echo(f"{printable(file)}: ⟨{n},{m},{p}⟩ rank {scheme.rank} (naive {n * m * p})")
    if not v.ok:
        why = [v.label_problem] * bool(v.label_problem) + v.report.lines(uses_big_names(scheme), 5)
        click.echo(f"NOT VALID over {scheme.ring}: " + "; ".join(why))
    # the ring it verified in (the smallest holding the coefficients), not a wider label
    ring = v.ring if v.ok else scheme.ring
    said = f"; the file says {scheme.ring}" if ring != scheme.ring else ""
    click.echo(f"ring: {ring} ({RING_NAMES[ring]}{said})")
    click.echo(formula_text(scheme))
    adds = f"additions: {plain_additions(scheme)} plain"
    work = cse_work(scheme)
    if work > CSE_WORK_LIMIT:
        adds += (f"; shared subexpressions not counted (work {work:,} > {CSE_WORK_LIMIT:,}, "
                 "the limit for a quick answer)")
    else:
        from fastmm.export.slp import count_additions

        adds += f", {count_additions(scheme, cse=True)} with shared subexpressions"
    click.echo(adds)
    if scheme.ring == "Z2":  # a bound on floating-point error: no meaning for a product modulo 2
        click.echo("stability factor E: none (valid modulo 2 only: no floating-point product)")
    else:
        click.echo(f"stability factor E: {stability_factor(scheme)}")
    click.echo(f"factor ranks: {format_invariant(factor_rank_invariant(scheme))}")
    symmetry = c3_symmetry(scheme) if v.ok else None
    if symmetry is not None:
        click.echo(f"C3 symmetry (A,B,Cᵀ) -> (Cᵀ,A,B): {symmetry}"
                   + ("" if symmetry == "no" else "; a --symmetry c3 or c3j --start" if "JXJ" in symmetry
                      else "; a --symmetry c3 --start"))
    t2 = t2_symmetry(scheme) if v.ok else None
    if t2 is not None:
        click.echo(f"transpose symmetry (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ): {t2}"
                   + ("" if t2 == "no" else "; a --symmetry t2 --start"))
    if v.ok:
        click.echo(f"equivalence: {_catalog_equivalence(scheme.with_meta(ring=ring))}")
    if not v.ok:
        click.echo(one_line(f"error: {printable(file)}: {scheme.label()} is not valid over {scheme.ring}"),
                   err=True)
    return 0 if v.ok else EXIT_FAILED


def _catalog_equivalence(scheme) -> str:
    """'equivalent to catalogued 2x2x2-rank7-ZT.json (…)', or why not: compared with the entries
    serving the scheme's ring (the one it verified in)."""
    from fastmm.catalog import find_in_catalog

    hit = find_in_catalog(scheme)
    if hit is None:
        return f"no catalogued {scheme.label()} scheme over {scheme.ring} to compare with"
    entry, result = hit
    name = entry.path.name
    if result.status == "equivalent":
        how = result.transform.describe() if result.transform is not None else result.reason
        over = " modulo 2" if scheme.ring == "Z2" else ""  # compared over GF(2) (catalog.find_in_catalog)
        return f"equivalent{over} to catalogued {name} ({how})"
    return f"{result.status} to catalogued {name}: {result.reason}"
