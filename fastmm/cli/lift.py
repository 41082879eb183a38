"""`fastmm lift FILE`: a GF(2) scheme made valid over ZT or Z (fastmm.api.lift)."""

from __future__ import annotations

import click

from fastmm.cli import cli, command_line
from fastmm.cli.numbers import INT, UpperChoice
from fastmm.cli.terminal import printable

_HOW = {  # fastmm.lift's provenance "lift" -> what the command says
    "signs": "lifted from {ring} (signs)",
    "hensel": "lifted from {ring} (hensel)",
    "frames": "a change of basis made it ternary (frames)",
    "hensel + frames": "no sign lift; Hensel lifting and changes of basis gave a ZT scheme of the same "
                       "rank (it does not reduce to the input modulo 2)",
}


@cli.command(short_help="Lift a scheme valid modulo 2 to ZT or Z.")
@click.argument("file")
@click.option("--ring", type=UpperChoice(("ZT", "Z")), default="ZT", show_default=True,
              help="ZT: sign lifting (coefficients in {-1,0,1}), else Hensel lifting and changes of basis "
                   "to ternary coefficients; Z: sign lifting, then Hensel lifting.")
@click.option("--tries", type=INT, default=32, show_default=True,
              help="Points of the mod-4 sign system checked exactly over Z.")
@click.option("--seed", type=INT, default=0, show_default=True)
@click.option("--time-limit", default=None, metavar="SECONDS",
              help="Stop building and solving the linear systems, the sign tries and the changes of basis "
                   "after this long (default: no limit).")
@click.option("-o", "--out", default=None, metavar="FILE",
              help="Write the scheme here, replacing an existing file (default: NxMxP-rankR-RING.json, "
                   "never overwriting one).")
@click.option("--no-sympy", is_flag=True, help="Skip the sympy proof (the exact Brent check stays).")
def lift(file: str, ring: str, tries: int, seed: int, time_limit: str | None, out: str | None,
         no_sympy: bool) -> int:
    """Lift a scheme valid modulo 2 (e.g. from a GF(2) flip-graph search) to ZT or Z.

    Exit 1 when no lift is found; over ZT the message says when none can exist (the mod-4
    sign equations have no solution). Walking the scheme's flip graph at its rank finds others
    to lift: fastmm search N M P --rank R --start FILE --method pool --option liftable_pools=false.
    """
    from fastmm.api import lift as lift_scheme
    from fastmm.api import load
    from fastmm.arguments import parse_time_limit
    from fastmm.cli.search import default_path
    from fastmm.io import dumps
    from fastmm.paths import check_output_path, scheme_stem, write_atomic, write_new, write_or_rescue
    from fastmm.scheme import ring_serves

    seconds = None if time_limit is None else parse_time_limit(time_limit)
    if out is not None:
        check_output_path(out, inputs=(file,))
    scheme = load(file)
    lifted = lift_scheme(scheme, ring.upper(), seed=seed, tries=tries, sympy=not no_sympy, time_limit=seconds)
    if scheme.ring not in ("", "Z2") and not ring_serves(scheme.coefficient_ring, scheme.ring):
        # said once the lift has worked: a file that is no scheme at all gets only its error line
        click.echo(f"note: {printable(file)} says ring {scheme.ring}, but its coefficients need "
                   f"{scheme.coefficient_ring}: lifted as what it is", err=True)
    if lifted.provenance.get("method") == "lift":
        command = command_line()
        lifted = lifted.with_meta(provenance={**lifted.provenance, "command": command, "input": file})
        source = lifted.provenance["lifted_from"].split(" over ", 1)[1]
        how = _HOW[lifted.provenance["lift"]].format(ring=source)
    else:
        how = f"already valid over {lifted.ring}"
    n, m, p = lifted.shape
    text = dumps(lifted)
    # a failed write (a full disk) keeps the scheme in a fallback file, named in one line (exit 1)
    if out:
        write_or_rescue(lambda: write_atomic(out, text), text, scheme_stem(lifted))
        path = out
    else:
        default = default_path(n, m, p, lifted.rank, lifted.ring)
        path = str(write_or_rescue(lambda: write_new(default, text), text, scheme_stem(lifted)))
    from fastmm.verify import checks_done

    click.echo(f"⟨{n},{m},{p};{lifted.rank}⟩ over {lifted.ring}: {how}; exact, verified "
               f"({checks_done(lifted.verified)}); "
               f"wrote {printable(path)}")
    return 0
