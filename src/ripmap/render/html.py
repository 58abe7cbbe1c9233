"""The web page's view of a ranking, and that page as one self-contained HTML file.

The same data feeds ``ripmap serve`` (as JSON answers to the page's requests) and
``ripmap --format html`` (inlined into the file), so a shared page and a live one
show the same list, graph and explanations. The page itself (markup, script, styles
and the vendored Cytoscape.js) is package data of :mod:`ripmap.web`; here it is only
read and, for the export, inlined.

The export fetches nothing: its Content-Security-Policy forbids every network
request (``default-src 'none'``), and data goes in a ``<script type="application/json">``
block whose ``<`` are escaped, so no file path or agent text can close it.
"""
from __future__ import annotations

import json
import posixpath
import zlib
from importlib import resources
from typing import Any, Mapping

import numpy as np
from ..lazy import sparse as sp

from ..rank import Ranking

#: files drawn in the graph: enough to see how the top of the map hangs together,
#: few enough that a force layout settles within a re-rank's time
GRAPH_TOP = 30
#: edges drawn per node on average (the strongest first): more turns the graph to felt
EDGES_PER_NODE = 3
#: files whose explanation the static export carries (the list holds every file)
EXPLAIN_TOP = 300

_ASSETS = ("app.css", "app.js", "vendor/cytoscape.min.js")
#: the export's policy: inline script and style only, nothing fetched from anywhere
STATIC_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
#: the served page's policy: its own origin only
SERVED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
              "connect-src 'self'; base-uri 'none'; form-action 'none'")


#: the drawing area of the graph layout (the page fits it to its box)
LAYOUT_SIZE = 500.0
LAYOUT_ITERATIONS = 150
#: the pull to the centre, against the repulsion: keeps files with no drawn edge near the rest
GRAVITY = 0.4


def group_of(path: str) -> str:
    """A file's colour group: its directory cut to two levels ("mypy/server"), "." at the root.

    Two levels because the first alone is often one name for the whole project
    (``mypy``) and deeper ones give each file its own colour; a leading ``src/`` is
    skipped for the same reason."""
    d = posixpath.dirname(path)
    if d == "src" or d.startswith("src/"):
        d = d[4:]
    return "/".join(d.split("/")[:2]) if d else "."


def language_of(path: str) -> str:
    """The extension as a language label, for the graph's hover text."""
    ext = posixpath.splitext(path)[1]
    return ext[1:] if ext else ""


def files_view(ranking: Ranking) -> list[dict[str, Any]]:
    """Every mapped file in rank order (the order of ``ripmap --format json``)."""
    scores = ranking.score_values[ranking.order]
    return [{"path": p, "rank": i + 1, "score": round(float(s), 10)}
            for i, (p, s) in enumerate(zip(ranking.files, scores.tolist()))]


def graph_view(ranking: Ranking, W: sp.spmatrix | None, top: int = GRAPH_TOP) -> dict[str, Any]:
    """The reference graph among the ``top`` ranked files: nodes with score, group and a
    position, the strongest edges (referrer → definer, weight = weighted references)."""
    idx = np.asarray(ranking.order[:max(0, top)], dtype=np.int64)
    paths = [ranking.paths[i] for i in idx.tolist()]
    scores = ranking.score_values[idx]
    rows = cols = np.zeros(0, dtype=np.int64)
    data = np.zeros(0)
    if W is not None and len(idx) > 1:
        # a factored graph (ripmap.rank.edges.FileGraph) gives the edges among a few files itself
        sub = (W.among(idx) if hasattr(W, "among") else sp.csr_matrix(W)[idx][:, idx]).tocoo()
        keep = (sub.row != sub.col) & (sub.data > 0)
        best = np.argsort(-sub.data[keep], kind="stable")[:EDGES_PER_NODE * len(idx)]
        rows, cols, data = sub.row[keep][best], sub.col[keep][best], sub.data[keep][best]
    xy = force_layout(paths, rows, cols, data)
    nodes = [{"id": p, "rank": r + 1, "score": round(float(s), 10), "group": group_of(p), "lang": language_of(p),
              "x": round(float(x), 1), "y": round(float(y), 1)}
             for r, (p, s, (x, y)) in enumerate(zip(paths, scores.tolist(), xy.tolist()))]
    edges = [{"source": paths[r], "target": paths[c], "weight": round(float(w), 6)}
             for r, c, w in zip(rows.tolist(), cols.tolist(), data.tolist())]
    return {"nodes": nodes, "edges": edges}


