"""Hypothesis strategies for hostile numbers, scheme files and foreign files."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from fastmm.io import dumps
from fastmm.reference import strassen

STRASSEN = json.loads(dumps(strassen()))

# numbers as a hostile user writes them: huge, tiny, non-finite, long exponents, odd text
number_text = st.one_of(
    st.from_regex(r"\A[+-]?\d{1,80}(\.\d{0,40})?([eE][+-]?\d{1,12})?\Z", fullmatch=True),
    st.from_regex(r"\A[+-]?\d{1,70}/\d{1,70}\Z", fullmatch=True),
    st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e999999999", "1e-999999999", "1/0", "0/0",
                     "--1", "1e", ".", "", " ", "1_000", "0x10", "١", "1/2/3", "9" * 5000,
                     "4611686018427387904", "-4611686018427387903", "1/4611686018427387904"]),
    st.text(max_size=20),
)
json_scalar = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**31, 2**31 - 1, -(2**31), 2**62 - 1, 2**62, 2**63, 2**64 - 1, 10**40]),
    st.floats(allow_nan=False, allow_infinity=False),
    number_text,
)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
raw_json_number = st.one_of(  # literal JSON text that json.dumps would never write
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999999999", "1E-999999999", "9" * 5000,
                     "-0", "1.0", "1.5", "1e18", "1e19", "4611686018427387904.0"]),
    st.from_regex(r"\A-?[1-9]\d{0,60}(\.\d{1,30})?([eE][+-]?\d{1,10})?\Z", fullmatch=True),
)


@st.composite
def hostile_scheme_text(draw) -> str:
    """Strassen's scheme file with one hostile change."""
    d = json.loads(json.dumps(STRASSEN))
    kind = draw(st.sampled_from(["coef", "raw", "field", "rows", "nest", "truncate", "bytes"]))
    if kind == "coef":
        key = draw(st.sampled_from(["Wa", "Wb", "Wc"]))
        i = draw(st.integers(0, len(d[key]) - 1))
        j = draw(st.integers(0, len(d[key][i]) - 1))
        d[key][i][j] = draw(json_value)
        return json.dumps(d)
    if kind == "raw":
        text = json.dumps(d)
        return text.replace('"Wa": [[1', '"Wa": [[' + draw(raw_json_number), 1)
    if kind == "field":
        field = draw(st.sampled_from(["shape", "rank", "ring", "format", "version", "provenance",
                                      "verified", "Wa", "Wb", "Wc"]))
        if draw(st.booleans()):
            d.pop(field)
        else:
            d[field] = draw(json_value)
        return json.dumps(d)
    if kind == "rows":
        key = draw(st.sampled_from(["Wa", "Wb", "Wc"]))
        d[key] = draw(st.lists(st.lists(st.integers(-3, 3), max_size=9), max_size=60))
        return json.dumps(d)
    if kind == "nest":
        depth = draw(st.integers(1, 100_000))
        return '{"shape": ' + "[" * depth + "]" * depth + "}"
    text = json.dumps(d)
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    return draw(st.binary(max_size=300)).decode("latin-1")
