"""On a terminal the live status line must be gone before the closing messages are printed.

QA-109: click's writes bypass rich's live display, which went on drawing over them: the last
`error:` line was glued to the spinner's line and its "(saved to PATH)" tail was then erased by
the display's final clear on an 80-column terminal; a found scheme's header followed the spinner
on its line. The CLI runs here on a real pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")


def _on_a_terminal(tmp_path: Path, *args: str) -> bytes:
    """fastmm ARGS with stdout and stderr on a pty; everything it wrote."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=120) in (0, 1)
    return out


def test_the_closing_error_line_is_printed_after_the_status_is_cleared(tmp_path: Path) -> None:
    out = _on_a_terminal(tmp_path, "search", "3", "3", "4", "--rank", "26", "--time-limit", "2",
                         "--no-sympy", "--seed", "1", "--out", "f.json")
    assert b"\x1b[" in out  # the live status was drawn at all
    tail = out[out.rfind(b"\x1b[") :]  # what follows the last control sequence stays on screen
    text = re.sub(rb"^\x1b\[[0-9;?]*[A-Za-z]", b"", tail).decode()
    assert text.startswith("error: no ⟨3,3,4⟩ scheme of rank 26"), text
    assert "(saved to " in text and "3x3x4-rank" in text


def test_a_found_scheme_starts_its_own_line(tmp_path: Path) -> None:
    out = _on_a_terminal(tmp_path, "search", "2", "2", "2", "--rank", "7", "--no-sympy", "--seed", "1",
                         "--out", "s.json")
    header = "⟨2,2,2;7⟩ found by".encode()
    assert header in out
    assert re.search(rb"(\x1b\[2K|\n)" + re.escape(header), out), out[:400]
    assert (tmp_path / "s.json").exists()
