"""The site's equivalences: one comparison per class, the same verdicts as comparing every pair."""

from __future__ import annotations

import numpy as np

from fastmm.equivalence import equivalent, random_transform
from fastmm.reference import strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.site import facts
from fastmm.site.sources import SiteScheme


def _split_first_term(s: Scheme) -> Scheme:
    """Strassen at rank 8: M1's output split in two (a scheme inequivalent to the naive one)."""
    wa, wb, wc = (np.asarray(x, dtype=np.int64) for x in (s.Wa, s.Wb, s.Wc))
    c = wc[:, 0].copy()
    first = np.zeros_like(c)
    first[np.nonzero(c)[0][0]] = c[np.nonzero(c)[0][0]]
    wc = np.concatenate([wc, (c - first)[:, None]], axis=1)
    wc[:, 0] = first
    return Scheme(2, 2, 2, np.vstack([wa, wa[:1]]), np.vstack([wb, wb[:1]]), wc, ring="ZT")


def test_equivalences_agree_with_every_pair_compared_and_compare_once_per_class(monkeypatch):
    rng = np.random.default_rng(1)
    split = _split_first_term(strassen())
    naive = naive_scheme(2, 2, 2).with_meta(ring="ZT")
    schemes = [naive, split, random_transform(split, rng), random_transform(naive, rng),
               random_transform(split, rng), naive]
    items = [SiteScheme(f"s{i}", s, "file", f"s{i}.json", "exact") for i, s in enumerate(schemes)]
    calls = []
    real = equivalent

    def counted(a, b, **kw):
        calls.append(1)
        return real(a, b, **kw)

    monkeypatch.setattr("fastmm.equivalence.equivalent", counted)
    got = facts.equivalences(items)
    on_site = {(a, e.other): e.status for a, es in got.items() for e in es if e.on_site}
    for i, a in enumerate(schemes):
        for j, b in enumerate(schemes):
            if i != j:
                assert on_site[(f"s{i}", f"s{j}")] == real(a, b).status
    # two classes: s1 against s0; s2 against s0, s1; s3 against s0, s1; s4 and s5 likewise
    site_calls = len(calls) - sum(1 for es in got.values() for e in es if not e.on_site)
    assert site_calls == 1 + 2 + 2 + 2 + 2 < 15
