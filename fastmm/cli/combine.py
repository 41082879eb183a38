"""`fastmm combine`: Kronecker products, direct sums, projections and permutations of scheme files
(a thin wrapper over fastmm.api.combine, which verifies the inputs and the result)."""

from __future__ import annotations

import click

from fastmm.cli import cli, command_line
from fastmm.cli.numbers import INT
from fastmm.cli.terminal import echo_result, printable, ring_text


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    from fastmm.arguments import plain_number_text
    from fastmm.errors import InputError

    parts = text.replace("x", ",").split(",")
    try:
        if not all(plain_number_text(x) for x in parts):
            raise ValueError
        return tuple(int(x) for x in parts)
    except ValueError:
        cut = text if len(text) <= 40 else text[:40] + f"... ({len(text)} characters)"
        raise InputError(f"--shape wants N,M,P (ASCII digits), got {cut!r}") from None


def _verified(path: str):
    """The scheme of file `path`: SchemeFormatError (exit 2) when it cannot be read,
    VerificationError (exit 1, as verify, show and export say) when it is not valid."""
    from fastmm import api
    from fastmm.errors import VerificationError

    scheme = api.load(path)
    verdict = api.verify(scheme, sympy=False)
    if not verdict.ok:
        raise VerificationError(f"{printable(path)}: {scheme.label()} fails verification: "
                                f"{verdict.lines()[0]}")
    return scheme


@cli.command()
@click.argument("op", type=click.Choice(["kron", "sum", "project", "permute"]))
@click.argument("files", nargs=-1, required=True)
@click.option("--axis", type=click.Choice(["n", "m", "p"]), default=None,
              help="sum: the dimension the two schemes are joined along; project: the one cut.")
@click.option("--index", type=INT, default=None, help="project: the row/column to drop (0-based).")
@click.option("--shape", "shape_text", default=None, metavar="N,M,P", help="permute: the target shape.")
@click.option("-o", "--output", "--out", required=True, metavar="FILE",
              help="Scheme file to write (atomically; an existing file is replaced); - prints it.")
@click.option("--no-sympy", is_flag=True, help="Skip the sympy proof (the exact Brent check stays).")
def combine(op: str, files: tuple[str, ...], axis: str | None, index: int | None, shape_text: str | None,
            output: str, no_sympy: bool) -> None:
    """New schemes from verified ones: kron A B, sum A B --axis n|m|p, project A --axis n|m|p
    --index I, permute A --shape N,M,P. The result is verified before it is written."""
    from fastmm import api
    from fastmm.io import dumps
    from fastmm.paths import check_output_path, scheme_stem, write_atomic, write_or_rescue

    if output != "-":
        check_output_path(output, "-o/--output", inputs=files)
    schemes = [_verified(f) for f in files]
    out = api.combine(op, *schemes, axis=axis, index=index, shape=_shape(shape_text), sympy=not no_sympy)
    out = out.with_meta(provenance={**out.provenance, "command": command_line()})  # how to make it again
    if output == "-":  # as export and import print with -o -
        echo_result(dumps(out))
        click.echo(f"printed {out.label()} ({ring_text(out.ring)})", err=True)
        return
    text = dumps(out)  # a failed write (a full disk) keeps it in a fallback file, named in one line (exit 1)
    written = write_or_rescue(lambda: write_atomic(output, text), text, scheme_stem(out))
    click.echo(f"wrote {printable(written)} ({out.label()}, {ring_text(out.ring)})", err=True)
