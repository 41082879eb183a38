"""`fastmm export` and `fastmm import`: thin wrappers over fastmm.api.export and the importers."""

from __future__ import annotations

import click

from fastmm.cli import cli
from fastmm.cli.terminal import echo_result, printable, ring_text
from fastmm.errors import InputError

TEXT_FORMATS = ("text", "markdown", "latex", "slp")
CODE_FORMATS = ("c", "numpy", "torch")
FOREIGN_FORMATS = ("alphatensor", "perminov", "fast-matmul", "exp", "maple")  # fastmm.export.formats.FORMATS


def _to_stdout(output: str | None) -> bool:
    return output is None or output == "-"


def _check_output(output: str | None, file: str) -> None:
    """Refuse an output path that cannot be written, or that is the input FILE (another format
    written over it), before any work (fastmm.paths)."""
    if not _to_stdout(output):
        from fastmm.paths import check_output_path

        check_output_path(output, "-o/--output", inputs=(file,))


def _write(output: str | None, payload: str | bytes) -> None:
    from fastmm.paths import write_atomic

    if _to_stdout(output):
        if isinstance(payload, bytes):
            raise InputError("this format is binary: give an output file with -o FILE")
        echo_result(payload, nl=False)
    else:
        write_atomic(output, payload)


def _with_cse(scheme, cse: bool) -> bool:
    """Shared subexpressions unless the scheme is beyond the size the greedy search handles
    quickly (fastmm.metrics.CSE_WORK_LIMIT); then say so and export without sharing."""
    from fastmm.metrics import CSE_WORK_LIMIT, cse_work

    if cse and cse_work(scheme) > CSE_WORK_LIMIT:
        click.echo(f"note: {scheme.label()} is too large for the shared-subexpression search "
                   f"(work {cse_work(scheme):,} > {CSE_WORK_LIMIT:,}); exported without sharing "
                   "(as with --no-cse)", err=True)
        return False
    return cse


@cli.command("export")
@click.argument("file")
@click.option("--to", "fmt", required=True,
              type=click.Choice(TEXT_FORMATS + CODE_FORMATS + FOREIGN_FORMATS),
              help="Output format.")
@click.option("-o", "--output", "--out", default=None, metavar="FILE",
              help="Write here (atomically, replacing an existing file; a symlink is followed) instead "
                   "of stdout; - is stdout.")
@click.option("--no-cse", is_flag=True, help="Code formats and slp: no shared subexpressions.")
@click.option("--ascii", "ascii_only", is_flag=True,
              help="Text formats (text, markdown, latex; slp always is): ASCII only, - and *.")
def export_cmd(file: str, fmt: str, output: str | None, no_cse: bool, ascii_only: bool) -> None:
    """Write a verified scheme FILE as formulas, code, or another tool's format.

    Text formats show the scheme itself (slp its straight-line program); code formats (c, numpy,
    torch) and slp use the program with shared subexpressions unless --no-cse.
    """
    from fastmm.io import load_scheme
    from fastmm.verify import verified_copy

    if _to_stdout(output) and fmt == "alphatensor":
        raise InputError("this format is binary: give an output file with -o FILE")
    _check_output(output, file)
    scheme = verified_copy(load_scheme(file), use_sympy=False)  # exit 1 names failing entries
    cse = _with_cse(scheme, not no_cse) if fmt in CODE_FORMATS + ("slp",) else not no_cse
    from fastmm.api import export

    payload = export(scheme, to=fmt, cse=cse, ascii_only=ascii_only)  # the library's one dispatch
    _write(output, payload)
    if not _to_stdout(output):
        click.echo(f"wrote {printable(output)} ({fmt}, {scheme.label()}, ring {scheme.ring})", err=True)


@cli.command("import")
@click.argument("file")
@click.option("--from", "fmt", default="auto", show_default=True,
              type=click.Choice(FOREIGN_FORMATS + ("auto",)),
              help="Format of FILE; auto tells it from the content (npy/npz, Perminov JSON, fast-matmul "
                   "rows of numbers, exp products, Maple lists) and says which it read.")
@click.option("-o", "--output", "--out", default=None, metavar="FILE",
              help="Scheme file to write (atomically, replacing an existing file; a symlink is followed); "
                   "stdout when omitted or -.")
@click.option("--allow-pickle", is_flag=True,
              help="AlphaTensor: allow npz/npy files holding Python objects (can run code).")
@click.option("--key", default=None, help="AlphaTensor dict-style npz: which factorization (N,M,P).")
@click.option("--z2", is_flag=True, help="The scheme is valid modulo 2 only (GF(2)).")
def import_cmd(file: str, fmt: str, output: str | None, allow_pickle: bool, key: str | None,
               z2: bool) -> None:
    """Read another tool's scheme FILE, verify it, and write a fastmm scheme file."""
    from fastmm.export.formats import import_scheme
    from fastmm.io import dumps
    from fastmm.paths import OutputError, rescue, scheme_stem, write_atomic

    _check_output(output, file)
    if fmt == "auto":
        from fastmm.export.formats import guess_format

        fmt = guess_format(file)
        click.echo(f"reading {printable(file)} as {fmt} (told from its content; --from names the format)",
                   err=True)
    scheme = import_scheme(file, fmt, allow_pickle=allow_pickle, key=key, z2=z2)
    if scheme.provenance.get("note"):  # a modulo-2 claim its coefficients contradict
        click.echo(f"note: {printable(file)}: {scheme.provenance['note']}", err=True)
    text = dumps(scheme)
    if _to_stdout(output):
        _write(output, text)
        return
    try:
        written = write_atomic(output, text)
    except OutputError as exc:  # keep the verified scheme: a fallback file, named in one line
        try:
            saved = rescue(text, scheme_stem(scheme))
        except OutputError as again:
            raise OutputError(f"{exc}; {again}") from None
        raise OutputError(f"{exc}; the verified scheme was saved to {saved} instead") from None
    click.echo(f"wrote {printable(written)} ({scheme.label()}, {ring_text(scheme.ring)})", err=True)
