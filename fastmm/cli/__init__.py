"""The `fastmm` command line: a click group; each topic registers its commands from its own module.

Commands stay thin (parse, call the library, print). Library code raises FastmmError;
`main` turns it into one line on stderr and the documented exit code.
"""

from __future__ import annotations

import os
import sys

import click

from fastmm import __version__
from fastmm.errors import FastmmError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fastmm")
def cli() -> None:
    """Find, prove, export and train fast matrix-multiplication schemes."""


def _register() -> None:
    # Each module adds its commands to `cli`; imports here are cheap (no torch, no sympy).
    import importlib

    for name in ("schemes", "search", "export", "bench", "nn", "count", "catalog", "site"):
        try:
            importlib.import_module(f"fastmm.cli.{name}")
        except ModuleNotFoundError as exc:  # a topic not built yet must not break the rest
            if exc.name != f"fastmm.cli.{name}":
                raise


_register()


_OPTIONAL = {  # optional dependency -> how to install it
    "torch": "pip install 'fastmm[nn]' torch==2.13.0 (the CPU build)",
    "PIL": "pip install 'fastmm[nn]'",
    "matplotlib": "pip install 'fastmm[nn]'",
    "distributed": "pip install 'fastmm[dist]'",
    "dask": "pip install 'fastmm[dist]'",
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        rc = cli.main(args=argv, prog_name="fastmm", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except FastmmError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one line for users, the traceback on request
        if os.environ.get("FASTMM_DEBUG"):
            raise
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        extra = _OPTIONAL.get((missing or "").split(".")[0])
        if extra is not None:
            click.echo(f"error: this command needs {missing}: {extra}", err=True)
        else:
            click.echo(f"internal error: {type(exc).__name__}: {exc} "
                       "(please report it; FASTMM_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)
