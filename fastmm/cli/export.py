"""`fastmm export` and `fastmm import`: thin wrappers over fastmm.export."""

from __future__ import annotations

import click

from fastmm.cli import cli
from fastmm.errors import InputError

TEXT_FORMATS = ("text", "markdown", "latex", "slp")
CODE_FORMATS = ("c", "numpy", "torch")
FOREIGN_FORMATS = ("alphatensor", "perminov", "fast-matmul")


def _write(output: str | None, payload: str | bytes) -> None:
    from fastmm.io import atomic_write_bytes, atomic_write_text

    if output is None or output == "-":
        if isinstance(payload, bytes):
            raise InputError("this format is binary: give an output file with -o FILE")
        click.echo(payload, nl=False)
    elif isinstance(payload, bytes):
        atomic_write_bytes(output, payload)
    else:
        atomic_write_text(output, payload)


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--to", "fmt", required=True,
              type=click.Choice(TEXT_FORMATS + CODE_FORMATS + FOREIGN_FORMATS),
              help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here (atomically) instead of stdout.")
@click.option("--no-cse", is_flag=True, help="Code formats: no shared subexpressions.")
@click.option("--ascii", "ascii_only", is_flag=True, help="Text format: ASCII - and * only.")
def export_cmd(file: str, fmt: str, output: str | None, no_cse: bool, ascii_only: bool) -> None:
    """Write a verified scheme FILE as formulas, code, or another tool's format.

    Text formats show the scheme itself; code formats (c, numpy, torch) use the
    straight-line program with shared subexpressions unless --no-cse.
    """
    from fastmm.io import load_scheme
    from fastmm.verify import verified_copy

    scheme = verified_copy(load_scheme(file), use_sympy=False)  # exit 1 names failing entries
    cse = not no_cse
    payload: str | bytes
    if fmt in ("text", "markdown", "latex"):
        from fastmm.export.text import formulas

        payload = formulas(scheme, fmt, ascii_only)
    elif fmt == "slp":
        from fastmm.export.text import slp_text

        payload = slp_text(scheme, cse)
    elif fmt == "numpy":
        from fastmm.export.pycode import numpy_source

        payload = numpy_source(scheme, cse)
    elif fmt == "torch":
        from fastmm.export.pycode import torch_source

        payload = torch_source(scheme, cse)
    elif fmt == "c":
        from fastmm.export.c import emit_c

        payload = emit_c(scheme, cse=cse)
    else:
        from fastmm.export.formats import export_foreign

        payload = export_foreign(scheme, fmt)
    _write(output, payload)
    if output not in (None, "-"):
        click.echo(f"wrote {output} ({fmt}, {scheme.label()}, ring {scheme.ring})", err=True)


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--from", "fmt", required=True, type=click.Choice(FOREIGN_FORMATS),
              help="Format of FILE.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Scheme file to write (atomically); stdout when omitted.")
@click.option("--allow-pickle", is_flag=True,
              help="AlphaTensor: allow npz/npy files holding Python objects (can run code).")
@click.option("--key", default=None, help="AlphaTensor dict-style npz: which factorization (N,M,P).")
@click.option("--z2", is_flag=True, help="The scheme is valid modulo 2 only (GF(2)).")
def import_cmd(file: str, fmt: str, output: str | None, allow_pickle: bool, key: str | None,
               z2: bool) -> None:
    """Read another tool's scheme FILE, verify it, and write a fastmm scheme file."""
    from fastmm.export.formats import import_scheme
    from fastmm.io import dumps

    scheme = import_scheme(file, fmt, allow_pickle=allow_pickle, key=key, z2=z2)
    _write(output, dumps(scheme))
    if output not in (None, "-"):
        click.echo(f"wrote {output} ({scheme.label()}, ring {scheme.ring}, verified)", err=True)
