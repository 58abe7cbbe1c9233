/* ripmap's page: the ranked files, their reference graph, why each ranks where it does,
 * the text map, and the training runs. Served live by `ripmap serve` (data from its JSON
 * API) or exported whole by `ripmap --format html` (data inline, no server, no network).
 * Every text from the repository or a run is set with textContent, never parsed as HTML. */
(function () {
  "use strict";

  // ------------------------------------------------------------------ small helpers
  const $ = (id) => document.getElementById(id);
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "style") e.setAttribute("style", v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false)
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return e;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
    for (const kid of kids.flat()) if (kid) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return e;
  }
  const isNum = (x) => typeof x === "number" && isFinite(x);
  function num(x, nd) {
    if (!isNum(x)) return "–";
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 1000) return x.toLocaleString("en-US", { maximumFractionDigits: 0 });
    if (a < 1e-3) return x.toExponential(2);
    return x.toPrecision(nd || 4).replace(/\.?0+$/, "");
  }
  const basename = (p) => p.slice(p.lastIndexOf("/") + 1);
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));

  // ------------------------------------------------------------------ mode and state
  const dataNode = $("ripmap-data");
  const STATIC = dataNode ? JSON.parse(dataNode.textContent) : null;
  const state = { focus: "", chat: [], preset: "", params: {}, tokens: 8192, selected: null, seq: 0,
                  mapSeq: 0, ranking: null, info: null, mapText: "" };
  const timings = [];
  const probe = { mode: STATIC ? "static" : "live", timings, ready: false, firstView: null, state, started: performance.now(),
                  // for tests and the benchmark: where each drawn file is on screen, and the zoom
                  nodes: () => (cy ? cy.nodes().map((n) => ({ id: n.id(), x: n.renderedPosition("x"), y: n.renderedPosition("y") })) : []),
                  zoom: () => (cy ? cy.zoom() : null) };
  window.__ripmap = probe;

  const SIGNAL_LABEL = { structure: "structure", cochange: "co-change", lexical: "lexical", lexical_chat: "lexical (chat)",
                         focus: "focus", pairing: "test pairing", depth: "depth", file_class: "file class", chat: "chat file",
                         mentioned_file: "named file", mentioned_ident: "named identifier", recency: "recency", churn: "churn" };
  const PALETTE = ["#2364aa", "#e07a1f", "#3a9d5d", "#c23b3b", "#8e5cc4", "#8c6d46", "#d45fa6", "#6f7a80",
                   "#b5a22a", "#2aa9b5", "#5b7de0", "#a4483f", "#5e9c2b", "#c98d3a", "#47607a", "#9b4d8a"];
  const groupColor = new Map();
  const colorOf = (g) => { if (!groupColor.has(g)) groupColor.set(g, PALETTE[groupColor.size % PALETTE.length]); return groupColor.get(g); };

  // ------------------------------------------------------------------ messages
  function showMessage(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.className = "message " + (kind || "error");
    m.dataset.kind = kind || "error";
    m.hidden = false;
  }
  function clearMessage() { const m = $("message"); m.hidden = true; m.textContent = ""; delete m.dataset.kind; }
  function status(text) { $("status").textContent = text; }

  // ------------------------------------------------------------------ the API
  async function api(path, body) {
    let res;
    try {
      res = await fetch("api/" + path, body === undefined
        ? { headers: { Accept: "application/json" } }
        : { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
            body: JSON.stringify(body) });
    } catch (e) {
      throw new Error("the server did not answer (is ripmap serve still running?)");
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok || data === null) throw new Error((data && data.error) || ("the server answered " + res.status));
    return data;
  }
  function inputs(extra) {
    return Object.assign({ chat: state.chat, focus: state.focus || null, preset: state.preset || null,
                           params: state.params, tokens: state.tokens }, extra || {});
  }

  // ------------------------------------------------------------------ ranking
  async function rerank(reason) {
    const seq = ++state.seq;
    const t0 = performance.now();
    status("ranking…");
    document.body.dataset.busy = "1";
    let r;
    try {
      r = await api("rank", inputs({ path: state.selected }));
    } catch (e) {
      if (seq === state.seq) { showMessage(e.message); status(""); delete document.body.dataset.busy; }
      return false;
    }
    if (seq !== state.seq) return false;
    const tReq = performance.now();
    const parts = showRanking(r);
    const tShown = performance.now();
    await frame();
    const tPaint = performance.now();
    await rowsDone;  // the whole list is there before the page says it is ranked
    const t = { seq, reason, request_ms: tReq - t0, list_ms: tReq - t0 + parts.list, graph_ms: parts.graph,
                shown_ms: tShown - t0, painted_ms: tPaint - t0, server_ms: r.elapsed_ms, files: r.files.length };
    timings.push(t);
    if (probe.firstView === null) probe.firstView = tPaint;
    status(r.files.length.toLocaleString("en-US") + " files · ranked in " + Math.round(tPaint - t0) + " ms");
    document.body.dataset.rankSeq = String(seq);
    delete document.body.dataset.busy;
    syncUrl();
    loadMap(t);
    return true;
  }

  function showRanking(r) {
    state.ranking = r;
    if (r.notes && r.notes.length) showMessage(r.notes.join("\n"), "info"); else clearMessage();
    const t0 = performance.now();
    renderList(r.files);
    const t1 = performance.now();
    renderGraph(r.graph);
    const t2 = performance.now();
    renderChat();
    if (r.explain) renderExplain(r.explain);
    else if (r.explain_error) explainNote(r.explain_error);
    else if (!state.selected) renderQueryOnly(r.query);
    return { list: t1 - t0, graph: t2 - t1 };
  }

  async function loadMap(t) {
    const seq = ++state.mapSeq;
    $("map-tokens").textContent = "…";
    const t0 = performance.now();
    let m;
    try { m = await api("map", inputs()); }
    catch (e) { if (seq === state.mapSeq) { $("map-tokens").textContent = ""; $("map-text").textContent = e.message; } return; }
    if (seq !== state.mapSeq) return;
    showMap(m);
    if (t) t.map_ms = t.painted_ms + (performance.now() - t0);
    document.body.dataset.mapSeq = String(seq);
  }
  function showMap(m) {
    state.mapText = m.text;
    $("map-text").textContent = m.text || "(nothing fits this budget)";
    $("map-tokens").textContent = m.tokens.toLocaleString("en-US") + " / " + m.budget.toLocaleString("en-US") +
      " tokens (" + m.counter + ") · " + m.files_shown + " files";
    $("map-tokens").dataset.tokens = String(m.tokens);
  }

  // ------------------------------------------------------------------ the list
  /* One <li> per file: its text the path, its number the rank (fixed per row, so set
   * once), a score bar on the top rows only. A re-rank rewrites the same elements in place,
   * touching nothing it need not: on a 1,500-file repository a per-row style or title
   * change costs the browser a style pass over every row (measured: 0.25-0.5 s), so the
   * hover text is made when hovered and rows below BARS have no bar. */
  const BARS = 50;
  const FIRST_ROWS = 200;
  let rowsDone = Promise.resolve();
  function renderList(files) {
    const ol = $("file-list");
    if (ol.children.length !== files.length) {
      // A new list (the first view): the rows a screen shows now, the rest after that frame
      // is painted (laying out thousands of fresh rows took a big repository's first view
      // half a second more); the list is complete before the page says it is ranked.
      ol.replaceChildren(makeRows(0, Math.min(files.length, FIRST_ROWS)));
      if (files.length > FIRST_ROWS) {
        rowsDone = frame().then(() => {
          ol.append(makeRows(FIRST_ROWS, files.length));
          fillRows(state.ranking.files);
          applyFilter();
        });
      }
    }
    fillRows(files);
    $("count").textContent = "(" + files.length.toLocaleString("en-US") + ")";
    applyFilter();
  }
  function makeRows(from, to) {
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) {
      const li = document.createElement("li");
      li.value = i + 1;
      li.append(document.createTextNode(""));
      if (i < BARS) li.append(h("span", { class: "bar" }));
      frag.append(li);
    }
    return frag;
  }
  function fillRows(files) {
    const lis = $("file-list").children;
    const max = files.length ? Math.max(files[0].score, 1e-300) : 1;
    const chat = new Set(state.chat);
    for (let i = 0; i < Math.min(files.length, lis.length); i++) {
      const f = files[i], li = lis[i];
      if (li.dataset.path !== f.path) { li.dataset.path = f.path; li.firstChild.nodeValue = f.path; }
      if (i < BARS) li.lastChild.style.width = Math.max(0, Math.min(100, 100 * f.score / max)).toFixed(1) + "%";
      const cls = (chat.has(f.path) ? "in-chat" : "") + (f.path === state.selected ? " selected" : "");
      if (li.className !== cls) li.className = cls;
    }
  }
  /* The chat box's suggestions (every mapped file), made when the box is first used. */
  function fillSuggestions() {
    const dl = $("file-options"), files = state.ranking ? state.ranking.files : [];
    if (dl.childElementCount === files.length) return;
    const opts = document.createDocumentFragment();
    for (const p of files.map((f) => f.path).sort()) opts.append(h("option", { value: p }));
    dl.replaceChildren(opts);
  }
  function applyFilter() {
    const q = $("list-filter").value.trim().toLowerCase();
    for (const li of $("file-list").children) li.hidden = q !== "" && !li.dataset.path.toLowerCase().includes(q);
  }
  $("file-list").addEventListener("click", (e) => {
    const li = e.target.closest("li");
    if (li) select(li.dataset.path);
  });
  $("list-filter").addEventListener("input", applyFilter);
  $("file-list").addEventListener("mouseover", (e) => {
    const li = e.target.closest("li");
    if (!li || !state.ranking) return;
    const f = state.ranking.files[li.value - 1];
    if (f && f.path === li.dataset.path) li.title = f.path + "\nrank " + f.rank + " · score " + num(f.score, 5);
  });

  // ------------------------------------------------------------------ the graph
  let cy = null;
  const LABELLED = 12;  // files named on the graph (the rest on hover): canvas labels cost most of a redraw
  function renderGraph(g) {
    const box = $("graph");
    if (typeof window.cytoscape !== "function") { box.textContent = "the graph library did not load"; return; }
    const nodes = g.nodes || [], edges = g.edges || [];
    // node area by score on a log scale: scores span orders of magnitude (a chat file's dwarfs the rest)
    const logs = nodes.map((n) => Math.log(Math.max(n.score, 1e-12)));
    const lo = Math.min(...logs), hi = Math.max(...logs);
    const size = (n) => 12 + 28 * (hi > lo ? (Math.log(Math.max(n.score, 1e-12)) - lo) / (hi - lo) : 0.5);
    const maxW = Math.max(1e-300, ...edges.map((e) => e.weight));
    const chat = new Set(state.chat);
    const els = nodes.map((n) => ({
      group: "nodes",
      data: { id: n.id, label: n.rank <= LABELLED ? basename(n.id) : "", size: size(n),
              color: colorOf(n.group), rank: n.rank, score: n.score, group: n.group, lang: n.lang },
      classes: (chat.has(n.id) ? "chat " : "") + (n.id === state.selected ? "selected" : ""),
      position: { x: n.x || 0, y: n.y || 0 },
    })).concat(edges.map((e) => ({
      group: "edges", data: { id: e.source + "\u2192" + e.target, source: e.source, target: e.target, weight: e.weight,
                              width: 0.6 + 3.4 * Math.sqrt(e.weight / maxW) } })));
    // positions come with the data (laid out by ripmap): the page only draws and fits
    ensureGraph();
    update(els);
    fitView(nodes);
    box.dataset.nodes = String(nodes.length);
    box.dataset.edges = String(edges.length);
    $("graph-caption").textContent = "(top " + nodes.length + " files, " + edges.length + " strongest references)";
    const groups = [...new Set(nodes.map((n) => n.group))];
    $("legend").replaceChildren(...groups.map((gname) => h("span", {}, h("i", { style: "background:" + colorOf(gname) }), gname)));
  }
  /* The graph's canvas, made once; the page makes it while its first ranking is on the way. */
  function ensureGraph() {
    if (cy || typeof window.cytoscape !== "function") return;
    cy = window.cytoscape({ container: $("graph"), elements: [], minZoom: 0.15, maxZoom: 5, style: graphStyle(),
                            layout: { name: "preset" } });
    cy.on("mouseover", "node", (e) => tip(e, e.target.id() + "\nrank " + e.target.data("rank") + " · score " +
      num(e.target.data("score"), 4) + (e.target.data("lang") ? " · " + e.target.data("lang") : "")));
    cy.on("mouseover", "edge", (e) => tip(e, e.target.data("source") + "\n  → " + e.target.data("target") +
      "\nreferences (weighted): " + num(e.target.data("weight"), 3)));
    cy.on("mouseout", "node, edge", () => { $("tooltip").hidden = true; });
    cy.on("tap", "node", (e) => select(e.target.id()));
  }
  /* A re-rank keeps most of the top files: those elements are updated in place (their
   * drawn labels stay cached), only files that left or joined the top are removed or added. */
  function update(els) {
    const want = new Map(els.map((e) => [e.data.id, e]));
    cy.batch(() => {
      cy.elements().filter((el) => !want.has(el.id())).remove();
      const add = [];
      for (const e of els) {
        const el = cy.getElementById(e.data.id);
        if (el.empty()) { add.push(e); continue; }
        el.data(e.data);
        if (e.group === "nodes") { el.position(e.position); el.classes(e.classes); }
      }
      if (add.length) cy.add(add);
    });
  }
  /* cy.fit measures every label's text; the positions are known, so the view is set from them
   * (from the size cytoscape already knows: asking the box would force a layout of the page). */
  function fitView(nodes) {
    const w = cy.width(), hgt = cy.height(), pad = 34;
    if (!nodes.length || !w || !hgt) return;
    const xs = nodes.map((n) => n.x || 0), ys = nodes.map((n) => n.y || 0);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const zoom = Math.max(0.15, Math.min(2, (w - 2 * pad) / Math.max(1, x1 - x0), (hgt - 2 * pad) / Math.max(1, y1 - y0)));
    cy.viewport({ zoom, pan: { x: w / 2 - zoom * (x0 + x1) / 2, y: hgt / 2 - zoom * (y0 + y1) / 2 } });
  }
  function graphStyle() {
    return [
      { selector: "node", style: { width: "data(size)", height: "data(size)", "background-color": "data(color)",
          label: "data(label)", "font-size": 10, color: "#2b3238", "text-valign": "bottom", "text-margin-y": 2,
          "text-background-color": "#fcfcfb", "text-background-opacity": 0.7, "text-background-padding": 1,
          "border-width": 1, "border-color": "#ffffff", "min-zoomed-font-size": 6 } },
      { selector: "node.chat", style: { "border-width": 3, "border-color": "#1d2327" } },
      { selector: "node.selected", style: { "border-width": 4, "border-color": "#f0a202" } },
      { selector: "edge", style: { width: "data(width)", "line-color": "#b4bcc2", "target-arrow-color": "#b4bcc2",
          "target-arrow-shape": "triangle", "arrow-scale": 0.6, "curve-style": "straight", opacity: 0.75 } },
      { selector: "edge.hl", style: { "line-color": "#2364aa", "target-arrow-color": "#2364aa", opacity: 1, "z-index": 9 } },
    ];
  }
  function tip(e, text) {
    const t = $("tooltip"), box = $("graph");
    t.textContent = text;
    t.style.left = (box.offsetLeft + e.renderedPosition.x + 12) + "px";
    t.style.top = (box.offsetTop + e.renderedPosition.y + 12) + "px";
    t.hidden = false;
  }
  function markSelected(path) {
    for (const li of $("file-list").querySelectorAll("li.selected")) li.classList.remove("selected");
    const li = $("file-list").querySelector('li[data-path="' + CSS.escape(path) + '"]');
    if (li) { li.classList.add("selected"); if (li.scrollIntoViewIfNeeded) li.scrollIntoViewIfNeeded(false); else li.scrollIntoView({ block: "nearest" }); }
    if (cy) {
      cy.batch(() => {
        cy.nodes(".selected").removeClass("selected");
        cy.edges(".hl").removeClass("hl");
        const n = cy.getElementById(path);
        if (n && n.length) { n.addClass("selected"); n.connectedEdges().addClass("hl"); }
      });
    }
  }

  // ------------------------------------------------------------------ explain
  async function select(path) {
    state.selected = path;
    markSelected(path);
    if (STATIC) {
      const e = STATIC.explains[path];
      if (e) renderExplain(e);
      else explainNote(path + ": this export carries the explanation of the top " + STATIC.explain_top +
                       " files only; run `ripmap --explain " + path + "` (or `ripmap serve`) for this one.");
      return;
    }
    const seq = state.seq;
    try {
      const e = await api("explain", inputs({ path }));
      if (state.selected === path && seq === state.seq) renderExplain(e);
    } catch (err) {
      if (state.selected === path) explainNote(err.message);
    }
  }
  function explainNote(text) {
    $("explain").replaceChildren(h("p", { class: "muted", "data-testid": "explain-note", text }));
  }
  function renderExplain(e) {
    const total = state.ranking ? state.ranking.files.length : 0;
    const add = e.signals.filter((r) => r.kind === "additive");
    const mul = e.signals.filter((r) => r.kind === "multiplier");
    const maxC = Math.max(1e-300, ...add.map((r) => Math.abs(r.contribution)));
    const classes = e.classes && e.classes.length ? e.classes.join(" + ") + " (weight " + num(e.class_weight, 3) + ")" : "code";
    const box = $("explain");
    box.dataset.path = e.path;
    box.replaceChildren(
      h("div", { class: "explain-head" },
        h("h3", { "data-testid": "explain-path", text: e.path }),
        STATIC ? null : h("button", { type: "button", "data-testid": "explain-chat", onclick: () => toggleChat(e.path),
                                      text: state.chat.includes(e.path) ? "Remove from chat" : "Add to chat" }),
        h("p", {}, h("b", { "data-testid": "explain-rank", text: "rank " + e.rank + (total ? " of " + total.toLocaleString("en-US") : "") }),
          " · score " + num(e.score, 5)),
        h("p", { class: "muted", text: "= base " + num(e.base, 4) + " × multiplier " + num(e.multiplier, 4) + " · " + classes })),
      h("div", { class: "bars", "data-testid": "explain-bars" },
        h("h4", { text: "What adds up to the score" }),
        add.map((r) => h("div", { class: "bar-row", data: { signal: r.signal }, title:
              SIGNAL_LABEL[r.signal] + ": value " + num(r.value, 4) + " × weight " + num(r.weight, 3) + " × multiplier → " + num(r.contribution, 4) },
          h("span", { class: "name", text: SIGNAL_LABEL[r.signal] || r.signal }),
          h("span", { class: "bar-track" }, h("span", { class: "fill", style: "width:" + (100 * Math.abs(r.contribution) / maxC).toFixed(1) + "%" })),
          h("span", { class: "num", text: num(r.contribution, 3) }))),
        h("h4", { text: "Boosts (multipliers)" }),
        mul.map((r) => {
          const f = isNum(r.contribution) && r.contribution > 0 ? r.contribution : 1;
          const w = Math.min(50, 50 * Math.abs(Math.log(f)) / Math.log(16));
          const fill = f >= 1 ? "left:50%;width:" + w.toFixed(1) + "%" : "left:" + (50 - w).toFixed(1) + "%;width:" + w.toFixed(1) + "%";
          return h("div", { class: "bar-row", data: { signal: r.signal }, title: SIGNAL_LABEL[r.signal] + ": ×" + num(r.contribution, 4) },
            h("span", { class: "name", text: SIGNAL_LABEL[r.signal] || r.signal }),
            h("span", { class: "bar-track factor" }, h("span", { class: "mid" }),
              h("span", { class: "fill " + (f >= 1 ? "up" : "down"), style: fill })),
            h("span", { class: "num", text: "×" + num(r.contribution, 3) }));
        })),
      queryBlock(e.query !== undefined ? e.query : state.ranking && state.ranking.query));
  }
  function renderQueryOnly(q) {
    $("explain").replaceChildren(h("p", { class: "muted", text: "Click a file in the list or the graph to see why it ranks where it does." }),
                                 queryBlock(q));
  }
  function queryBlock(q) {
    const box = h("div", { class: "query", "data-testid": "query" });
    if (!q) { box.append(h("p", { class: "muted", text: "No focus text: ranked by structure, history and chat files." })); return box; }
    const dl = h("dl");
    dl.append(h("dt", { text: "focus understood as (" + q.kind + ")" }));
    const row = (label, items) => { if (items && items.length) dl.append(h("dt", { text: label }), h("dd", { text: items.join(", ") })); };
    row("files", (q.files || []).slice(0, 12).map((f) => f.path + " (" + num(f.strength, 2) + ", from “" + f.from + "”)"));
    row("identifiers", (q.identifiers || []).slice(0, 16).map((i) => i.name + " (" + num(i.strength, 2) + ")"));
    row("not defined here, read as words", (q.unresolved_identifiers || []).slice(0, 16));
    row("words", (q.words || []).slice(0, 40));
    box.append(dl);
    return box;
  }

  // ------------------------------------------------------------------ inputs
  function renderChat() {
    $("chat").replaceChildren(...state.chat.map((c) => h("span", { class: "chip", data: { path: c } }, c,
      STATIC ? null : h("button", { type: "button", title: "remove " + c, "aria-label": "remove " + c, text: "×",
                                    onclick: () => { state.chat = state.chat.filter((x) => x !== c); rerank("chat"); } }))));
  }
  async function toggleChat(path) {
    const before = state.chat.slice();
    state.chat = state.chat.includes(path) ? state.chat.filter((x) => x !== path) : state.chat.concat([path]);
    if (!(await rerank("chat"))) { state.chat = before; renderChat(); }
  }
  function syncUrl() {
    if (STATIC || !window.history || !window.history.replaceState) return;
    const q = new URLSearchParams();
    if (state.focus) q.set("focus", state.focus.length <= 2000 ? state.focus : state.focus.slice(0, 2000));
    for (const c of state.chat) q.append("chat", c);
    if (state.preset) q.set("preset", state.preset);
    if (state.tokens !== 8192) q.set("tokens", String(state.tokens));
    if (Object.keys(state.params).length) q.set("params", JSON.stringify(state.params));
    const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
    try { history.replaceState(null, "", url); } catch (e) { /* an opaque origin has no history to write */ }
  }
  function readUrl() {
    const q = new URLSearchParams(location.search);
    state.focus = q.get("focus") || "";
    state.chat = q.getAll("chat").filter((c) => c.trim());
    state.preset = q.get("preset") || "";
    const t = parseInt(q.get("tokens") || "", 10);
    if (t > 0) state.tokens = t;
    if (q.get("params")) {
      try { state.params = JSON.parse(q.get("params")); } catch (e) { showMessage("params in the address are not valid JSON; ignored"); }
    }
  }
  function wireInputs() {
    const focus = $("focus"), preset = $("preset"), tokens = $("tokens"), add = $("chat-add"), params = $("params");
    focus.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); state.focus = focus.value.trim(); rerank("focus"); } });
    preset.addEventListener("change", async () => {
      const before = state.preset; state.preset = preset.value;
      if (!(await rerank("preset"))) { state.preset = before; }
    });
    tokens.addEventListener("change", () => {
      const n = parseInt(tokens.value, 10);
      if (!(n >= 1)) { showMessage("tokens must be a whole number of at least 1"); return; }
      state.tokens = n; syncUrl(); loadMap(null);
    });
    add.addEventListener("focus", fillSuggestions);
    add.addEventListener("keydown", async (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      const v = add.value.trim();
      if (!v || state.chat.includes(v)) { add.value = ""; return; }
      state.chat = state.chat.concat([v]);
      if (await rerank("chat")) add.value = "";
      else { state.chat = state.chat.filter((x) => x !== v); renderChat(); }
    });
    const applyParams = async () => {
      const text = params.value.trim();
      let p = {};
      if (text) {
        try { p = JSON.parse(text); } catch (err) { showMessage("parameters: not valid JSON (" + err.message + ")"); return; }
        if (!p || typeof p !== "object" || Array.isArray(p)) { showMessage("parameters: expected a JSON object of name → number"); return; }
      }
      const before = state.params; state.params = p;
      if (!(await rerank("params"))) state.params = before;
    };
    params.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); applyParams(); } });
    params.addEventListener("change", applyParams);
    $("copy-map").addEventListener("click", copyMap);
  }
  async function copyMap() {
    const text = state.mapText || "";
    const btn = $("copy-map");
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
      const range = document.createRange();
      range.selectNodeContents($("map-text"));
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
    }
    btn.textContent = ok ? "Copied" : "Select and copy";
    btn.dataset.copied = ok ? "1" : "0";
    setTimeout(() => { btn.textContent = "Copy"; }, 1500);
  }

  // ------------------------------------------------------------------ training runs
  let runsLoaded = false;
  async function loadRuns() {
    runsLoaded = true;
    let d;
    try { d = await api("runs"); } catch (e) { $("run-list").replaceChildren(h("p", { class: "muted", text: e.message })); return; }
    const box = $("run-list");
    box.replaceChildren();
    let any = false;
    for (const f of d.folders) {
      const ul = h("ul");
      for (const r of f.runs) {
        any = true;
        const sub = [r.kind, isNum(r.count) ? r.count + (r.kind === "search" ? " trials" : r.kind === "outer" ? " steps" : " episodes") : null,
                     isNum(r.best) ? "NDCG " + num(r.first, 3) + " → best " + num(r.best, 3) : null, r.note].filter(Boolean).join(" · ");
        ul.append(h("li", { data: { run: r.name, folder: r.folder }, "data-testid": "run", onclick: () => loadRun(r.folder, r.name) },
          r.name, h("small", { text: sub })));
      }
      box.append(h("div", { class: "run-group" }, h("h3", { text: f.folder + (f.exists ? "" : " (none)") }), ul));
    }
    if (!any) box.append(h("p", { class: "muted", text: "No runs yet. `ripmap-train` writes them to training/runs, `ripmap-train-outer` to training-outer/runs." }));
    renderLineage(d.lineage || []);
  }
  async function loadRun(folder, name) {
    for (const li of document.querySelectorAll("#run-list li")) li.classList.toggle("selected", li.dataset.run === name && li.dataset.folder === folder);
    const box = $("run-detail");
    box.replaceChildren(h("p", { class: "muted", text: "Loading " + name + "…" }));
    let d;
    try { d = await api("run?folder=" + encodeURIComponent(folder) + "&name=" + encodeURIComponent(name)); }
    catch (e) { box.replaceChildren(h("p", { class: "muted", "data-testid": "run-error", text: e.message })); return; }
    renderRun(d);
  }
  function renderRun(d) {
    const box = $("run-detail");
    box.dataset.run = d.name;
    const parts = [h("h3", { text: d.folder + "/" + d.name + " (" + d.kind + (d.strategy ? ", " + d.strategy : "") + ")" })];
    if (d.note) parts.push(h("p", { class: "muted", text: d.note }));
    if (d.config && Object.keys(d.config).length) {
      const keys = ["agent", "model", "episodes", "budget", "repos", "promptgram", "created", "resumed"].filter((k) => d.config[k] && d.config[k] !== "null" && d.config[k] !== "[]");
      if (keys.length) parts.push(h("p", { class: "muted", text: keys.map((k) => k + ": " + d.config[k]).join(" · ") }));
    }
    const prog = d.progress || [];
    const train = prog.filter((p) => isNum(p.train)).map((p) => [p.x, p.train]);
    const hold = prog.filter((p) => isNum(p.holdout)).map((p) => [p.x, p.holdout]);
    const charts = h("div", { class: "charts", "data-testid": "run-progress" });
    if (train.length || hold.length) {
      charts.append(lineChart({ title: "NDCG@10 per " + (d.x_label || "step"), width: 520, height: 210,
        series: [{ name: "train", color: "#2364aa", points: train }, { name: d.kind === "outer" ? "held-out" : "validation", color: "#e07a1f", points: hold }] }));
    } else charts.append(h("p", { class: "muted", text: "No figures recorded yet." }));
    parts.push(h("h2", { text: "Progress" }), charts);
    const names = Object.keys(d.params || {});
    if (names.length) {
      parts.push(h("h2", { text: "Parameter trajectories (" + names.length + " moved)" }),
        h("div", { class: "spark-grid", "data-testid": "run-params" }, names.map((n) =>
          lineChart({ title: n, width: 210, height: 90, small: true, series: [{ name: n, color: "#3a9d5d", points: d.params[n] }] }))));
    }
    if (d.kind === "l1" && d.episodes.length) parts.push(h("h2", { text: "Episodes" }), episodesTable(d.episodes));
    if (d.kind === "outer") {
      if (d.steps && d.steps.length) parts.push(h("h2", { text: "Outer steps" }), stepsTable(d.steps));
      if (d.inner_runs && d.inner_runs.length) parts.push(h("h2", { text: "Inner L1 runs" }),
        h("ul", {}, d.inner_runs.map((r) => h("li", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); loadRun(r.folder, r.name); }, text: r.name + " (" + r.kind + ")" })))));
    }
    if (d.insights) {
      const ins = Object.entries(d.insights).filter(([, v]) => v && v.length);
      if (ins.length) parts.push(h("details", {}, h("summary", { text: "Accumulated insights" }),
        ins.map(([k, v]) => h("div", {}, h("b", { text: k.replace(/_/g, " ") }), h("ul", {}, v.map((t) => h("li", { text: t })))))));
    }
    if (d.test) parts.push(h("details", {}, h("summary", { text: "Held-out repositories" }), h("pre", { text: JSON.stringify(d.test, null, 1) })));
    box.replaceChildren(...parts);
  }
  function episodesTable(eps) {
    return h("table", { class: "episodes", "data-testid": "episodes" },
      h("thead", {}, h("tr", {}, ["#", "train NDCG", "validation", "diagnosis", "changes", "reasoning"].map((t) => h("th", { text: t })))),
      h("tbody", {}, eps.map((e) => {
        const d = isNum(e.ndcg_before) && isNum(e.ndcg_after) ? e.ndcg_after - e.ndcg_before : null;
        return h("tr", { data: { episode: String(e.episode) } },
          h("td", { class: "num", text: String(e.episode) }),
          h("td", { class: "num", text: num(e.ndcg_before, 4) + " → " + num(e.ndcg_after, 4) + (d === null ? "" : " (" + (d >= 0 ? "+" : "") + num(d, 3) + ")") }),
          h("td", { class: "num", text: num(e.holdout_after, 4) }),
          h("td", {}, e.flags.map((f) => h("span", { class: "flag", text: f })), e.error ? h("div", { class: "flag", text: e.error }) : null,
            h("div", { text: e.capsule || "" }), h("div", { class: "muted", text: e.diagnosis || "" })),
          h("td", {}, e.applied.length ? e.applied.map((a) => h("div", { title: a.rationale, text: a.param + " " + (a.direction === "increase" ? "↑" : a.direction === "decrease" ? "↓" : a.direction) + " " + a.magnitude + " (" + num(a.from, 3) + " → " + num(a.to, 3) + ")" })) : h("span", { class: "muted", text: "none" }),
            e.rejected.map((r) => h("div", { class: "muted", text: "refused " + r.param + ": " + r.reason }))),
          h("td", {}, h("details", {}, h("summary", { text: "reasoning" + (e.agent ? " (" + e.agent + ")" : "") }),
            h("pre", { text: e.reasoning || "(none)" }), e.proposed ? h("pre", { text: "proposed: " + e.proposed }) : null,
            e.insights.length ? h("ul", {}, e.insights.map((t) => h("li", { text: t }))) : null)));
      })));
  }
  function stepsTable(steps) {
    return h("table", { class: "episodes", "data-testid": "outer-steps" },
      h("thead", {}, h("tr", {}, ["step", "promptgram", "figures", "edits", "diagnostics / rationale"].map((t) => h("th", { text: t })))),
      h("tbody", {}, steps.map((st) => h("tr", {},
        h("td", { class: "num", text: String(st.step) }),
        h("td", { class: "num", text: (st.version || "?") + (st.parent ? " ← " + st.parent : "") }),
        h("td", { class: "num" }, Object.entries(st.metrics || {}).map(([k, v]) => h("div", { text: k + " " + num(v, 4) }))),
        h("td", {}, st.edits.map((e) => h("div", { text: e.edit_type + " " + e.section + (e.target ? " [" + e.target + "]" : "") + ": " + e.content })),
          st.proposal ? h("pre", { text: st.proposal }) : null,
          st.refused.map((r) => h("div", { class: "flag", text: "refused: " + r })),
          st.child ? h("div", { class: "muted", text: "→ " + st.child }) : null),
        h("td", {}, st.diagnostics ? h("div", { style: "white-space:pre-line", text: st.diagnostics }) : null, st.capsules.map((c) => h("div", { class: "muted", text: c })),
          st.rationale ? h("details", {}, h("summary", { text: "rationale" }), h("pre", { text: st.rationale })) : null)))));
  }
  function renderLineage(items) {
    const box = $("lineage");
    if (!items.length) { box.replaceChildren(h("p", { class: "muted", text: "No promptgram versions in training-outer/prompts/inner yet." })); return; }
    const byParent = new Map();
    const known = new Set(items.map((i) => i.version));
    for (const it of items) {
      const p = it.parent && known.has(it.parent) ? it.parent : "";
      if (!byParent.has(p)) byParent.set(p, []);
      byParent.get(p).push(it);
    }
    const tree = (parent) => h("ul", {}, (byParent.get(parent) || []).map((it) => h("li", { data: { version: it.version } },
      h("code", { text: it.version }),
      it.runs !== null && it.runs !== undefined ? " · runs " + (Array.isArray(it.runs) ? it.runs.length : it.runs) : "",
      it.scores !== null && it.scores !== undefined ? " · scores " + (typeof it.scores === "object" ? JSON.stringify(it.scores) : num(it.scores, 4)) : "",
      it.note ? h("span", { class: "flag", text: it.note }) : null,
      (it.edits || it.text) ? h("details", {}, h("summary", { text: "edits and text" }),
        it.edits ? h("pre", { text: it.edits }) : null, it.rationale ? h("pre", { text: "rationale: " + it.rationale }) : null,
        it.text ? h("pre", { text: it.text }) : null) : null,
      byParent.has(it.version) ? tree(it.version) : null)));
    box.replaceChildren(h("div", { class: "lineage" }, tree("")));
  }
  function lineChart(o) {
    const W = o.width, H = o.height, padL = o.small ? 34 : 46, padR = 10, padT = o.small ? 22 : 26, padB = o.small ? 16 : 24;
    const pts = o.series.flatMap((sr) => sr.points.filter((p) => isNum(p[0]) && isNum(p[1])));
    const svg = s("svg", { class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": o.title });
    svg.append(s("text", { x: 6, y: 12, class: "title" }, o.title));
    if (!pts.length) return svg;
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { const d = Math.abs(y0) * 0.05 || 0.05; y0 -= d; y1 += d; }
    const X = (x) => padL + (W - padL - padR) * (x - x0) / (x1 - x0);
    const Y = (y) => H - padB - (H - padT - padB) * (y - y0) / (y1 - y0);
    svg.append(s("line", { x1: padL, y1: H - padB, x2: W - padR, y2: H - padB, stroke: "#ccd" }),
               s("line", { x1: padL, y1: padT, x2: padL, y2: H - padB, stroke: "#ccd" }),
               s("text", { x: padL - 4, y: Y(y1) + 3, "text-anchor": "end" }, num(y1, 3)),
               s("text", { x: padL - 4, y: Y(y0) + 3, "text-anchor": "end" }, num(y0, 3)),
               s("text", { x: padL, y: H - 4 }, num(x0, 3)), s("text", { x: W - padR, y: H - 4, "text-anchor": "end" }, num(x1, 3)));
    o.series.forEach((sr, i) => {
      const p = sr.points.filter((q) => isNum(q[0]) && isNum(q[1]));
      if (!p.length) return;
      svg.append(s("polyline", { points: p.map((q) => X(q[0]).toFixed(1) + "," + Y(q[1]).toFixed(1)).join(" "), fill: "none", stroke: sr.color, "stroke-width": 1.6 }));
      for (const q of p) svg.append(s("circle", { cx: X(q[0]).toFixed(1), cy: Y(q[1]).toFixed(1), r: o.small ? 1.8 : 2.6, fill: sr.color },
        s("title", {}, sr.name + " @ " + num(q[0], 4) + ": " + num(q[1], 5))));
      if (!o.small) svg.append(s("text", { x: W - padR - 4, y: 12 + 12 * i, "text-anchor": "end", fill: sr.color, style: "fill:" + sr.color }, sr.name));
    });
    return svg;
  }

  // ------------------------------------------------------------------ tabs and start
  function showTab(name) {
    for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
    $("view-map").hidden = name !== "map";
    $("view-training").hidden = name !== "training";
    if (name === "training" && !runsLoaded) loadRuns();
  }
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));

  async function startLive() {
    readUrl();
    $("focus").value = state.focus;
    $("tokens").value = String(state.tokens);
    if (Object.keys(state.params).length) $("params").value = JSON.stringify(state.params);
    wireInputs();
    renderChat();
    const ranked = rerank("start");  // the first ranking does not wait for the presets list,
    ensureGraph();                   // and the graph's canvas is made while it is on the way
    try {
      const info = await api("info");
      state.info = info;
      $("title").textContent = info.name;
      document.title = "ripmap · " + info.name;
      $("title").title = info.root;
      const sel = $("preset");
      for (const p of info.presets) if (p.name !== "default") sel.append(h("option", { value: p.name, title: p.description, text: p.name }));
      if (state.preset && !info.presets.some((p) => p.name === state.preset)) sel.append(h("option", { value: state.preset, text: state.preset + " (unknown)" }));
      sel.value = state.preset;
    } catch (e) {
      showMessage(e.message);
    }
    const ok = await ranked;
    if (!ok) {
      $("file-list").replaceChildren();
      $("explain").replaceChildren(h("p", { class: "muted", text: "No ranking yet: correct the input named above and press Enter in the focus box." }));
    }
    probe.ready = true;
    document.body.dataset.ready = "1";
    watchChanges(state.info ? state.info.generation : 0);
  }

  /* The server re-indexes by itself when files change; the page re-ranks when it has. */
  function watchChanges(seen) {
    let generation = seen;
    setInterval(async () => {
      if (document.hidden || document.body.dataset.busy) return;
      let st;
      try { st = await api("status"); } catch (e) { return; }
      if (st.generation !== generation) {
        generation = st.generation;
        if (await rerank("files changed")) showMessage("Files changed: re-indexed and re-ranked.", "info");
      }
    }, 3000);
  }

  async function startStatic() {
    const d = STATIC;
    $("title").textContent = d.title;
    $("title").title = d.root;
    document.title = "ripmap · " + d.title;
    document.querySelector('[data-tab="training"]').remove();
    state.chat = d.ranking.chat || [];
    const q = d.ranking.query;
    $("focus").value = d.focus || "";
    for (const id of ["focus", "preset", "tokens", "chat-add", "params"]) $(id).disabled = true;
    $("copy-map").addEventListener("click", copyMap);
    showMessage("A static export of " + d.root + ": the list, graph, explanations and text map as ranked when it was written. " +
                "Live focus, chat files and presets need `ripmap serve`.", "info");
    const t0 = performance.now();
    state.ranking = d.ranking;
    renderList(d.ranking.files);
    renderGraph(d.ranking.graph);
    renderChat();
    renderQueryOnly(q);
    showMap(d.map);
    await frame();
    probe.firstView = performance.now();
    timings.push({ seq: 0, reason: "static", painted_ms: performance.now() - t0, files: d.ranking.files.length });
    await rowsDone;
    probe.ready = true;
    document.body.dataset.ready = "1";
    document.body.dataset.rankSeq = "0";
  }

  (STATIC ? startStatic() : startLive()).catch((e) => {
    showMessage("the page failed to start: " + (e && e.message ? e.message : e));
    document.body.dataset.ready = "1";
  });
})();
