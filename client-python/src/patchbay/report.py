"""The interactive report: one self-contained HTML file of a finished run (``run.to_html(path)``), viewed with no
network: a head heatmap with hover values, the circuit graph of an edge run (zoom, hover, a slider for how many
edges, search by name), verification, the diagnostic's bounds and the run's metadata. The page and its bundled
ECharts come from ``report/`` in the repository (``report/build.sh`` copies them here, as ``report_assets``)."""
from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from patchbay import events as ev

#: The most edges a report carries (largest |estimate| first, every verified one among them): its slider shows any
#: top n of them; the whole graph of a large model (tens of millions of edges) would not open in a browser.
MAX_EDGES = 2000


def _number(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _asset(name: str) -> str:
    folder = resources.files("patchbay") / "report_assets"
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is missing from the patchbay package's report_assets: run report/build.sh in"
                                " the repository (it installs the report's JavaScript from npm), then reinstall")
    return path.read_text(encoding="utf-8")


def _metadata(run, title: str | None, what: str) -> dict[str, Any]:
    from patchbay.plots import magnitudes

    summary = run.summary
    accepted = next((e for e in run.events if isinstance(e, ev.Accepted)), None)
    method = summary.method if summary else (accepted.method if accepted else "")
    return {
        "title": title or f"Patchbay {what}: {method}" + (f" on {run.model}" if run.model else ""),
        "model": run.model,
        "method": method,
        "metric": summary.metric if summary else "",
        "pairs": summary.pairs if summary else 0,
        "magnitudes": magnitudes(run),
        "clean_metric": _number(summary.clean_metric) if summary else None,
        "noise_metric": _number(summary.noise_metric) if summary else None,
        "forward_passes": _number(summary.forward_passes) if summary else None,
        "wall_seconds": _number(summary.wall_seconds) if summary else None,
    }


def _diagnostic(d, count: int) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"count": count, "max_upper_bound": _number(d.max_upper_bound), "threshold": _number(d.threshold),
            "alpha": d.alpha, "expected_missed": _number(d.expected_missed),
            "flagged": [[name, _number(bound)] for name, bound in d.flagged]}


def node_data(run, title: str | None = None) -> dict[str, Any]:
    """A node run's report data: every node, ranked by |estimate|."""
    table = run.to_dataframe()
    nodes = [{"name": r.name, "site": r.site, "layer": int(r.layer), "unit": int(r.unit), "position": int(r.position),
              "estimate": float(r.estimate), "verified_effect": _number(r.verified_effect), "rank": rank}
             for rank, r in enumerate(table.itertuples(index=False), 1)]
    diagnostic = next((e for e in run.events if isinstance(e, ev.Diagnostic)), None)
    return {**_metadata(run, title, "attribution"), "nodes": nodes, "edges": [], "heads_per_layer": 0,
            "n_layers": 0, "diagnostic": _diagnostic(diagnostic, diagnostic.nodes if diagnostic else 0)}


def edge_data(run, title: str | None = None, max_edges: int = MAX_EDGES) -> dict[str, Any]:
    """An edge run's report data: its top ``max_edges`` edges by |estimate| (ranked), with the verified ones."""
    table = run.top(max_edges)
    blocks = run.blocks()
    edges = [{"name": r.name, "writer": r.writer, "reader": r.reader, "estimate": float(r.estimate),
              "verified_effect": _number(r.verified_effect), "rank": rank}
             for rank, r in enumerate(table.itertuples(index=False), 1)]
    diagnostic = run.diagnostic
    return {**_metadata(run, title, "edge attribution"), "nodes": [], "edges": edges,
            "heads_per_layer": max(b.heads_per_layer for b in blocks) if blocks else 0,
            "n_layers": max(b.layer for b in blocks) if blocks else 0,  # the logits' group has layer n_layers
            "diagnostic": _diagnostic(diagnostic, diagnostic.edges if diagnostic else 0)}


def html(data: dict[str, Any]) -> str:
    """The page with ``data`` and ECharts inlined. The data's JSON is made safe inside a script element (no
    ``</`` closes it early)."""
    page = _asset("template.html")
    payload = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    title = data["title"].replace("&", "&amp;").replace("<", "&lt;")
    # The data last: a run's names and metric texts must not be read as placeholders.
    return (page.replace("__PATCHBAY_TITLE__", title)
                .replace("__PATCHBAY_ECHARTS__", _asset("echarts.min.js"))
                .replace("__PATCHBAY_DATA__", payload))


def write(data: dict[str, Any], path: str | Path) -> str:
    Path(path).write_text(html(data), encoding="utf-8")
    return str(path)
