"""site.js's view presets from the URL hash (index.html#ring=Z2&shape=4x4&behind=1&sort=rank):
a pair that cannot be decoded (a malformed percent escape) is ignored and the rest applied; it
threw "URIError: URI malformed" and applied nothing. Run under node with a stand-in for the page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from fastmm.site.assets import SITE_JS

NODE = shutil.which("node")

# the few parts of the DOM the script touches: the filter boxes, an empty table, the form
HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const src = fs.readFileSync(process.argv[2], "utf8");
function box() {
  return {value: "", checked: false, addEventListener() {},
          querySelector(sel) { return /^option\[value='(ZT|Z|Q|Z2)'\]$/.test(sel) ? {} : null; }};
}
const boxes = {"shape-filter": box(), "ring-filter": box(), "behind-filter": box(), "row-count": {}};
const table = {tBodies: [{rows: [], appendChild() {}}], tHead: {rows: [{cells: []}]}};
const form = {hidden: true, addEventListener() {}};
const document = {getElementById(id) { return {ranks: table, filters: form}[id] || boxes[id] || null; }};
vm.runInNewContext(src, {document: document, location: {hash: process.argv[3]}});
console.log(JSON.stringify({shape: boxes["shape-filter"].value, ring: boxes["ring-filter"].value,
                            behind: boxes["behind-filter"].checked, shown: !form.hidden}));
"""


def test_each_hash_pair_is_decoded_inside_its_own_try():
    """Without node: decodeURIComponent is only ever called inside a try block that catches."""
    body = SITE_JS[SITE_JS.index("function fromHash()"):]
    body = body[:body.index("\n  }\n")]
    assert body.count("decodeURIComponent(") == 2
    guarded = re.search(r"try \{[^{}]*decodeURIComponent\(kv\[0\]\)[^{}]*decodeURIComponent\(kv\[1\]\)"
                        r"[^{}]*\} catch \(e\) \{", body)
    assert guarded, body


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("fragment, shape, ring, behind", [
    ("#shape=%E0&ring=Z2", "", "Z2", False),  # QA's case
    ("#ring=Z2&shape=%E0%A4", "", "Z2", False),
    ("#%E0=1&shape=3x3&behind=1", "3x3", "", True),
    ("#shape=%ZZ&ring=Q&behind=1", "", "Q", True),
    ("#shape=4%C3%974&ring=ZT", "4×4", "ZT", False),  # a good escape is still decoded
])
def test_a_bad_pair_in_the_hash_is_ignored_and_the_rest_applied(tmp_path, fragment, shape, ring, behind):
    script = tmp_path / "site.js"
    script.write_text(SITE_JS, encoding="utf-8")
    (tmp_path / "harness.js").write_text(HARNESS, encoding="utf-8")
    run = subprocess.run([NODE, str(tmp_path / "harness.js"), str(script), fragment],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == {"shape": shape, "ring": ring, "behind": behind, "shown": True}
