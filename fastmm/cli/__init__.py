"""The `fastmm` command line: a click group; each topic registers its commands from its own module.

Commands stay thin (parse, call the library, print). Library code raises FastmmError;
`main` turns it into one line on stderr and the documented exit code.
"""

from __future__ import annotations

import errno
import os
import sys

from fastmm.cli.terminal import install_interrupt_hook

install_interrupt_hook()  # before the heavier imports: Ctrl-C from here on is one line, exit 130

import click  # noqa: E402

from fastmm import __version__  # noqa: E402
from fastmm.cli.terminal import ascii_fallback, install_warning_format, one_line  # noqa: E402
from fastmm.errors import FastmmError  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fastmm")
def cli() -> None:
    """Find, prove, export and train fast matrix-multiplication schemes."""


_ARGS: list[str] = []  # the arguments of the command being run (main(argv) or the process's)


def command_line() -> str:
    """The command as it was given ("fastmm search 2 2 2 --rank 7"), quoted for a shell: what a
    written scheme's provenance records so that it can be run again."""
    import shlex

    return "fastmm " + shlex.join(_ARGS) if _ARGS else "fastmm"


def _register() -> None:
    # Each module adds its commands to `cli`; imports here are cheap (no torch, no sympy).
    import importlib

    for name in ("schemes", "search", "combine", "export", "bench", "nn", "count", "catalog", "site",
                 "finish", "lift"):
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
    _closed_streams_to_devnull()
    ascii_fallback(sys.stdout)
    ascii_fallback(sys.stderr)
    install_warning_format()
    try:
        rc = _invoke(argv)
    except click.exceptions.Abort:
        _exit("interrupted", 130, argv)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `fastmm`: the help, as it is
        try:
            click.echo(exc.format_message(), err=True)
        except (OSError, ValueError):
            pass
        _exit(None, exc.exit_code, argv)
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _exit(f"error: {exc.format_message()}{hint}", exc.exit_code, argv)
    except click.ClickException as exc:
        _exit(f"error: {exc.format_message()}", exc.exit_code, argv)
    except FastmmError as exc:
        _exit(f"error: {exc}", exc.exit_code, argv)
    except KeyboardInterrupt:
        _exit("interrupted", 130, argv)
    except EOFError:
        _exit("error: unexpected end of input", 1, argv)
    except BrokenPipeError:  # `fastmm show X | head`: the reader left, as `git log | head` does
        _reader_left(argv)
    except MemoryError:
        _exit("error: out of memory", 1, argv)
    except OSError as exc:  # the system refused (I/O error, permissions, a full disk): not a bug
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        # a name longer than the file system allows is the user's to change, as check_output_path
        # says for every --out it checks: bad input
        code = 2 if exc.errno == errno.ENAMETOOLONG else 1
        _exit(f"error: {where}{exc.strerror or exc}", code, argv)
    except Exception as exc:  # a bug: one line for users, the traceback on request
        if os.environ.get("FASTMM_DEBUG"):
            raise
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        extra = _OPTIONAL.get((missing or "").split(".")[0])
        if extra is not None:
            _exit(f"error: this command needs {missing}: {extra}", 1, argv)
        _exit(f"internal error: {type(exc).__name__}: {exc} "
              "(please report it; FASTMM_DEBUG=1 shows the traceback)", 1, argv)
    _exit(None, rc if isinstance(rc, int) else 0, argv)


def _closed_streams_to_devnull() -> None:
    """`fastmm ... >&-` or `2>&-`: a closed descriptor discards its output instead of turning the
    first message into an error of its own (and the exit code with it). A result meant for stdout
    (export, import, combine -o -) is refused instead (terminal.echo_result): it would be lost."""
    import fcntl

    from fastmm.cli.terminal import DISCARDED

    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is None:  # closed before Python started: it sets the stream to None
            # devnull takes the free descriptor itself, so no file opened later can land on it
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
            DISCARDED.add(name)
            continue
        try:
            if stream.fileno() != fd:
                continue
        except (OSError, ValueError, AttributeError):  # not a real file (captured output): leave it
            continue
        try:
            usable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
        except OSError:
            usable = False
        if not usable:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
            DISCARDED.add(name)


def _invoke(argv: list[str] | None):
    """click's Command.main without its own handling of Ctrl-C (which prints an empty line before
    any message of ours): parse, run, and return the command's result or exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    _ARGS[:] = args
    completion = getattr(cli, "_main_shell_completion", None)
    if completion is not None:  # `_FASTMM_COMPLETE=bash_source fastmm` keeps working
        completion({}, "fastmm", None)
    try:
        with cli.make_context("fastmm", args) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        return exc.exit_code


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
SIGNAL_EXITS = (129, 130, 143)  # 128 + SIGHUP, SIGINT, SIGTERM: a stop request ended the command


def _reader_left(argv: list[str] | None) -> None:
    """stdout's reader is gone (`| head`): stop quietly with the shell's SIGPIPE status. Files the
    command wrote are complete already (they are written before anything is printed)."""
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit flush cannot fail again
    except OSError:
        pass
    _exit(None, SIGPIPE_EXIT, argv)


def _exit(message: str | None, code: int, argv: list[str] | None) -> None:
    """Print one line on stderr and exit. In the real process (argv None) a Ctrl-C after this
    point is ignored, so interpreter shutdown cannot print a traceback."""
    if message is not None:
        try:
            click.echo(one_line(message), err=True)
        except (OSError, ValueError):
            pass
    if argv is None:
        import signal

        if code != SIGPIPE_EXIT:
            try:
                sys.stdout.flush()  # here, not at shutdown: a reader that left is handled above
            except BrokenPipeError:
                _reader_left(argv)
            except (OSError, ValueError):
                pass

        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread
            pass
        # OpenBLAS's exit handler (gotoblas_quit) can wait forever for its worker thread after a
        # signal or an abandoned factorisation (seen: `finish` interrupted during its SVD hung at
        # exit). The command's own cleanup has run; a process a signal ended skips the C exit
        # handlers, as one the signal killed would.
        exactify = sys.modules.get("fastmm.search.exactify")
        if code in SIGNAL_EXITS or exactify is not None and exactify.ABANDONED:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)
    sys.exit(code)
