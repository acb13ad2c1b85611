"""Typed results of AttributeEdges: edge blocks, verified edges, the diagnostic, and their data frame."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchbay import events as ev
from patchbay.names import READERS, reader_name, writer_names
from patchbay.v1 import patchbay_pb2 as pb

#: An edge method's name, as in ``Client.attribute_edges(method=...)``.
METHODS: dict[str, pb.EdgeMethod] = {"exact": pb.EXACT_EDGE_PATCHING, "eap": pb.EAP, "eap-ig": pb.EAP_IG,
                           "atp-star": pb.EDGE_ATP_STAR}


@dataclass(frozen=True)
class EdgeBlock:
    """One reader group's edges (one kind of reader in one layer; the logits have layer n_layers): ``values`` has
    shape (positions, readers, writers), or (readers, writers) over all positions. Writers are numbered embed, then
    per layer its heads and its MLP; names are made only when asked for."""
    reader: str
    layer: int
    readers: int
    writers: int
    heads_per_layer: int
    positions: list[int]
    values: np.ndarray
    reader_kind: int

    def columns(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The writer names, reader names and positions of the flat indices ``index`` of ``values``."""
        per_position = self.readers * self.writers
        writers = writer_names(self.writers, self.heads_per_layer)[index % self.writers]
        reader_names = np.asarray([reader_name(self.reader_kind, self.layer, r) for r in range(self.readers)])
        readers = reader_names[(index % per_position) // self.writers]
        positions = (np.asarray(self.positions)[index // per_position] if self.positions
                     else np.full(index.shape, -1))
        return writers, readers, positions


@dataclass(frozen=True)
class VerifiedEdge:
    rank: int
    name: str
    estimate: float
    effect: float


@dataclass(frozen=True)
class EdgeDiagnostic:
    """Bounds on the effects of the edges left unverified; ``flagged`` (name, upper bound) should be verified next."""
    edges: int
    max_upper_bound: float
    threshold: float
    alpha: float
    flagged: list[tuple[str, float]]
    expected_missed: float
    forward_passes: float


def convert(event: pb.AttributeEdgesEvent):
    kind = event.WhichOneof("event")
    if kind == "block":
        b = event.block
        values = ev.block_values(b)
        return EdgeBlock(READERS[b.reader_kind], b.reader_layer, b.readers, b.writers, b.heads_per_layer,
                         list(b.positions), values, b.reader_kind)
    if kind == "verified":
        v = event.verified
        return VerifiedEdge(v.rank, v.edge.name, v.estimate, v.effect)
    if kind == "diagnostic":
        d = event.diagnostic
        return EdgeDiagnostic(d.edges, d.max_upper_bound, d.threshold, d.alpha,
                              [(b.edge.name, b.upper_bound) for b in d.flagged], d.expected_missed, d.forward_passes)
    # Accepted, Progress and Summary are Attribute's own messages.
    wrapped = pb.AttributeEvent()
    getattr(wrapped, kind).CopyFrom(getattr(event, kind))
    return ev.convert(wrapped)


COLUMNS = ["name", "writer", "reader", "kind", "layer", "position", "estimate", "verified_effect"]


def rows(blocks: list[EdgeBlock], verified: list[VerifiedEdge], k: int | None):
    """One row per edge (or the k of largest |estimate|), largest first, ties in the server's order; names are made
    for the chosen rows only."""
    import pandas as pd

    if not blocks:
        return pd.DataFrame(columns=COLUMNS)
    flat = np.concatenate([b.values.reshape(-1) for b in blocks]).astype(np.float64)
    block_of = np.concatenate([np.full(b.values.size, j) for j, b in enumerate(blocks)])
    index_in = np.concatenate([np.arange(b.values.size) for b in blocks])
    magnitude = np.abs(flat)
    if k is not None and k < flat.size:
        chosen = np.array([], dtype=np.int64)
        if k > 0:
            kth = np.partition(magnitude, -k)[-k]
            above = np.nonzero(magnitude > kth)[0]
            chosen = np.concatenate([above, np.nonzero(magnitude == kth)[0][: k - above.size]])
        order = chosen[np.lexsort((chosen, -magnitude[chosen]))]
    else:
        order = np.argsort(-magnitude, kind="stable")
    writers = np.empty(order.size, dtype=object)
    readers = np.empty(order.size, dtype=object)
    positions = np.empty(order.size, dtype=np.int64)
    for j, b in enumerate(blocks):
        chosen_rows = np.nonzero(block_of[order] == j)[0]
        if chosen_rows.size:
            writers[chosen_rows], readers[chosen_rows], positions[chosen_rows] = b.columns(
                index_in[order[chosen_rows]])
    at = np.where(positions < 0, "", np.char.add("@", positions.astype(str)))
    names = np.char.add(np.char.add(np.char.add(writers.astype(str), "->"), readers.astype(str)), at)
    effects = {v.name: v.effect for v in verified}
    return pd.DataFrame({
        "name": names,
        "writer": writers.astype(str),
        "reader": readers.astype(str),
        "kind": [blocks[j].reader for j in block_of[order]],
        "layer": [blocks[j].layer for j in block_of[order]],
        "position": positions,
        "estimate": flat[order],
        "verified_effect": [effects.get(n, np.nan) for n in names],
    }, columns=COLUMNS)


#: A circuit ablation's name, as in ``Client.evaluate_circuit(ablation=...)``.
ABLATIONS: dict[str, pb.Ablation] = {"resample": pb.RESAMPLE, "mean": pb.MEAN, "zero": pb.ZERO,
                                     "noise": pb.NOISE_PROMPT}


@dataclass(frozen=True)
class CircuitPoint:
    """One circuit's faithfulness (m(circuit) - m(empty)) / (m(full) - m(empty)): the mean over pairs, its 95%
    interval (NaN for one pair) and each pair's."""
    name: str
    size: int
    faithfulness: float
    low: float
    high: float
    per_pair: list[float]


def convert_circuit(event: pb.CircuitEvent):
    kind = event.WhichOneof("event")
    if kind == "point":
        p = event.point
        return CircuitPoint(p.name, p.size, p.faithfulness, p.low, p.high, list(p.per_pair))
    wrapped = pb.AttributeEvent()
    getattr(wrapped, kind).CopyFrom(getattr(event, kind))
    return ev.convert(wrapped)


def circuit_request(model: str, pairs, *, circuits, ablation: str | None, ranking: str | None, sizes, seed: int,
                    ig_steps: int,
                    metric: pb.MetricKind, allow_unknown_tokens: bool) -> pb.EvaluateCircuitRequest:
    """The EvaluateCircuitRequest: circuits as {name: [edge names]} or a list of edge-name lists, else a prune curve
    of ``ranking``'s top-n edges for each n of ``sizes``."""
    if ablation is not None and ablation not in ABLATIONS:
        raise ValueError(f"ablation: unknown {ablation!r}; use one of {sorted(ABLATIONS)}")
    if ranking is not None and ranking not in METHODS:
        raise ValueError(f"ranking: unknown edge method {ranking!r}; use one of {sorted(METHODS)}")
    # None leaves a field unset: the server's default, written once, in its operation.
    request = pb.EvaluateCircuitRequest(model=model, pairs=pairs, metric=metric,
                                        ablation=ABLATIONS[ablation] if ablation is not None else None,
                                        seed=seed, ranking=METHODS[ranking] if ranking is not None else None,
                                        sizes=list(sizes or []),
                                        ig_steps=ig_steps, allow_unknown_tokens=allow_unknown_tokens)
    if circuits is not None:
        named = (circuits.items() if isinstance(circuits, dict)
                 else ((f"circuit {i}", c) for i, c in enumerate(circuits)))
        for name, edges in named:
            request.circuits.add(name=name, edges=list(edges))
    return request


@dataclass(frozen=True)
class DiscoveryStep:
    """One check of a discovery: stage "prefix" (a top-n circuit), "prune" or "acdc" (an edge dropped or kept)."""
    stage: str
    edge: str
    size: int
    faithfulness: float
    kept: bool


@dataclass(frozen=True)
class FoundCircuit:
    edges: list[str]
    faithfulness: float
    forward_passes: float


def convert_discovery(event: pb.DiscoveryEvent):
    kind = event.WhichOneof("event")
    if kind == "step":
        s = event.step
        return DiscoveryStep(s.stage, s.edge, s.size, s.faithfulness, s.kept)
    if kind == "circuit":
        c = event.circuit
        return FoundCircuit(list(c.edges), c.faithfulness, c.forward_passes)
    wrapped = pb.AttributeEvent()
    getattr(wrapped, kind).CopyFrom(getattr(event, kind))
    return ev.convert(wrapped)


#: A discovery search's name, as in ``Client.discover_circuit(search=...)``.
SEARCHES: dict[str, pb.DiscoverySearch] = {"greedy": pb.GREEDY, "acdc": pb.ACDC}
