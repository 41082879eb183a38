"""Generated code (C with its runtime, NumPy, PyTorch) is plain ASCII: compilers and editors on
any code page read it, whatever the scheme (a Q scheme with halves included). NumPy and PyTorch
code is refused for coefficients past 2^63, which their integer scalars cannot hold."""

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


def _with_cancelling_pair(k: int) -> fastmm.Scheme:
    """The naive ⟨2,2,2⟩ plus k·a11·b11 and −k·a11·b11 into C11: valid over Z for any k."""
    import numpy as np

    from fastmm.scheme import naive_scheme

    s = naive_scheme(2, 2, 2)
    wa = np.vstack([np.array(s.Wa, dtype=object), [[k, 0, 0, 0], [k, 0, 0, 0]]])
    wb = np.vstack([np.array(s.Wb, dtype=object), [[1, 0, 0, 0], [-1, 0, 0, 0]]])
    wc = np.hstack([np.array(s.Wc, dtype=object), [[1, 1], [0, 0], [0, 0], [0, 0]]])
    return fastmm.verified(fastmm.Scheme(2, 2, 2, wa, wb, wc), sympy=False)


@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_code_for_coefficients_past_what_scalars_hold_is_refused(to):
    with pytest.raises(fastmm.InputError, match="refusing to generate code"):
        fastmm.export(_with_cancelling_pair(2**63), to=to)


@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_code_for_large_coefficients_below_the_limit_is_written(to):
    assert "4611686018427387904" in fastmm.export(_with_cancelling_pair(2**62), to=to)
