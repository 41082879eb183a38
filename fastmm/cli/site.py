"""`fastmm site OUTDIR`: a thin wrapper over fastmm.site.build_site."""

from __future__ import annotations

import click

from fastmm.cli import cli
from fastmm.cli.numbers import INT
from fastmm.cli.terminal import file_name, printable


@cli.command("site")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--catalog", "catalog", type=click.Path(file_okay=False), default=None,
              help="Catalogue folder (default: $FASTMM_CATALOG when set, else the shipped catalogue).")
@click.option("--schemes", "schemes", multiple=True, type=click.Path(),
              help="Extra scheme file, or folder of them, to add (repeatable).")
@click.option("--workers", type=INT, default=1, show_default=True,
              help="Processes computing pages and code (never more than there are schemes).")
def site(outdir: str, catalog: str | None, schemes: tuple[str, ...], workers: int) -> int:
    """Build a static website of every verified scheme into OUTDIR (replaced if it is a site).

    If OUTDIR is a symlink, its target is rebuilt and the link stays. Anything in OUTDIR that an
    earlier `fastmm site` did not write (a .git folder, CNAME, .nojekyll) is kept as it is.

    A named input that is missing, or inputs without a single verified scheme, are refused
    (exit 2) before anything is written: OUTDIR stays as it was. A file that cannot be read or
    is not a valid scheme is left out with one warning line. A file named twice
    (in the catalogue and by --schemes) is one scheme. --workers is at most 4096, as for a search.
    """
    from fastmm.cli.search import reworded
    from fastmm.errors import InputError
    from fastmm.search.runner import StopSignals
    from fastmm.site import build_site

    # SIGINT, SIGTERM and SIGHUP stop the build alike (exit 130, 143, 129): OUTDIR as it was, the
    # temporary folders removed (SIGTERM killed it between renames, OUTDIR gone)
    with StopSignals() as signals:
        try:
            report = build_site(outdir, catalog=catalog, schemes=schemes, workers=workers)
        except InputError as exc:
            reworded(exc, {"workers": "--workers"})
        except KeyboardInterrupt:
            if signals.signum is None:
                raise
            with signals.shield():
                click.echo("interrupted", err=True)
            return signals.exit_code
    for line in report.warnings:
        click.echo(f"warning: {printable(line)}", err=True)
    click.echo(f"wrote {file_name(report.outdir)}/index.html: {report.schemes} schemes, {report.files} files "
               f"in {report.seconds:.1f} s", err=True)
    return 0
