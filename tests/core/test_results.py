"""The schemes shipped in results/schemes were found by `fastmm search` and must verify exactly."""

from pathlib import Path

import pytest

from fastmm.io import load_scheme
from fastmm.verify import verify

SCHEMES = sorted((Path(__file__).resolve().parents[2] / "results" / "schemes").glob("*.json"))
REQUIRED = {(2, 2, 2, 7), (2, 2, 3, 11), (2, 3, 3, 15), (2, 3, 4, 20), (3, 3, 3, 23), (4, 4, 4, 47)}


def test_required_schemes_are_shipped():
    have = {(*load_scheme(p).shape, load_scheme(p).rank) for p in SCHEMES}
    assert REQUIRED <= have


@pytest.mark.parametrize("path", SCHEMES, ids=lambda p: p.name)
def test_shipped_scheme_verifies_and_records_its_command(path):
    s = load_scheme(path)
    v = verify(s)
    ring = path.stem.split("-")[2]  # NxMxP-rankR-RING[-method].json
    assert v.ok and v.ring == s.ring == ring
    # found by a search, or finished exactly from a search's fitted points (`fastmm finish`)
    assert s.provenance["command"].startswith(("fastmm search", "fastmm finish"))
    assert s.verified["ok"] is True
