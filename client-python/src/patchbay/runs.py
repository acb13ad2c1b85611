"""Node listings, and attribution runs saved to disk and read back.

A saved run is one ``.npz`` file (numpy's zip of arrays): ``effects_<i>`` holds the values of the i-th
effects block (shape (positions, units), or (units,) over all positions), and ``meta`` holds one JSON
document, ``{"format": "patchbay-run", "version": 1, "events": [...]}``, listing every event of the stream in
order; an effects event names its array (``"values": "effects_0"``). Any numpy can read it without this
client.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from patchbay import events as ev
from patchbay.names import SITES, WHOLE_LAYER, node_name
from patchbay.requests import NodeSpec, node_set
from patchbay.v1 import patchbay_pb2 as pb

FORMAT = "patchbay-run"
VERSION = 1
_EVENT_TYPES: dict[str, type] = {t.__name__.lower(): t for t in
                                 (ev.Accepted, ev.Progress, ev.Verified, ev.Summary, ev.Diagnostic)}


@dataclass(frozen=True)
class NodeInfo:
    """One node: its name (``L3H2``, ``L0H1.k@4``, ``L2N17@3``, ``L1.mlp``), kind ("q", "k", "v", "z",
    "post", "attn_out", "mlp_out", "resid_pre"), layer, unit (head, key/value head or neuron; 0 for whole-layer
    nodes) and position (-1: over all positions)."""
    name: str
    kind: str
    layer: int
    unit: int
    position: int


def list_nodes(model: pb.ModelInfo, nodes: NodeSpec = "heads",
               positions: Iterable[int] | None = None) -> list[NodeInfo]:
    """The nodes a node set means for ``model``, in order of layer, kind, position and unit.

    positions: the positions of per-position node sets (e.g. ``range(len(tokens))``), unless the node set
    names them itself.
    """
    spec = node_set(nodes)
    layers = list(spec.layers) or list(range(model.n_layers))
    bad = [layer for layer in layers if not 0 <= layer < model.n_layers]
    if bad:
        raise ValueError(f"nodes: layers {bad} are outside the model's {model.n_layers}")
    at = [-1]
    if spec.per_position:
        chosen = list(spec.positions) or (list(positions) if positions is not None else None)
        if chosen is None:
            raise ValueError("positions: per-position nodes need the positions, e.g. range(len(tokens))")
        at = chosen
    units = {pb.QUERY: model.n_heads, pb.HEAD_OUTPUT: model.n_heads, pb.KEY: model.n_kv_heads,
             pb.VALUE: model.n_kv_heads, pb.NEURON: model.d_mlp}
    out = []
    for layer in layers:
        for kind in spec.kinds:
            count = 1 if kind in WHOLE_LAYER else units[kind]
            for position in at:
                for unit in range(count):
                    out.append(NodeInfo(node_name(kind, layer, unit, position), SITES[kind], layer, unit, position))
    return out


def save(events: list, path: str | os.PathLike) -> None:
    """Writes a run's events to ``path`` (an .npz file; numpy adds the suffix if it is missing)."""
    arrays: dict[str, np.ndarray] = {}
    described = []
    for event in events:
        if isinstance(event, ev.Effects):
            key = f"effects_{len(arrays)}"
            arrays[key] = event.values
            described.append({"type": "effects", "site": event.site, "layer": event.layer,
                              "positions": list(event.positions), "kind": event.kind, "values": key})
        else:
            described.append({"type": type(event).__name__.lower(), **dataclasses.asdict(event)})
    meta = json.dumps({"format": FORMAT, "version": VERSION, "events": described})
    # cast: numpy's stubs type the keyword arrays as if they were its allow_pickle flag.
    cast(Any, np.savez_compressed)(path, meta=np.array(meta), **arrays)


def load(path: str | os.PathLike) -> list:
    """The events of a run that ``save`` wrote."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"{os.fspath(path)}: not a saved Patchbay run (format {meta.get('format')!r}, "
                             f"version {meta.get('version')!r})")
        events: list = []
        for e in meta["events"]:
            kind = e.pop("type")
            if kind == "effects":
                events.append(ev.Effects(e["site"], e["layer"], e["positions"], data[e["values"]], e["kind"]))
            elif kind == "diagnostic":
                e["flagged"] = [tuple(f) for f in e["flagged"]]
                events.append(ev.Diagnostic(**e))
            else:
                events.append(_EVENT_TYPES[kind](**e))
        return events


def as_array(effects: list[ev.Effects], kind: str) -> np.ndarray:
    """The estimates of one node kind as TransformerLens's patching functions shape them: [layer, unit] for
    nodes over all positions, [layer, unit, position] for per-position ones (NaN for layers not scored)."""
    if kind not in SITES.values():
        raise ValueError(f"kind: unknown {kind!r}; use one of {list(SITES.values())}")
    blocks = [b for b in effects if b.site == kind]
    if not blocks:
        raise ValueError(f"kind: the run has no {kind!r} nodes; it has {sorted({b.site for b in effects})}")
    layers = max(b.layer for b in blocks) + 1
    first = blocks[0]
    if first.positions:
        out = np.full((layers, first.units, len(first.positions)), np.nan)
        for b in blocks:
            out[b.layer] = b.values.T
    else:
        out = np.full((layers, first.units), np.nan)
        for b in blocks:
            out[b.layer] = b.values
    return out
