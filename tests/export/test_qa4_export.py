"""QA round 4: the generated C runs a level's block products as one loop over a table (one call
per product made gcc quadratic)."""

from __future__ import annotations

from fastmm.export.c import emit_scheme_c
from fastmm.reference import strassen
from fastmm.scheme import naive_scheme


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
