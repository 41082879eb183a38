"""Any terminal encoding, and Ctrl-C at any moment: one line, exit 130, never a traceback."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest

from fastmm.cli.terminal import ascii_fallback, one_line
from fastmm.io import dumps
from fastmm.reference import strassen


def test_symbols_fall_back_to_ascii_on_a_latin1_stream():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="latin-1")
    ascii_fallback(stream)
    stream.write("⟨2,2,2;7⟩: M1 = (A11 − A22)·B ⊗ x ≤ y → z\n")
    stream.flush()
    assert raw.getvalue().decode("latin-1") == "<2,2,2;7>: M1 = (A11 - A22)·B (x) x <= y -> z\n"


def test_a_utf8_stream_is_left_alone():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    ascii_fallback(stream)
    assert stream.errors == "strict"


def test_messages_are_one_line_whatever_the_file_name():
    assert one_line("error: a\nb\x1b[31m\u2028c") == "error: a b\\x1b[31m c"
    # click lists choices on tab-indented lines: they read as a plain list, not as "\t"
    assert one_line("Choose from:\n\talpha,\n\tbeta") == "Choose from: alpha, beta"


def test_bare_fastmm_prints_the_help_and_exits_2(capsys):
    from fastmm.cli import main

    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: fastmm") and "Commands:" in err and "error:" not in err


def _sigint_as_in_a_terminal() -> None:
    """Children of a shell's background job start with SIGINT ignored (and Python then installs
    no handler); a user's Ctrl-C reaches a foreground process with the default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(**extra) -> dict:
    env = dict(os.environ, **extra)
    env.pop("FASTMM_DEBUG", None)
    return env


@pytest.mark.parametrize("encoding", ["latin-1", "ascii", "cp1252"])
def test_commands_work_in_any_terminal_encoding(tmp_path, encoding):
    f = tmp_path / "s.json"
    f.write_text(dumps(strassen()))
    bad = tmp_path / "bad.json"
    bad.write_text('{"shape": [2, 2, 2], "Wa": "x"}')
    script = ("import sys; from fastmm.cli import main\n"
              "for args in (['verify', sys.argv[1]], ['show', sys.argv[1]], ['verify', sys.argv[2]]):\n"
              "    try:\n        main(args)\n    except SystemExit as e:\n"
              "        print('rc', e.code, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", script, str(f), str(bad)], capture_output=True,
                       env=_env(PYTHONIOENCODING=encoding), timeout=120)
    err = r.stderr.decode(encoding, "replace")
    assert r.returncode == 0 and "Traceback" not in err and "internal error" not in err, err
    assert err.count("rc 0") == 2 and "rc 2" in err
    out = r.stdout.decode(encoding)
    assert "2,2,2;7" in out and "additions" in out


def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path):
    """SIGINT at several moments: while the command line's modules are imported, while the
    scheme is read, while it is verified and shown. (Python's own start-up, before any of
    fastmm runs, is over before the timer starts.)"""
    from fastmm.reference import strassen as s2

    s = s2().kron(s2()).kron(s2())  # <8,8,8;343>: show takes a few seconds
    f = tmp_path / "s343.json"
    f.write_text(dumps(s))
    seen = []
    for delay in (0.0, 0.02, 0.1, 0.3, 0.8):
        # the hook is installed first, as the command line's first module does
        script = ("import os, signal, sys, threading, runpy\n"
                  "from fastmm.cli.terminal import install_interrupt_hook\n"
                  "install_interrupt_hook()\n"
                  f"threading.Timer({delay}, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
                  f"sys.argv = ['fastmm', 'show', {str(f)!r}]\n"
                  "runpy.run_module('fastmm', run_name='__main__')\n")
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=_env(), timeout=120, preexec_fn=_sigint_as_in_a_terminal)
        if r.returncode == 0:  # finished before the signal
            continue
        seen.append(delay)
        assert r.returncode == 130, (delay, r.stderr)
        assert r.stderr == "interrupted\n", (delay, r.stderr)
    assert seen, "no run was interrupted"


