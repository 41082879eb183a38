"""`fastmm finish POINTS`: an exact scheme from fitted floating-point points (fastmm.api.finish)."""

from __future__ import annotations

import click

from fastmm.cli import cli, command_line
from fastmm.cli.numbers import FLOAT, INT, UpperChoice
from fastmm.cli.terminal import printable
from fastmm.errors import InputError, SearchInterrupted

# fastmm.api.finish's arguments -> this command's flags, for its messages (cli.search.reworded)
ARGUMENT_FLAGS = {"frames": "--frames", "trials": "--trials", "max_denominator": "--max-denominator",
                  "point": "--point"}


@cli.command()
@click.argument("points")
@click.option("--ring", type=UpperChoice(("Q", "Z", "ZT")), default="Q",
              show_default=True,
              help="Ring the scheme must live in.")
@click.option("--point", "point", type=INT, default=None, metavar="K",
              help="Only the K-th point of the file (1-based).")
@click.option("--frames", type=INT, default=4, show_default=True, help="Framed bases tried per point.")
@click.option("--trials", type=INT, default=2, show_default=True, help="Fixing orders tried per frame.")
@click.option("--max-denominator", type=INT, default=64, show_default=True,
              help="Largest denominator of a reconstructed coefficient.")
@click.option("--time-limit", type=FLOAT, default=600.0, show_default=True, help="Seconds in all.")
@click.option("-o", "--out", default=None, metavar="FILE",
              help="Write the scheme here, replacing an existing file (default: NxMxP-rankR-RING.json, "
                   "never overwriting one).")
@click.option("--catalog", "to_catalog", is_flag=True, help="Also offer it to the catalogue.")
@click.option("--no-sympy", is_flag=True, help="Skip the sympy proof (the exact Brent check stays).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def finish(points: str, ring: str, point: int | None, frames: int, trials: int, max_denominator: int,
           time_limit: float, out: str | None, to_catalog: bool, no_sympy: bool, quiet: bool) -> int:
    """Turn fitted floating-point points into an exact, verified scheme.

    POINTS is an .npz written by `fastmm search ... --method als --save-fitted DIR` or a
    JSON file of points such as results/numerical_points/2x4x5-r32-fitted.json.
    """
    from fastmm.api import finish as finish_points
    from fastmm.cli.search import reworded
    from fastmm.paths import check_output_path
    from fastmm.search.runner import StopSignals

    if out is not None:
        check_output_path(out, inputs=(points,))
    if to_catalog:  # a catalogue that cannot be one is said before the work, not after it
        from fastmm.catalog import check_catalog_dir

        check_catalog_dir(create=True)
    progress = None if quiet else (lambda line: click.echo(line, err=True))
    # SIGINT, SIGTERM and SIGHUP end the work where it is (exit 130, 143, 129), as in `search`
    with StopSignals() as signals:
        try:
            scheme = finish_points(points, ring=ring, point=point, frames=frames, trials=trials,
                                   max_denominator=max_denominator, time_limit=time_limit,
                                   sympy=not no_sympy, progress=progress, stop=signals.flag.is_set)
        except InputError as exc:
            reworded(exc, ARGUMENT_FLAGS)
        except (KeyboardInterrupt, SearchInterrupted) as exc:
            if signals.signum is None:  # not a signal: the library's own Ctrl-C handling
                raise
            with signals.shield():
                found = getattr(exc, "found", None)
                if found:  # a signal during the sympy proof: the exact Brent check stands
                    click.echo(str(exc), err=True)
                    _write(found[0], points, out, to_catalog)
                click.echo("interrupted", err=True)
                return signals.exit_code
        with signals.shield():  # the scheme is found: write it whole, then stop
            return _write(scheme, points, out, to_catalog)


def _write(scheme, points: str, out: str | None, to_catalog: bool) -> int:
    from fastmm.cli.search import default_path
    from fastmm.io import dumps
    from fastmm.paths import scheme_stem, write_atomic, write_new, write_or_rescue

    command = command_line()
    scheme = scheme.with_meta(provenance={**scheme.provenance, "command": command,
                                          "method": "finish", "points": points})
    n, m, p = scheme.shape
    text = dumps(scheme)
    # a failed write (a full disk) keeps the scheme in a fallback file, named in one line (exit 1)
    if out:
        write_or_rescue(lambda: write_atomic(out, text), text, scheme_stem(scheme))
        path = out
    else:
        default = default_path(n, m, p, scheme.rank, scheme.ring)
        path = str(write_or_rescue(lambda: write_new(default, text), text, scheme_stem(scheme)))
    from fastmm.verify import checks_done

    click.echo(f"⟨{n},{m},{p};{scheme.rank}⟩ over {scheme.ring}: exact, verified "
               f"({checks_done(scheme.verified)}); "
               f"wrote {printable(path)}")
    if to_catalog:
        from fastmm.catalog import add_to_catalog

        click.echo("added to the catalogue" if add_to_catalog(scheme) else
                   "the catalogue already holds one at least as good")
    return 0
