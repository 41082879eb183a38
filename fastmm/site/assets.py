"""The site's two static files: a style sheet and a small hand-written script.

The script only sorts and filters the index table (no framework, no network); every page
works without it.
"""

from __future__ import annotations

STYLE_CSS = """\
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --at: #1a7f37; --behind: #bc4c00;
        --missing: #cf222e; --accent: #0550ae; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; color: var(--fg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
h1 { font-size: 1.7rem; margin: .4rem 0 .8rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .6rem; border-bottom: 1px solid var(--line); }
a { color: var(--accent); }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
pre.formulas { background: #f6f8fa; border: 1px solid var(--line); padding: .8rem; overflow-x: auto;
               line-height: 1.45; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
nav.toc { margin: .8rem 0 0; color: var(--muted); }
.warning { background: #fff8c5; border: 1px solid #d4a72c; padding: .5rem .8rem; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: .9em; }
svg.plot { max-width: 100%; height: auto; font-size: 11px; }
svg .grid { stroke: #eaeef2; }
svg .tick { fill: var(--muted); }
svg .tick.x, svg .label.x { text-anchor: middle; }
svg .tick.y { text-anchor: end; }
svg .label { fill: var(--fg); font-size: 12px; text-anchor: middle; }
svg .naive { stroke: var(--muted); stroke-dasharray: 5 4; fill: none; }
svg .best { stroke: var(--accent); stroke-width: 1.5; fill: none; }
svg .pt.at { fill: var(--at); }
svg .pt.behind { fill: var(--behind); }
svg .pt.none { fill: var(--muted); }
svg .pt.z2 { fill: none; stroke-width: 1.5; pointer-events: all; }
svg .pt.z2.at { stroke: var(--at); }
svg .pt.z2.behind { stroke: var(--behind); }
svg .pt.z2.none { stroke: var(--muted); }
svg .legend { fill: var(--fg); }
form#filters { margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; align-items: center; }
form#filters[hidden] { display: none; }
#row-count { color: var(--muted); }
table.ranks { border-collapse: collapse; width: 100%; }
table.ranks caption { text-align: left; color: var(--muted); padding: .3rem 0; }
table.ranks th, table.ranks td { border-bottom: 1px solid var(--line); padding: .25rem .6rem;
                                 text-align: left; }
table.ranks th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0;
                        cursor: pointer; color: var(--fg); }
table.ranks th[aria-sort="ascending"] button::after { content: " ▲"; }
table.ranks th[aria-sort="descending"] button::after { content: " ▼"; }
table.ranks td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.ranks td.source { color: var(--muted); font-size: .9em; }
td.status.at { color: var(--at); }
td.status.behind { color: var(--behind); }
td.status.missing { color: var(--missing); }
ul.schemes { columns: 2 22rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .9em; }
"""

SITE_JS = """\
// fastmm site: sort and filter the index table. No framework, no network.
(function () {
  "use strict";
  var table = document.getElementById("ranks");
  var form = document.getElementById("filters");
  if (!table || !form) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var shapeBox = document.getElementById("shape-filter");
  var ringBox = document.getElementById("ring-filter");
  var behindBox = document.getElementById("behind-filter");
  var count = document.getElementById("row-count");

  function key(row, col) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent : Number(v);
  }

  function sortBy(col, th) {
    var descending = th.getAttribute("aria-sort") === "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var order = rows.map(function (row, i) { return [key(row, col), i, row]; });
    order.sort(function (a, b) {
      var c = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1];
      return descending && a[0] !== b[0] ? -c : c;
    });
    order.forEach(function (entry) { body.appendChild(entry[2]); });
  }

  function filter() {
    var words = shapeBox.value.toLowerCase().replace(/[\\u00d7*, ]+/g, "x").replace(/[^0-9x]/g, "");
    var ring = ringBox.value;
    var shown = 0;
    rows.forEach(function (row) {
      var ok = row.getAttribute("data-shape").indexOf(words) === 0 || words === "";
      ok = ok && (ring === "" || row.getAttribute("data-ring") === ring);
      ok = ok && (!behindBox.checked || row.getAttribute("data-status") === "behind" ||
                  row.getAttribute("data-status") === "missing");
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " rows";
  }

  // a link can preset the view: index.html#ring=Z2&shape=4x4&behind=1&sort=rank
  function fromHash() {
    var wanted = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var kv = pair.split("=");
      if (kv.length !== 2) { return; }
      try {  // a malformed escape (#shape=%E0) spoils its own pair, never the others
        wanted[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1]);
      } catch (e) {
        if (!(e instanceof URIError)) { throw e; }
      }
    });
    if (wanted.shape) { shapeBox.value = wanted.shape; }
    var ring = (wanted.ring || "").replace(/[^A-Z0-9]/g, "");
    if (ring && ringBox.querySelector("option[value='" + ring + "']")) { ringBox.value = ring; }
    behindBox.checked = wanted.behind === "1";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (wanted.sort && th.textContent.trim() === wanted.sort) {
        sortBy(col, th);
        if (wanted.order === "descending") { sortBy(col, th); }
      }
    });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.querySelector("button").addEventListener("click", function () { sortBy(col, th); });
  });
  [shapeBox, ringBox, behindBox].forEach(function (box) {
    box.addEventListener("input", filter);
    box.addEventListener("change", filter);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.hidden = false;
  fromHash();
  filter();
})();
"""