def force_layout(paths: list[str], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                 iterations: int = LAYOUT_ITERATIONS) -> np.ndarray:
    """Positions for a small graph (Fruchterman-Reingold, vectorized), deterministic.

    Laid out here rather than in the browser: for the few dozen nodes drawn this costs
    a few milliseconds of numpy, where a force layout in the page took a good part of a
    re-rank's time budget; and the same inputs give the same picture, in the live page
    and in the export alike. Each file starts at an angle drawn from its path's hash,
    so a file that stays in the top tends to stay in the same region across re-ranks.
    Edges pull with their weight's square root (relative to the strongest); a weak pull
    to the centre keeps files with no drawn edge in view.
    """
    n = len(paths)
    if n == 0:
        return np.zeros((0, 2))
    seeds = np.array([zlib.crc32(p.encode("utf-8")) for p in paths], dtype=np.float64)
    angle = (seeds % 3600.0) / 3600.0 * 2 * np.pi
    radius = 0.25 + 0.75 * ((seeds // 3600.0) % 1000.0) / 1000.0
    pos = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]) * (LAYOUT_SIZE / 2)
    if n == 1:
        return np.zeros((1, 2))
    k = LAYOUT_SIZE / np.sqrt(n) * 0.55  # the spacing the forces settle towards
    w = np.sqrt(weights / weights.max()) if len(weights) else weights
    temp = LAYOUT_SIZE / 10
    k2 = k * k
    x, y = pos[:, 0].copy(), pos[:, 1].copy()
    diag = np.eye(n, dtype=bool)
    for _ in range(iterations):
        dx = x[:, None] - x[None, :]
        dy = y[:, None] - y[None, :]
        d2 = dx * dx + dy * dy + 1e-6
        d2[diag] = np.inf
        f = k2 / d2  # repulsion, every pair: k² / distance
        fx = (f * dx).sum(1)
        fy = (f * dy).sum(1)
        if len(rows):
            ex = x[rows] - x[cols]
            ey = y[rows] - y[cols]
            a = np.sqrt(ex * ex + ey * ey) * w / k  # attraction along drawn edges: distance² / k
            fx += np.bincount(cols, a * ex, n) - np.bincount(rows, a * ex, n)
            fy += np.bincount(cols, a * ey, n) - np.bincount(rows, a * ey, n)
        g = GRAVITY * np.sqrt(x * x + y * y) / k  # gravity
        fx -= g * x
        fy -= g * y
        length = np.sqrt(fx * fx + fy * fy) + 1e-9
        step = np.minimum(length, temp) / length
        x += fx * step
        y += fy * step
        temp = max(LAYOUT_SIZE / 400, temp * 0.95)
    pos = np.column_stack([x, y])
    pos -= pos.mean(0)
    return pos


def explain_view(ranking: Ranking, path: str) -> dict[str, Any]:
    """One file's rank and per-signal breakdown (``ripmap --explain --format json``)."""
    return ranking.explain(path).as_dict()


def ranking_view(ranking: Ranking, W: sp.spmatrix | None, top: int = GRAPH_TOP) -> dict[str, Any]:
    """What the page draws for one ranking: the list, the graph and how the focus was read."""
    return {"files": files_view(ranking), "graph": graph_view(ranking, W, top), "query": ranking.query_dict(),
            "chat": list(ranking.chat_files), "params": ranking.params.to_dict()}


def map_view(text: str, tokens: int, budget: int, counter: str, shown: int) -> dict[str, Any]:
    """The text map as the page shows it, with what it costs."""
    return {"text": text, "tokens": tokens, "budget": budget, "counter": counter, "files_shown": shown}


def asset(name: str) -> str:
    """One file of the page (``page.html``, ``app.js``, ...) from the package data."""
    return (resources.files("ripmap.web") / "static" / name).read_text(encoding="utf-8")


def _script_json(data: Mapping[str, Any]) -> str:
    """JSON safe inside a ``<script>`` block: no ``<`` survives to close it."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def served_page() -> str:
    """The page ``ripmap serve`` sends: assets linked from the server, data fetched live."""
    css = '<link rel="stylesheet" href="static/app.css">'
    js = '<script src="static/vendor/cytoscape.min.js"></script>\n<script src="static/app.js"></script>'
    return _fill(css, js, "", SERVED_CSP)


def static_page(data: Mapping[str, Any]) -> str:
    """The self-contained page: every asset and ``data`` inline, nothing fetched."""
    css = f"<style>\n{asset('app.css')}\n</style>"
    js = "\n".join("<script>\n" + asset(n).replace("</script", "<\\/script") + "\n</script>"
                   for n in ("vendor/cytoscape.min.js", "app.js"))
    blob = f'<script type="application/json" id="ripmap-data">{_script_json(data)}</script>'
    return _fill(css, js, blob, STATIC_CSP)


def _fill(css: str, js: str, data: str, csp: str) -> str:
    page = asset("page.html")
    for key, value in (("<!--CSP-->", csp), ("<!--STYLE-->", css), ("<!--DATA-->", data), ("<!--SCRIPTS-->", js)):
        page = page.replace(key, value, 1)
    return page


def static_data(ranking: Ranking, W: sp.spmatrix | None, *, title: str, root: str, map_: Mapping[str, Any],
                top: int = GRAPH_TOP, explain_top: int = EXPLAIN_TOP) -> dict[str, Any]:
    """Everything the exported page shows: the ranking view, the top files' explanations
    and the text map, under ``mode: "static"`` so the page asks no server."""
    return {"mode": "static", "title": title, "root": root, "ranking": ranking_view(ranking, W, top),
            "focus": ranking.query.text if ranking.query is not None else "",
            "explains": {p: explain_view(ranking, p) for p in ranking.files[:explain_top]},
            "explain_top": explain_top, "map": dict(map_)}
