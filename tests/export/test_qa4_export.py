"""QA round 4: ascii_only covers every line of every text format; the generated C runs a level's
block products as one loop over a table (one call per product made gcc quadratic)."""

from __future__ import annotations

import pytest

import fastmm
from fastmm.export.c import emit_scheme_c
from fastmm.reference import strassen
from fastmm.scheme import naive_scheme
from tests.export.schemes import rational_strassen

TEXT_FORMATS = ("text", "markdown", "latex", "slp")


def _z2() -> fastmm.Scheme:
    return strassen().with_meta(ring="Z2")


@pytest.mark.parametrize("to", TEXT_FORMATS)
@pytest.mark.parametrize("scheme", [rational_strassen, _z2], ids=["fractions", "z2"])
def test_ascii_only_text_formats_are_ascii(to, scheme):
    out = fastmm.export(scheme(), to=to, ascii_only=True)
    assert out.isascii(), [line for line in out.splitlines() if not line.isascii()]


def test_ascii_markdown_heading_and_ring_name():
    lines = fastmm.export(_z2(), to="markdown", ascii_only=True).splitlines()
    assert lines[0] == "### <2,2,2;7>"
    assert lines[2] == ("<2,2,2;7> scheme: A is 2x2, B is 2x2, 7 multiplications, ring Z2 "
                        "(GF(2) -- valid modulo 2 only).")


def test_markdown_without_ascii_only_keeps_its_brackets():
    assert fastmm.export(strassen(), to="markdown").splitlines()[0] == "### ⟨2,2,2;7⟩"


def test_latex_ascii_only_spells_the_z2_ring_name_with_dashes():
    first = fastmm.export(_z2(), to="latex", ascii_only=True).splitlines()[0]
    assert first.endswith("ring Z2 (GF(2) -- valid modulo 2 only)")


@pytest.mark.parametrize("to", TEXT_FORMATS)
def test_the_command_line_ascii_flag_gives_ascii(tmp_path, to):
    from fastmm.io import dumps
    from tests.hostile.contract import run_cli

    path = tmp_path / "q.json"
    path.write_text(dumps(rational_strassen()))
    r = run_cli("export", str(path), "--to", to, "--ascii")
    assert r.rc == 0, r.err
    assert r.out.isascii() and r.out == fastmm.export(rational_strassen(), to=to, ascii_only=True)


def test_the_block_products_are_one_loop_over_a_table():
    src = emit_scheme_c(naive_scheme(8, 8, 8), cse=False)
    assert src.count("fastmm_rec_d(") == 1 and src.count("fastmm_rec_s(") == 1
    assert "for (int64_t q = 0; q < 512; q++) {" in src


def test_the_product_table_names_blocks_and_stored_operands():
    src = emit_scheme_c(strassen(), cse=False)
    # Strassen: M3 = A11·(B12 − B22), M4 = A22·(B21 − B11): A blocks 0 and 3 directly
    table = next(line for line in src.splitlines() if "code_a[] =" in line)
    codes = [int(x) for x in table.split("{")[1].rstrip("};").split(",")]
    assert len(codes) == 7 and codes[2] == 0 and codes[3] == 3
    assert all(c >= 4 for i, c in enumerate(codes) if i not in (2, 3))  # sums: stored operands
