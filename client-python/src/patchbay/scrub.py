"""Causal scrubbing: building a Scrub request from claims, and its events typed."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from patchbay import events as ev
from patchbay.requests import METRICS, Pairs, pair_list
from patchbay.v1 import patchbay_pb2 as pb


@dataclass(frozen=True)
class ScrubSample:
    """One sample: its reference pair's metric on the pair's own prompt, on the scrubbed tree, on a random input."""
    index: int
    pair: int
    original: float
    scrubbed: float
    resampled: float


@dataclass(frozen=True)
class ScrubResult:
    """The fraction of the behaviour the hypothesis explains, (scrubbed - resampled) / (original - resampled) in
    means, its 95% interval, the means, the model runs per sample and the hypothesis's edges (writers unfolded)."""
    recovered: float
    low: float
    high: float
    original: float
    scrubbed: float
    resampled: float
    runs_per_sample: int
    edges: list[str]


def convert(event: pb.ScrubEvent):
    kind = event.WhichOneof("event")
    if kind == "sample":
        s = event.sample
        return ScrubSample(s.index, s.pair, s.original, s.scrubbed, s.resampled)
    if kind == "result":
        r = event.result
        return ScrubResult(r.recovered, r.low, r.high, r.original, r.scrubbed, r.resampled, r.runs_per_sample,
                           list(r.edges))
    wrapped = pb.AttributeEvent()
    getattr(wrapped, kind).CopyFrom(getattr(event, kind))
    return ev.convert(wrapped)


def request(model: str, pairs: Pairs, claims: Mapping[str, Sequence[Any]], *, samples: int | None, seed: int,
            metric: str, allow_unknown_tokens: bool) -> pb.ScrubRequest:
    """The ScrubRequest: ``claims`` maps a part (an edge such as "L0H1->L1H0.k", or a writer: "embed", "L1H0",
    "L2.mlp") to one label per pair; labels are compared as text."""
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; use one of {sorted(METRICS)}")
    messages = pair_list(pairs)
    scrub_claims = []
    for part, labels in claims.items():
        labels = [str(label) for label in labels]
        if len(labels) != len(messages):
            raise ValueError(f"claims[{part!r}]: {len(labels)} labels for {len(messages)} pairs; give one per pair")
        scrub_claims.append(pb.ScrubClaim(part=part, labels=labels))
    return pb.ScrubRequest(model=model, pairs=messages, metric=METRICS[metric], claims=scrub_claims,
                           samples=samples or 0, seed=seed, allow_unknown_tokens=allow_unknown_tokens)
