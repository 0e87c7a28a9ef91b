// The interactive HAM page (hamux_graph.html): draws the JSON in #hamux-data as SVG.
// Placement mirrors hamux_graph/_layout.py: grid columns from Python, empty columns dropped,
// layers stacked down from the layer line and synapses up, bands wrapped as a serpentine.
// Markup contract: every drawn layer, synapse and group is an element with data-node and
// data-kind ("layer" | "synapse" | "group"; a group also data-members), with a <text> label.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("hamux-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var Q = 6, GAP = 4, LINE = 14, COL_GAP = 14, ROW_GAP = 6, BAND_GAP = 26, MAX_STACK = 12;
  var nodes = new Map(), groups = new Map();
  data.nodes.forEach(function (n) { nodes.set(n.id, n); });
  data.groups.forEach(function (g) { groups.set(g.id, g); });
  var expanded = new Set(data.collapsed ? [] : data.groups.map(function (g) { return g.id; }));
  var view = { k: 1, x: 0, y: 0 };
  var placed = null;           // the last placement: {pos: Map, items: [...], box}
  var energyStep = null;

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var a in attrs) { e.setAttribute(a, attrs[a]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function html(tag, cls, parent, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  // ---- the page skeleton ------------------------------------------------------------------
  var bar = html("div", "", document.body); bar.id = "bar";
  html("span", "title", bar, data.title);
  var search = html("input", "", bar); search.id = "search"; search.type = "search";
  search.placeholder = "search a name"; search.setAttribute("aria-label", "search a node by name");
  var found = html("span", "found", bar);
  var bFit = html("button", "", bar, "fit"); bFit.id = "fit";
  var bExpand = html("button", "", bar, "expand all"); bExpand.id = "expand-all";
  var bCollapse = html("button", "", bar, "collapse all"); bCollapse.id = "collapse-all";
  var stats = html("span", "stats", bar);
  var svg = el("svg", { id: "view", role: "img", "aria-label": data.title }, document.body);
  var world = el("g", { id: "world" }, svg);
  var gFrames = el("g", { id: "frames" }, world);
  var gEdges = el("g", { id: "edges" }, world);
  var gSlots = el("g", { id: "slots" }, world);
  var gNodes = el("g", { id: "nodes" }, world);
  var card = html("div", "", document.body); card.id = "card"; card.hidden = true;
  var legend = html("div", "", document.body); legend.id = "legend";

  // ---- text widths ------------------------------------------------------------------------
  var ctx = document.createElement("canvas").getContext("2d");
  var widths = new Map();
  function textWidth(t, size) {
    var key = size + "|" + t;
    if (!widths.has(key)) {
      ctx.font = size + "px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
      widths.set(key, ctx.measureText(t).width);
    }
    return widths.get(key);
  }

  // ---- what is visible --------------------------------------------------------------------
  function rep(name) {
    var n = nodes.get(name);
    return n && n.group && !expanded.has(n.group) ? n.group : name;
  }
  function groupNode(id) {
    var g = groups.get(id), lead = nodes.get(g.layers[0]);
    return { id: id, kind: "group", col: lead.col, key: lead.key, color: lead.color, r: lead.r + 2,
      label: g.label, sub: lead.sub, members: g.members, card: g.card };
  }
  function visible() {
    var out = [], seen = new Set();
    data.nodes.forEach(function (n) {
      if (n.group && !expanded.has(n.group)) {
        if (!seen.has(n.group)) { seen.add(n.group); out.push(groupNode(n.group)); }
      } else {
        out.push(n);
      }
    });
    return out;
  }
  function lines(n) {
    var first = n.kind === "group" ? n.label : n.id;
    return n.sub ? [first, n.sub] : [first];
  }
  function footprint(n) {
    var ls = lines(n), w = 0;
    ls.forEach(function (t, i) { w = Math.max(w, textWidth(t, i ? 11 : 12)); });
    var h = ls.length * LINE;
    if (n.kind === "synapse") {
      var slots = n.slots > 1 ? 2 * (textWidth("00", 10) + GAP) : 0;
      return { w: Math.max(2 * Q + slots, w), up: true, above: Q + GAP + h, below: Q + (n.slots > 1 ? 12 : 0) };
    }
    var r = n.r + (n.kind === "group" ? 4 : 0);
    return { w: Math.max(2 * r, w), up: false, above: r, below: r + GAP + h };
  }
  function cmpKey(a, b) {
    for (var i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] !== b[i]) { return a[i] < b[i] ? -1 : 1; }
    }
    return a.length - b.length;
  }

  // ---- placement (mirrors _layout.place; y grows downwards here) ---------------------------
  function columns(items) {
    var byCol = new Map();
    items.forEach(function (it) {
      if (!byCol.has(it.col)) { byCol.set(it.col, []); }
      byCol.get(it.col).push(it);
    });
    var keys = Array.from(byCol.keys()).sort(function (a, b) { return a - b; }), cols = [];
    keys.forEach(function (c) {
      var its = byCol.get(c).sort(function (a, b) { return (a.f.up - b.f.up) || cmpKey(a.key, b.key); });
      var downs = its.filter(function (it) { return !it.f.up; }), ups = its.filter(function (it) { return it.f.up; });
      var n = Math.max(1, Math.ceil(downs.length / MAX_STACK), Math.ceil(ups.length / MAX_STACK));
      for (var k = 0; k < n; k++) {
        cols.push(downs.filter(function (_, i) { return i % n === k; }).concat(ups.filter(function (_, i) { return i % n === k; })));
      }
    });
    return cols;
  }
  function bandHeights(cols) {
    var ys = new Map(), layerTop = 0, synBelow = 0;
    cols.forEach(function (col) {
      col.forEach(function (it) {
        if (it.f.up) { synBelow = Math.max(synBelow, it.f.below); } else { layerTop = Math.max(layerTop, it.f.above); }
      });
    });
    var base = layerTop + ROW_GAP + synBelow, top = layerTop, bottom = 0;
    cols.forEach(function (col) {
      var prev = null;
      col.forEach(function (it) {
        if (it.f.up) { return; }
        var y = prev ? ys.get(prev.id) - prev.f.below - ROW_GAP - it.f.above : 0;
        ys.set(it.id, y); bottom = Math.min(bottom, y - it.f.below); prev = it;
      });
      prev = null;
      col.forEach(function (it) {
        if (!it.f.up) { return; }
        var y = prev ? ys.get(prev.id) + prev.f.above + ROW_GAP + it.f.below : base;
        ys.set(it.id, y); top = Math.max(top, y + it.f.above); prev = it;
      });
    });
    return { ys: ys, top: top, bottom: bottom };
  }
  function breaks(ws, hasLayers, target) {
    var bands = [], start = 0, acc = 0;
    for (var i = 0; i < ws.length; i++) {
      if (acc + ws[i] > target && i > start) {
        var cut = i;
        for (var j = i - 1; j > start; j--) {
          var tail = 0;
          for (var m = j + 1; m <= i; m++) { tail += ws[m]; }
          if (hasLayers[j] && tail < 0.35 * target) { cut = j + 1; break; }
        }
        bands.push([start, cut]);
        acc = 0;
        for (var t = cut; t < i; t++) { acc += ws[t]; }
        start = cut;
      }
      acc += ws[i];
    }
    bands.push([start, ws.length]);
    return bands;
  }
  function place(items, aspect) {
    var cols = columns(items);
    var ws = cols.map(function (col) { return Math.max.apply(null, col.map(function (it) { return it.f.w; })) + COL_GAP; });
    var hasLayers = cols.map(function (col) { return col.some(function (it) { return !it.f.up; }); });
    var one = bandHeights(cols), height = one.top - one.bottom + BAND_GAP;
    var total = ws.reduce(function (a, b) { return a + b; }, 0);
    var n = Math.max(1, Math.min(cols.length, Math.round(Math.sqrt(total / (aspect * height)))));
    var target = n === 1 ? total : total / n * 1.08 + Math.max.apply(null, ws);
    var bands = breaks(ws, hasLayers, target);
    var rows = bands.map(function (b) {
      var x = 0, xs = [];
      for (var i = b[0]; i < b[1]; i++) { xs.push(x + ws[i] / 2); x += ws[i]; }
      return { xs: xs, w: x };
    });
    var full = Math.max.apply(null, rows.map(function (r) { return r.w; }));
    var pos = new Map(), band = new Map(), y0 = 0, box = [Infinity, Infinity, -Infinity, -Infinity];
    bands.forEach(function (b, bi) {
      var bh = bandHeights(cols.slice(b[0], b[1])), shift = y0 + bh.top;
      for (var i = b[0]; i < b[1]; i++) {
        var x = rows[bi].xs[i - b[0]], cx = bi % 2 ? full - x : x;
        cols[i].forEach(function (it) {
          var y = shift - bh.ys.get(it.id);
          pos.set(it.id, [cx, y]);
          band.set(it.id, bi);
          box[0] = Math.min(box[0], cx - it.f.w / 2); box[2] = Math.max(box[2], cx + it.f.w / 2);
          box[1] = Math.min(box[1], y - it.f.above); box[3] = Math.max(box[3], y + it.f.below);
        });
      }
      y0 = shift - bh.bottom + BAND_GAP;
    });
    return { pos: pos, band: band, box: box, bands: bands.length };
  }

  // ---- energy colours -----------------------------------------------------------------------
  var VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function viridis(t) {
    t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    var i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return "rgb(" + [0, 1, 2].map(function (c) { return Math.round(a[c] + f * (b[c] - a[c])); }).join(",") + ")";
  }
  function energyOf(id) {
    var E = data.energy;
    if (!E) { return null; }
    if (E.mode === "snapshot") { return id in E.values ? E.values[id] : null; }
    var s = E.series[id];
    return s ? s[energyStep] : null;
  }
  var energyRange = null;
  function computeRange() {
    var E = data.energy, lo = Infinity, hi = -Infinity;
    if (!E) { return; }
    var ids = data.nodes.map(function (n) { return n.id; });
    ids.forEach(function (id) {
      var vals = E.mode === "snapshot" ? (id in E.values ? [E.values[id]] : []) : (E.series[id] || []);
      vals.forEach(function (v) { lo = Math.min(lo, v); hi = Math.max(hi, v); });
    });
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    energyRange = [lo, hi];
  }
  var colourByEnergy = !!data.energy;
  function fill(n) {
    if (colourByEnergy && data.energy && n.kind !== "group") {
      var v = energyOf(n.id);
      return v === null ? "#ddd" : viridis((v - energyRange[0]) / (energyRange[1] - energyRange[0]));
    }
    return n.color;
  }

  // ---- drawing ------------------------------------------------------------------------------
  function render() {
    var items = visible();
    items.forEach(function (n) { n.f = footprint(n); });
    var rect = svg.getBoundingClientRect();
    var aspect = Math.max(0.6, Math.min(4, (rect.width || 1200) / (rect.height || 800)));
    placed = place(items, aspect);
    placed.items = items;
    while (gFrames.firstChild) { gFrames.removeChild(gFrames.firstChild); }
    while (gEdges.firstChild) { gEdges.removeChild(gEdges.firstChild); }
    while (gSlots.firstChild) { gSlots.removeChild(gSlots.firstChild); }
    while (gNodes.firstChild) { gNodes.removeChild(gNodes.firstChild); }
    var pos = placed.pos, byId = new Map();
    items.forEach(function (n) { byId.set(n.id, n); });
    expanded.forEach(function (gid) { drawFrame(groups.get(gid), pos, byId); });
    drawEdges(pos, byId);
    items.forEach(function (n) { drawNode(n, pos.get(n.id)); });
    var nl = 0, ns = 0, ng = 0;
    items.forEach(function (n) { if (n.kind === "layer") { nl++; } else if (n.kind === "synapse") { ns++; } else { ng++; } });
    stats.textContent = counted(data.nodes.length, "node") + "; showing " + counted(nl, "layer") + ", " +
      counted(ns, "synapse") + ", " + counted(ng, "group");
    applySearch();
  }
  function counted(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }
  function radiusOf(n) { return n.kind === "synapse" ? Q : n.r + (n.kind === "group" ? 4 : 0); }
  function drawEdges(pos, byId) {
    var pairs = new Map();
    data.edges.forEach(function (e) {
      var s = rep(e.s), l = rep(e.l);
      if (s === l || !byId.has(s) || !byId.has(l)) { return; }
      var key = s + "\u0000" + l;
      if (!pairs.has(key)) { pairs.set(key, { s: s, l: l, slots: [] }); }
      pairs.get(key).slots.push(e.slot);
    });
    pairs.forEach(function (p) {
      var a = pos.get(p.s), b = pos.get(p.l), syn = byId.get(p.s);
      var dx = b[0] - a[0], dy = b[1] - a[1], k = p.slots.length;
      p.slots.forEach(function (slot, i) {
        var rad = k === 1 ? 0 : -0.3 + 0.6 * i / (k - 1);
        var cx = (a[0] + b[0]) / 2 - rad * dy, cy = (a[1] + b[1]) / 2 + rad * dx;
        var cls = "edge" + (syn.shared ? " shared" : "");
        el("path", { class: cls, d: "M" + a[0].toFixed(1) + " " + a[1].toFixed(1) + " Q" + cx.toFixed(1) + " " +
          cy.toFixed(1) + " " + b[0].toFixed(1) + " " + b[1].toFixed(1), "data-edge": p.s + ":" + slot }, gEdges);
        if (syn.slots > 1) {
          var tx = cx - a[0], ty = cy - a[1], tl = Math.hypot(tx, ty) || 1;
          tx /= tl; ty /= tl;
          var d = Q + 9, sx = a[0] + tx * d - ty * 6, sy = a[1] + ty * d + tx * 6;
          el("text", { class: "slot", x: sx.toFixed(1), y: sy.toFixed(1) }, gSlots).textContent = String(slot);
        }
      });
    });
  }
  function drawNode(n, p) {
    var attrs = { class: "node " + n.kind + (n.shared ? " shared" : ""), "data-node": n.id, "data-kind": n.kind,
      transform: "translate(" + p[0].toFixed(1) + "," + p[1].toFixed(1) + ")" };
    if (n.kind === "group") { attrs["data-members"] = String(n.members); attrs.tabindex = "0"; }
    var g = el("g", attrs, gNodes), ls = lines(n), r = radiusOf(n);
    if (n.kind === "synapse") {
      el("rect", { x: -Q, y: -Q, width: 2 * Q, height: 2 * Q, fill: fill(n) }, g);
      ls.forEach(function (t, i) {
        el("text", { class: i ? "sub" : "name", y: (-Q - GAP - (ls.length - 1 - i) * LINE - 3).toFixed(1) }, g).textContent = t;
      });
      return;
    }
    if (n.kind === "group") { el("circle", { class: "ring", r: r }, g); }
    el("circle", { class: n.kind === "group" ? "disc" : "", r: n.r, fill: fill(n) }, g);
    ls.forEach(function (t, i) {
      el("text", { class: i ? "sub" : "name", y: (r + GAP + 11 + i * LINE).toFixed(1) }, g).textContent = t;
    });
  }
  function drawFrame(grp, pos, byId) {  // one framed box per band the group's members lie in
    var boxes = new Map();
    grp.layers.concat(grp.synapses).forEach(function (m) {
      var p = pos.get(m), n = byId.get(m);
      if (!p || !n) { return; }
      var b = placed.band.get(m);
      if (!boxes.has(b)) { boxes.set(b, [Infinity, Infinity, -Infinity, -Infinity]); }
      var box = boxes.get(b);
      box[0] = Math.min(box[0], p[0] - n.f.w / 2); box[2] = Math.max(box[2], p[0] + n.f.w / 2);
      box[1] = Math.min(box[1], p[1] - n.f.above); box[3] = Math.max(box[3], p[1] + n.f.below);
    });
    var g = el("g", { class: "frame", "data-group": grp.id }, gFrames), first = true;
    Array.from(boxes.keys()).sort(function (a, b) { return a - b; }).forEach(function (b) {
      var box = boxes.get(b);
      el("rect", { x: box[0] - 6, y: box[1] - 20, width: box[2] - box[0] + 12, height: box[3] - box[1] + 26, rx: 6 }, g);
      if (first) {
        el("text", { x: box[0] - 2, y: box[1] - 7 }, g).textContent = "\u25be " + grp.label + " (click to collapse)";
        first = false;
      }
    });
  }

  // ---- view: fit, pan, zoom -----------------------------------------------------------------
  function apply() { world.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }
  function fit() {
    var rect = svg.getBoundingClientRect(), b = placed.box;
    var bw = Math.max(1, b[2] - b[0] + 40), bh = Math.max(1, b[3] - b[1] + 40);
    view.k = Math.min(2, Math.max(0.02, Math.min(rect.width / bw, rect.height / bh)));
    view.x = rect.width / 2 - view.k * (b[0] + b[2]) / 2;
    view.y = rect.height / 2 - view.k * (b[1] + b[3]) / 2;
    apply();
  }
  function toScreen(p) { return [view.x + view.k * p[0], view.y + view.k * p[1]]; }
  function keepAt(id, screen) {  // move the view so that node ``id`` sits at ``screen``
    var p = placed.pos.get(id);
    if (!p) { return; }
    view.x = screen[0] - view.k * p[0];
    view.y = screen[1] - view.k * p[1];
    apply();
  }
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var rect = svg.getBoundingClientRect(), mx = e.clientX - rect.left, my = e.clientY - rect.top;
    var k = Math.max(0.02, Math.min(8, view.k * Math.exp(-e.deltaY * 0.0015)));
    view.x = mx - (mx - view.x) * k / view.k;
    view.y = my - (my - view.y) * k / view.k;
    view.k = k;
    apply();
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (e) {
    if (e.target.closest("[data-node]") || e.target.closest(".frame")) { return; }
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
    svg.classList.add("panning");
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) { return; }
    view.x = drag.vx + e.clientX - drag.x;
    view.y = drag.vy + e.clientY - drag.y;
    apply();
  });
  window.addEventListener("pointerup", function () { drag = null; svg.classList.remove("panning"); });

  // ---- groups: expand and collapse ----------------------------------------------------------
  function toggle(gid, open) {  // the group's node and its first layer swap places on screen
    var lead = groups.get(gid).layers[0];
    var before = placed.pos.get(open ? gid : lead);
    var screen = before ? toScreen(before) : null;
    if (open) { expanded.add(gid); } else { expanded.delete(gid); }
    render();
    if (screen) { keepAt(open ? lead : gid, screen); }
  }
  svg.addEventListener("click", function (e) {
    var node = e.target.closest('[data-kind="group"]');
    if (node) { hideCard(); toggle(node.getAttribute("data-node"), true); return; }
    var frame = e.target.closest(".frame");
    if (frame) { toggle(frame.getAttribute("data-group"), false); }
  });
  svg.addEventListener("keydown", function (e) {
    var node = e.target.closest && e.target.closest('[data-kind="group"]');
    if (node && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); toggle(node.getAttribute("data-node"), true); }
  });
  bExpand.addEventListener("click", function () { groups.forEach(function (_, id) { expanded.add(id); }); render(); fit(); });
  bCollapse.addEventListener("click", function () { expanded.clear(); render(); fit(); });
  bFit.addEventListener("click", fit);

  // ---- hover cards ------------------------------------------------------------------------------
  function sparkline(values, w, h, parent, step) {
    var s = el("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h }, parent);
    if (!values || values.length < 2) { return s; }
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values), span = hi - lo || 1;
    var pts = values.map(function (v, i) {
      return (i * (w - 2) / (values.length - 1) + 1).toFixed(1) + "," + (h - 2 - (v - lo) / span * (h - 4)).toFixed(1);
    });
    el("polyline", { class: "spark", points: pts.join(" ") }, s);
    if (step !== null && step !== undefined) {
      var x = (step * (w - 2) / (values.length - 1) + 1).toFixed(1);
      el("line", { class: "marker", x1: x, x2: x, y1: 0, y2: h }, s);
    }
    return s;
  }
  function showCard(node, e) {
    var id = node.getAttribute("data-node"), n = nodes.get(id) || (groups.has(id) ? groupNode(id) : null);
    if (!n) { return; }
    while (card.firstChild) { card.removeChild(card.firstChild); }
    html("h3", "", card, id);
    var table = html("table", "", card);
    n.card.forEach(function (row) {
      var tr = html("tr", "", table);
      html("td", "", tr, row[0]);
      html("td", "", tr, row[1]);
    });
    if (data.energy) {
      var v = energyOf(id);
      if (v !== null) {
        var tr = html("tr", "", table);
        html("td", "", tr, data.energy.mode === "trace" ? "energy (step " + energyStep + ")" : "energy");
        html("td", "", tr, Number(v).toPrecision(5));
      }
      if (data.energy.mode === "trace" && data.energy.series[id]) { sparkline(data.energy.series[id], 200, 40, card, energyStep); }
    }
    card.hidden = false;
    moveCard(e);
  }
  function moveCard(e) {
    var w = card.offsetWidth, h = card.offsetHeight;
    var x = Math.min(e.clientX + 14, window.innerWidth - w - 4), y = Math.min(e.clientY + 14, window.innerHeight - h - 4);
    card.style.left = Math.max(4, x) + "px";
    card.style.top = Math.max(4, y) + "px";
  }
  function hideCard() { card.hidden = true; }
  svg.addEventListener("mouseover", function (e) {
    var node = e.target.closest("[data-node]");
    if (node) { showCard(node, e); }
  });
  svg.addEventListener("mousemove", function (e) { if (!card.hidden) { moveCard(e); } });
  svg.addEventListener("mouseout", function (e) {
    var node = e.target.closest("[data-node]");
    if (node && !(e.relatedTarget && node.contains(e.relatedTarget))) { hideCard(); }
  });

  // ---- search -------------------------------------------------------------------------------------
  function matches() {
    var q = search.value.trim().toLowerCase(), hit = new Set();
    if (!q) { return null; }
    data.nodes.forEach(function (n) { if (n.id.toLowerCase().indexOf(q) >= 0) { hit.add(n.id); } });
    data.groups.forEach(function (g) { if (g.id.toLowerCase().indexOf(q) >= 0) { hit.add(g.id); } });
    return hit;
  }
  function applySearch() {
    var hit = matches(), shown = new Set();
    if (hit) { hit.forEach(function (id) { shown.add(rep(id)); }); }
    var count = 0;
    gNodes.querySelectorAll("[data-node]").forEach(function (e) {
      var id = e.getAttribute("data-node"), on = hit && shown.has(id);
      e.classList.toggle("match", !!on);
      e.classList.toggle("dim", !!hit && !on);
      if (on) { count++; }
    });
    gEdges.classList.toggle("dim", !!hit);
    gSlots.classList.toggle("dim", !!hit);
    found.textContent = hit ? hit.size + " match" + (hit.size === 1 ? "" : "es") + (count ? "" : " (none shown)") : "";
  }
  search.addEventListener("input", applySearch);
  search.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") { return; }
    var hit = matches();
    if (!hit || !hit.size) { return; }
    var id = Array.from(hit)[0], n = nodes.get(id);
    if (n && n.group && !expanded.has(n.group)) { expanded.add(n.group); render(); }
    var rect = svg.getBoundingClientRect();
    view.k = Math.max(view.k, 1);
    keepAt(id, [rect.width / 2, rect.height / 2]);
  });

  // ---- legend and energy panel ---------------------------------------------------------------
  function drawLegend() {
    var seen = new Set();
    data.nodes.forEach(function (n) {
      var key = n.kind + "|" + n.legend;
      if (seen.has(key)) { return; }
      seen.add(key);
      var item = html("span", "item", legend);
      var sw = html("span", "sw" + (n.kind === "layer" ? " round" : ""), item);
      sw.style.background = n.color;
      html("span", "", item, n.legend);
    });
    if (data.groups.length) { html("span", "item", legend, "\u25ce group: click to expand"); }
  }
  function drawPanel() {
    var E = data.energy;
    if (!E) { return; }
    document.body.classList.add("with-panel");
    var panel = html("div", "", document.body); panel.id = "panel";
    var lab = html("label", "", panel);
    var box = html("input", "", lab); box.type = "checkbox"; box.checked = true; box.id = "by-energy";
    lab.appendChild(document.createTextNode(" colour nodes by energy"));
    box.addEventListener("change", function () { colourByEnergy = box.checked; render(); });
    if (E.mode === "snapshot") {
      html("h4", "", panel, E.label || "energy");
      html("div", "", panel, "range " + energyRange[0].toPrecision(4) + " … " + energyRange[1].toPrecision(4));
      return;
    }
    html("h4", "", panel, "total energy");
    var chart = html("div", "", panel);
    var stepLabel = html("div", "", panel);
    var slider = html("input", "", panel); slider.type = "range"; slider.id = "step";
    slider.min = "0"; slider.max = String(Math.max(0, E.steps - 1)); slider.value = slider.max;
    html("h4", "", panel, "largest changes");
    var list = html("div", "", panel);
    function redrawPanel() {
      while (chart.firstChild) { chart.removeChild(chart.firstChild); }
      sparkline(E.total, 276, 70, chart, energyStep);
      stepLabel.textContent = "step " + energyStep + " of " + (E.steps - 1) + ": E = " +
        (E.total.length ? Number(E.total[energyStep]).toPrecision(6) : "?");
    }
    var ids = data.nodes.map(function (n) { return n.id; }).filter(function (id) { return E.series[id]; });
    ids.sort(function (a, b) {
      var sa = E.series[a], sb = E.series[b];
      return Math.abs(sb[sb.length - 1] - sb[0]) - Math.abs(sa[sa.length - 1] - sa[0]);
    });
    ids.slice(0, 12).forEach(function (id) {
      var row = html("div", "row", list);
      html("span", "", row, id);
      sparkline(E.series[id], 110, 22, row, null);
      row.addEventListener("click", function () {
        var n = nodes.get(id);
        if (n && n.group && !expanded.has(n.group)) { expanded.add(n.group); render(); }
        var rect = svg.getBoundingClientRect();
        keepAt(id, [rect.width / 2, rect.height / 2]);
      });
    });
    slider.addEventListener("input", function () { energyStep = Number(slider.value); redrawPanel(); render(); });
    redrawPanel();
  }

  if (data.energy && data.energy.mode === "trace") { energyStep = Math.max(0, data.energy.steps - 1); }
  computeRange();
  drawLegend();
  drawPanel();
  render();
  fit();
  window.addEventListener("resize", fit);
  document.documentElement.setAttribute("data-ready", "true");
})();
