"""Typed results of the streaming RPCs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchbay.names import SITES, WHOLE_LAYER, node_name, node_names
from patchbay.v1 import patchbay_pb2 as pb

_PACKED = {pb.FLOAT32_LE: "<f4", pb.FLOAT64_LE: "<f8"}


def block_values(b) -> np.ndarray:
    """A block's values in its shape: packed bytes read in place (``numpy.frombuffer``, read-only, no copy), or the
    repeated field of a request that did not ask for packed values."""
    dtype = _PACKED.get(b.encoding)
    flat = np.frombuffer(b.packed, dtype=dtype) if dtype else np.asarray(b.values, dtype=np.float32)
    return flat.reshape(tuple(b.shape))


@dataclass(frozen=True)
class Accepted:
    request_id: str
    node_count: int
    planned_forward_passes: float
    method: str
    metric: str
    #: What ``node_count`` counts: "nodes", "edges", "groups", "circuits", "points", "samples" or "prompts".
    count_unit: str = ""
    #: How the server runs the method where it had a choice, and why (e.g. per-layer recomputation for a long
    #: prompt); empty for the plain pass.
    variant: str = ""


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class Effects:
    """All nodes of one kind in one layer: ``values`` has shape (positions, units), or (units,) over all positions.

    Node names are made only when asked for (``names``, ``name(i)``): a response can hold millions of nodes.
    """
    site: str
    layer: int
    positions: list[int]
    values: np.ndarray
    kind: int

    @property
    def units(self) -> int:
        return int(self.values.shape[-1])

    def unit(self, i: int) -> int:
        """The head, key/value head or neuron of flat index ``i`` (0 for whole-layer nodes)."""
        return 0 if self.kind in WHOLE_LAYER else i % self.units

    def position(self, i: int) -> int:
        """The position of flat index ``i``, -1 for a node over all positions."""
        return self.positions[i // self.units] if self.positions else -1

    def name(self, i: int) -> str:
        """The name of the node at flat index ``i`` of ``values``."""
        return node_name(self.kind, self.layer, self.unit(i), self.position(i))

    def units_and_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Each node's unit and position, in the order of ``values.reshape(-1)``."""
        index = np.arange(self.values.size)
        units = np.zeros_like(index) if self.kind in WHOLE_LAYER else index % self.units
        positions = np.asarray(self.positions)[index // self.units] if self.positions else np.full_like(index, -1)
        return units, positions

    @property
    def names(self) -> list[str]:
        """Every node's name, in the order of ``values.reshape(-1)``."""
        return node_names(self.kind, self.layer, *self.units_and_positions()).tolist()


@dataclass(frozen=True)
class Verified:
    rank: int
    name: str
    site: str
    layer: int
    unit: int
    position: int
    estimate: float
    effect: float


@dataclass(frozen=True)
class Summary:
    method: str
    metric: str
    pairs: int
    clean_metric: float
    noise_metric: float
    forward_passes: float
    compute_forward_equivalents: float
    wall_seconds: float
    cache_hits: int
    cache_misses: int
    shared_batches: int
    #: The scores are magnitudes (>= 0, no sign: AtP*, or a mean |estimate| over pairs), not signed effects.
    magnitudes: bool = False


@dataclass(frozen=True)
class Diagnostic:
    """Bounds on the effects of the nodes left unverified; ``flagged`` (name, upper bound) should be verified next."""
    nodes: int
    max_upper_bound: float
    threshold: float
    alpha: float
    flagged: list[tuple[str, float]]
    expected_missed: float
    forward_passes: float


def convert(event: pb.AttributeEvent):
    kind = event.WhichOneof("event")
    if kind == "accepted":
        a = event.accepted
        return Accepted(a.request_id, a.node_count, a.planned_forward_passes, a.method, a.metric, a.count_unit,
                        a.variant)
    if kind == "progress":
        return Progress(event.progress.stage, event.progress.done, event.progress.total)
    if kind == "block":
        b = event.block
        values = block_values(b)
        return Effects(SITES[b.kind], b.layer, list(b.positions), values, b.kind)
    if kind == "verified":
        v, n = event.verified, event.verified.node
        return Verified(v.rank, n.name, SITES[n.kind], n.layer, n.unit, n.position, v.estimate, v.effect)
    if kind == "summary":
        s = event.summary
        return Summary(s.method, s.metric, s.pairs, s.clean_metric, s.noise_metric, s.forward_passes,
                       s.compute_forward_equivalents, s.wall_seconds, s.cache_hits, s.cache_misses, s.shared_batches,
                       s.magnitudes)
    if kind == "diagnostic":
        d = event.diagnostic
        return Diagnostic(d.nodes, d.max_upper_bound, d.threshold, d.alpha,
                          [(b.node.name, b.upper_bound) for b in d.flagged], d.expected_missed, d.forward_passes)
    raise ValueError(f"an event this client does not know: {kind}")