def test_ctrl_c_of_the_console_script_process(tmp_path):
    """The real process: SIGINT once fastmm runs ends with 'interrupted' and exit 130."""
    from fastmm.reference import strassen as s2

    f = tmp_path / "s343.json"
    f.write_text(dumps(s2().kron(s2()).kron(s2())))
    p = subprocess.Popen([sys.executable, "-m", "fastmm", "show", str(f)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(),
                         preexec_fn=_sigint_as_in_a_terminal)
    first = p.stdout.readline()  # the first line is printed: fastmm is running
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert first.startswith(str(f))
    if p.returncode != 0:
        assert p.returncode == 130 and err == "interrupted\n", err


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_leaves_early_ends_the_command_quietly(monkeypatch, capsys):
    """`fastmm catalog | head -1`: exit 141 (the shell's SIGPIPE status) and nothing on stderr."""
    from fastmm.cli import main

    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    with pytest.raises(SystemExit) as stop:
        main(["catalog"])
    assert stop.value.code == 141
    assert capsys.readouterr().err == ""


def test_search_writes_its_file_before_printing(tmp_path):
    """Whatever happens to stdout after, `search --out` has written a complete, valid file."""
    out = tmp_path / "s.json"
    p = subprocess.Popen([sys.executable, "-m", "fastmm", "search", "2", "2", "3", "--rank", "11",
                          "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=60) in (0, 141) and p.stderr.read() == b""
    r = subprocess.run([sys.executable, "-m", "fastmm", "verify", str(out)], capture_output=True,
                       env=_env())
    assert r.returncode == 0


def test_a_reader_that_leaves_does_not_cut_a_distinct_search_short(monkeypatch, capsys, tmp_path):
    """`search --distinct 3 -o D.json | head -1`: every file is written, then exit 141 (helper-89:
    the first broken write ended the command after one or two of the three)."""
    from fastmm.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    with pytest.raises(SystemExit) as stop:
        main(["search", "2", "2", "3", "--rank", "11", "--distinct", "3", "--time-limit", "60", "--no-sympy",
              "-o", "D.json"])
    assert stop.value.code == 141 and capsys.readouterr().err == ""
    assert sorted(x.name for x in tmp_path.iterdir()) == ["D-2.json", "D-3.json", "D.json"]


def _run_with_closed(fd: int, args: list[str]) -> subprocess.CompletedProcess:
    """Run `python -m fastmm ARGS` with descriptor `fd` closed, as `fastmm ... >&-` does."""
    def close() -> None:
        os.close(fd)

    other = subprocess.PIPE
    return subprocess.run([sys.executable, "-m", "fastmm", *args], preexec_fn=close, env=_env(),
                          stdout=other if fd != 1 else None, stderr=other if fd != 2 else None,
                          timeout=120)


@pytest.mark.parametrize("fd", [1, 2])
def test_a_closed_stream_at_start_discards_output(tmp_path, fd):
    """`fastmm verify s.json >&-`: Python starts with sys.stdout None; exit 0, no traceback, and
    a file written after start-up never lands on the free descriptor."""
    scheme = tmp_path / "s.json"
    scheme.write_text(dumps(strassen()))
    r = _run_with_closed(fd, ["verify", str(scheme)])
    assert r.returncode == 0
    assert (r.stderr if fd == 1 else r.stdout).decode().count("valid over ZT") == (1 if fd == 2 else 0)
    if fd == 1:
        assert r.stderr == b""
    out = tmp_path / "found.json"
    r = _run_with_closed(fd, ["search", "2", "2", "2", "--rank", "7", "--no-sympy", "--out", str(out)])
    assert r.returncode == 0
    assert b"Traceback" not in (r.stderr or b"") + (r.stdout or b"")
    assert subprocess.run([sys.executable, "-m", "fastmm", "verify", str(out)], capture_output=True,
                          env=_env()).returncode == 0


@pytest.mark.parametrize("args", [["export", "{s}", "--to", "perminov"], ["export", "{s}", "--to", "text"],
                                  ["combine", "permute", "{s}", "--shape", "2,2,2", "-o", "-"],
                                  ["catalog", "--json"], ["catalog"]])
def test_a_result_for_a_closed_stdout_is_an_error_not_lost_in_silence(tmp_path, args):
    """`fastmm export s.json --to perminov >&-` printed nothing and exited 0: the result was lost."""
    scheme = tmp_path / "s.json"
    scheme.write_text(dumps(strassen()))
    r = _run_with_closed(1, [a.format(s=scheme) for a in args])
    assert r.returncode == 1
    hint = ("the listing is all this command writes: redirect it to a file" if args[0] == "catalog"
            else "give -o FILE")
    assert r.stderr.decode().strip() == f"error: standard output is closed: nothing was written ({hint})"


def test_a_closed_stdout_does_not_stop_a_result_written_to_a_file(tmp_path):
    scheme = tmp_path / "s.json"
    scheme.write_text(dumps(strassen()))
    r = _run_with_closed(1, ["export", str(scheme), "--to", "perminov", "-o", str(tmp_path / "p.txt")])
    assert r.returncode == 0 and (tmp_path / "p.txt").read_text().strip()
