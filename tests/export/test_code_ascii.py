"""Generated code (C with its runtime, NumPy, PyTorch) is plain ASCII: compilers and editors on
any code page read it, whatever the scheme (a Q scheme with halves included)."""

from pathlib import Path

import pytest

import fastmm
from fastmm.catalog import load_catalog_scheme

RUNTIME = Path(fastmm.__file__).parent / "export" / "runtime"


@pytest.mark.parametrize("to", ["c", "numpy", "torch"])
@pytest.mark.parametrize("shape,ring", [((2, 2, 2), "ZT"), ((2, 4, 5), "Q")])
def test_generated_code_is_ascii(to, shape, ring):
    scheme = load_catalog_scheme(shape, ring, [])
    assert scheme is not None and scheme.ring == ring
    out = fastmm.export(scheme, to=to)
    assert out.isascii(), [line for line in out.splitlines() if not line.isascii()][:3]


@pytest.mark.parametrize("name", ["fastmm_runtime.c", "fastmm_runtime.h"])
def test_c_runtime_is_ascii(name):
    text = (RUNTIME / name).read_text(encoding="utf-8")
    assert text.isascii(), [line for line in text.splitlines() if not line.isascii()][:3]
