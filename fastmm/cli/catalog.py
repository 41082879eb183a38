"""`fastmm catalog`: the shipped schemes against the best-known ranks."""

from __future__ import annotations

import json
import sys

import click

from fastmm.cli import cli
from fastmm.cli.terminal import echo_result, printable, require_stdout

_HEADERS = ("shape", "naive", "best ZT", "best Q", "best Z2", "catalogue", "ring", "status", "per ring")


def _cells(row: dict) -> list[str]:
    status = row["status"]
    if status == "gap":
        status = f"gap +{row['gap']}"
    return [
        "×".join(map(str, row["shape"])), str(row["naive"]), *(
            "—" if row[k] is None else str(row[k]) for k in ("best_ZT", "best_Q", "best_Z2")),
        "—" if row["catalog_rank"] is None else str(row["catalog_rank"]),
        row["catalog_ring"] or "—", status,
        " ".join(f"{ring}:{rank}" for ring, rank in row["by_ring"].items()) or "—",
    ]


@cli.command("catalog")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one JSON object).")
def catalog(as_json: bool) -> int:
    """List every shape 2 ≤ n ≤ m ≤ p ≤ 6: naive and best-known ranks, the catalogue's best scheme
    and its best rank in each ring it holds (ZT, Z, Q, Z2); every other shape the catalogue
    holds too (⟨1,2,2⟩, ⟨2,2,7⟩), best-known ranks "—" where none is tabulated.

    The catalogue is $FASTMM_CATALOG when set (a folder that does not exist or is not one is an
    error, exit 2), else the shipped one. Each file left out is one warning line."""
    from fastmm.api import CATALOG_MAX_DIM
    from fastmm.catalog import catalog_dir, catalog_fingerprint, catalog_table

    require_stdout("the listing is all this command writes: redirect it to a file")
    rows, problems = catalog_table(CATALOG_MAX_DIM)
    # every shape up to 6, and the larger ones the catalogue holds (a user's ⟨2,2,7⟩)
    rows = [r for r in rows if max(r["shape"]) <= 6 or r["catalog_rank"] is not None]
    for line in problems:
        click.echo(f"warning: {printable(line)}", err=True)
    if as_json:
        echo_result(json.dumps({"directory": str(catalog_dir()), "fingerprint": catalog_fingerprint(),
                                "rows": rows, "skipped": problems}, indent=2))
        return 0
    cells = [_cells(r) for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # a Text, not markup: a folder named "c[/]at" is shown as it is
        table = Table(title=Text(f"fastmm catalogue ({printable(str(catalog_dir()))})"))
        for h in _HEADERS:
            table.add_column(h, justify="left" if h in ("shape", "ring", "status") else "right")
        style = {"best known reached": "green", "missing": "red"}
        for row, c in zip(rows, cells, strict=True):
            table.add_row(*c, style=style.get(row["status"], "yellow"))
        Console().print(table)
    else:
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_HEADERS)]
        click.echo("  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths, strict=True)).rstrip())
        for c in cells:
            click.echo("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
    tabulated = [r for r in rows if r["status"] != "no record tabulated" and max(r["shape"]) <= 6]
    extra, rows = len(rows) - len(tabulated), tabulated  # the summary counts the 35 shapes up to 6
    reached = sum(r["status"] == "best known reached" for r in rows)
    missing = sum(r["status"] == "missing" for r in rows)
    ternary = sum(r["by_ring"].get("ZT", r["naive"] + 1) <= r["best_ZT"] for r in rows)
    also = f"; {extra} more catalogued (above 6 or without a tabulated record)" if extra else ""
    click.echo(f"{reached} of {len(rows)} shapes at the best-known rank in their ring ({ternary} at the "
               "best-known ZT rank), "
               f"{len(rows) - reached - missing} with a gap, {missing} missing{also} "
               f"(catalogue fingerprint {catalog_fingerprint()}, as pool searches record it)")
    return 0
