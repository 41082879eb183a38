"""Helpers the benchmark scripts share: the code a run measured, and reading another run's file."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def code_version() -> str:
    """`git describe` of the checkout (FASTMM_CODE where the tree travelled without .git)."""
    if os.environ.get("FASTMM_CODE"):
        return os.environ["FASTMM_CODE"]
    try:
        run = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True)
    except OSError:
        return "unknown"
    return run.stdout.strip() or "unknown"


def parse_options(pairs: list[str], flag: str = "--option") -> dict:
    """KEY=VALUE pairs; values are read as JSON where they parse (numbers, true/false)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} wants KEY=VALUE, not {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def read_merge(ap: argparse.ArgumentParser, path: str, key: str) -> dict:
    """Another run's results JSON holding a `key` mapping, or one line and exit 2."""
    try:
        data = json.loads(Path(path).read_text())
        data[key].items()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        ap.error(f"--merge {path}: not a results file of this benchmark ({type(exc).__name__})")
    return data


def emit_report(lines: list[str], out: str | None) -> None:
    """A Markdown report: written atomically to `out` (if given) and printed."""
    from fastmm.paths import write_atomic

    text = "\n".join(lines) + "\n"
    if out:
        write_atomic(Path(out), text)
    print(text)
