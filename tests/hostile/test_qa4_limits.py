"""QA round 4: limits on what one input may cost (memory for long JSON strings, time for large
schemes held in memory), exit codes of combine, and messages of malformed arrays."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from fastmm.errors import SchemeFormatError
from fastmm.io import dumps
from fastmm.reference import strassen
from fastmm.validate import json_depth, load_json

# -- JSON nesting is measured in linear time and small memory ----------------------------------


def _strassen_with_note(note: str) -> str:
    d = json.loads(dumps(strassen()))
    d["provenance"]["note"] = note
    return json.dumps(d)


def test_one_long_string_costs_little_memory():
    # the backtracking regex that skipped strings took about 550 MiB for these 4 million characters
    text = _strassen_with_note("x" * 4_000_000)
    tracemalloc.start()
    try:
        loaded = load_json(text, "big.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(loaded["provenance"]["note"]) == 4_000_000
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_one_long_string_of_escapes_costs_little_memory():
    text = '{"note": "' + '\\"' * 2_000_000 + '"}'
    tracemalloc.start()
    try:
        depth = json_depth(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert depth == 1
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(("text", "depth"), [
    ('[1, [2, [3]]]', 3),
    ('{"a": "[[[[", "b": [{}]}', 3),  # brackets inside a string do not count
    ('["\\"[[[", [1]]', 2),  # an escaped quote does not end the string
    ('["x\\\\", [[1]]]', 3),  # a string that ends in a backslash (escaped) still ends
    ('["x\\\\\\"[[", 1]', 1),  # backslash, backslash, backslash, quote: the quote is escaped
    ('["⟨é\\u27e8", {"k⟩": [[]]}]', 4),  # multi-byte characters
    ('"[[["', 0),
    ('', 0),
    ('[]]][[', 1),
])
def test_json_depth_counts_brackets_outside_strings_only(text, depth):
    assert json_depth(text) == depth
    for chunk in (1, 2, 3, 5):  # the same where chunks split escapes, quotes and characters
        assert json_depth(text, chunk) == depth, chunk


def test_json_depth_across_chunks_matches_parsing():
    def depth_of(obj) -> int:
        if isinstance(obj, list):
            return 1 + max((depth_of(x) for x in obj), default=0)
        if isinstance(obj, dict):
            return 1 + max((depth_of(x) for x in obj.values()), default=0)
        return 0

    obj = {"s\\\"[": ["\\", "\"{", [["]]]\\\\", {"é⟨": [[[]]]}]], "\\\\\\\"[["]}
    for ensure_ascii in (True, False):
        text = json.dumps(obj, ensure_ascii=ensure_ascii)
        for chunk in (1, 2, 3, 4, 7, 1 << 20):
            assert json_depth(text, chunk) == depth_of(obj) == 8


def test_deep_nesting_is_still_refused_after_a_long_string():
    text = '["' + "x" * 3_000_000 + '", ' + "[" * 40 + "]" * 40 + "]"
    with pytest.raises(SchemeFormatError, match="nested 41 levels"):
        load_json(text, "deep.json")
