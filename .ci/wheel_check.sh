#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment outside the checkout and use it
# from there: the catalogue (package data) must show the same statuses as the checkout's, and a
# search and an export must work. Dependencies come from the environment CI already installed
# (--system-site-packages); fastmm itself must come from the wheel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip wheel -q --no-deps --no-build-isolation -w "$tmp/dist" "$root" >/dev/null
python3 -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --no-deps --no-index "$tmp"/dist/fastmm-*.whl
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import sys, fastmm
assert fastmm.__file__.startswith(sys.prefix), f"fastmm imported from {fastmm.__file__}, not the wheel"
PY
"$tmp/venv/bin/fastmm" catalog --json > wheel.json
(cd "$root" && python3 -m fastmm catalog --json) > checkout.json
python3 - <<'PY'
import json
a, b = (json.load(open(f))["rows"] for f in ("wheel.json", "checkout.json"))
sa = [(r["shape"], r["status"], r["catalog_rank"]) for r in a]
sb = [(r["shape"], r["status"], r["catalog_rank"]) for r in b]
assert sa == sb, "the wheel's catalogue differs from the checkout's"
assert all(r["status"] != "missing" for r in a), "the wheel's catalogue is empty"
print(f"wheel: catalogue of {len(a)} shapes as in the checkout")
PY
"$tmp/venv/bin/fastmm" search 2 2 2 --rank 7 -q -o s.json >/dev/null
"$tmp/venv/bin/fastmm" export s.json --to c -o s.c 2>/dev/null
grep -q "fastmm_matmul" s.c
# the C walks' sources ship in the wheel: a ternary search compiles and uses its C walk there
FASTMM_CACHE="$tmp/cache" "$tmp/venv/bin/fastmm" search 2 2 3 --rank 11 --method ternary -q -o t.json >/dev/null
if command -v cc >/dev/null || command -v gcc >/dev/null; then
    python3 -c "import json; assert json.load(open('t.json'))['provenance']['backend'] == 'c'"
fi
echo "wheel: catalog, search and export work from a fresh virtual environment"
