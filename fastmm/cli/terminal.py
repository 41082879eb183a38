"""The terminal: output in any encoding, and Ctrl-C as one line at any moment.

`ascii_fallback(stream)` makes a text stream that cannot encode fastmm's symbols (⟨⟩, −, ·, ⊗,
×, ≤, →, …) write ASCII stand-ins instead of failing: <2,2,2;7>, -, *, (x), x, <=, ->; other
characters become their closest ASCII letters or "?". Streams that can encode them are left as
they are. `install_interrupt_hook()` turns a Ctrl-C that escapes everything (during the imports,
before `main` runs) into the line "interrupted" and exit 130 instead of a traceback.

Imports only the standard library: it runs before anything else of the command line.
"""

from __future__ import annotations

import codecs
import os
import sys
import unicodedata

ASCII = {
    "⟨": "<", "⟩": ">", "−": "-", "·": "*", "⊗": "(x)", "⊕": "(+)", "⊙": "(.)", "×": "x",
    "≤": "<=", "≥": ">=", "≠": "!=", "≈": "~", "—": "--", "–": "-", "→": "->", "←": "<-",
    "‖": "||", "…": "...", "Σ": "sum", "∈": " in ", "⊂": " subset ", "ᵀ": "^T", "²": "^2",
    "³": "^3", "√": "sqrt", "∞": "inf", "±": "+-", "“": '"', "”": '"', "‘": "'", "’": "'",
    "•": "*", "✓": "ok", "✗": "x", "├": "|", "└": "`", "─": "-", "│": "|", "°": " deg",
}
SAMPLE = "⟨⟩−·⊗×≤→—"
_HANDLER = "fastmm-ascii"
DISCARDED: set[str] = set()  # "stdout" / "stderr": closed when fastmm started, now /dev/null


def echo_result(text: str, nl: bool = True, hint: str = "give -o FILE") -> None:
    """Print a command's result (a scheme, code, a listing) on stdout; an OutputError (exit 1)
    when stdout was closed (`>&-`), where status lines are dropped quietly but a result would be
    lost."""
    import click

    require_stdout(hint)
    click.echo(text, nl=nl)


def require_stdout(hint: str) -> None:
    """An OutputError (exit 1) when stdout was closed at start: a command whose result is what
    it prints says so before it works."""
    if "stdout" in DISCARDED:
        from fastmm.paths import OutputError

        raise OutputError(f"standard output is closed: nothing was written ({hint})")


def to_ascii(ch: str) -> str:
    """An ASCII stand-in for one character."""
    if ch in ASCII:
        return ASCII[ch]
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
    return plain or "?"


def _handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(to_ascii(c) for c in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(_HANDLER, _handler)


def _codec(name: str) -> codecs.CodecInfo | None:
    # ASCII under another name: click replaces a stream whose encoding is "ascii" by a UTF-8
    # one (it takes that for a misconfigured locale), which would print bytes an ASCII
    # terminal cannot show
    if name != "fastmm_ascii":
        return None
    a = codecs.lookup("ascii")
    return codecs.CodecInfo(a.encode, a.decode, a.streamreader, a.streamwriter,
                            a.incrementalencoder, a.incrementaldecoder, name="fastmm-ascii")


codecs.register(_codec)


def can_encode(encoding: str | None, text: str = SAMPLE) -> bool:
    try:
        text.encode(encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def ascii_fallback(stream) -> None:
    """Let `stream` print fastmm's symbols as ASCII when its encoding cannot hold them."""
    if stream is None or can_encode(getattr(stream, "encoding", None)):
        return
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None:
        return
    try:
        stream.flush()
        if codecs.lookup(stream.encoding).name == "ascii":
            reconfigure(encoding="fastmm-ascii", errors=_HANDLER)
        else:
            reconfigure(errors=_HANDLER)
    except (OSError, ValueError, LookupError, TypeError):
        pass


def printable(text: str) -> str:
    """Text with control characters and line separators escaped (a file name holding a newline
    or an escape sequence must not break a message into lines or drive the terminal)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def file_name(name: str | os.PathLike, stream=None) -> str:
    """A file name as `stream` can show it: control characters escaped (`printable`), and the
    characters the stream cannot encode escaped too (\\xfc, \\u2603) instead of replaced by
    look-alikes (`ascii_fallback`), so the name shown is the name of the file."""
    text = printable(os.fsdecode(name) if isinstance(name, (bytes, os.PathLike)) else str(name))
    encoding = getattr(stream, "encoding", None)
    if encoding is None or can_encode(encoding, text):
        return text
    return "".join(c if can_encode(encoding, c) else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def one_line(message: str) -> str:
    """A message as one line (an error must never spill over several)."""
    lines = (line.replace("\t", " ").strip() for line in str(message).splitlines())
    return printable(" ".join(line for line in lines if line))


def install_interrupt_hook() -> None:
    """An uncaught KeyboardInterrupt prints 'interrupted' and exits 130, without a traceback."""
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            try:
                sys.stderr.write("interrupted\n")
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            os._exit(130)
        previous(kind, value, tb)

    sys.excepthook = hook


def install_warning_format() -> None:
    """Python warnings (the catalogue's skipped entries, a library's notes) as one line each,
    `warning: ...` with control characters escaped, and each message once per process (the same
    warning raised from several places, or by every restart, is printed once)."""
    import warnings

    seen: set[tuple[str, str]] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        key = (category.__name__, str(message))
        if key in seen:
            return
        seen.add(key)
        try:
            (file or sys.stderr).write(f"warning: {printable(str(message))}\n")
        except (OSError, ValueError, AttributeError):
            pass

    warnings.showwarning = show


def ring_text(ring: str) -> str:
    """The ring and what its check was; Z2 said as `fastmm show` says it (README: a Z2 scheme is
    shown as valid modulo 2 only wherever it is shown)."""
    from fastmm.scheme import RING_NAMES

    if ring == "Z2":
        return f"ring Z2: {RING_NAMES['Z2']}, verified modulo 2"
    return f"ring {ring}, verified"
