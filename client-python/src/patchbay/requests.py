"""Building requests from plain Python values."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from patchbay.v1 import patchbay_pb2 as pb

METHODS = {"ap": pb.ACTIVATION_PATCHING, "activation-patching": pb.ACTIVATION_PATCHING, "atp": pb.ATP,
           "atp-qk": pb.ATP_QK, "atp-star": pb.ATP_STAR, "iterative": pb.ITERATIVE, "subsampling": pb.SUBSAMPLING,
           "blocks": pb.BLOCKS, "hierarchical": pb.HIERARCHICAL}
METRICS = {"logit_diff": pb.LOGIT_DIFF, "log_prob": pb.LOG_PROB, "prob": pb.PROB, "kl_divergence": pb.KL_DIVERGENCE}
KINDS = {"q": pb.QUERY, "k": pb.KEY, "v": pb.VALUE, "z": pb.HEAD_OUTPUT, "post": pb.NEURON,
         "attn_out": pb.ATTN_OUT, "mlp_out": pb.MLP_OUT, "resid_pre": pb.RESIDUAL}
NODE_SETS: dict[str, dict[str, Any]] = {
    "heads": dict(kinds=["z"], per_position=False),
    "attention": dict(kinds=["q", "k", "v", "z"], per_position=True),
    "neurons": dict(kinds=["post"], per_position=True),
    "all": dict(kinds=["q", "k", "v", "z", "post"], per_position=True),
}

Prompt = str | Sequence[int]
TokenSpec = str | int | Sequence[str | int]


@dataclass
class Pair:
    """A clean prompt and a noise prompt of the same token length (text or token ids), with answer tokens.

    ``answer`` and ``wrong`` are single tokens given as text (" Mary") or ids, or lists of them.
    ``position`` is where the metric is read; None means the final token.
    """
    clean: Prompt
    noise: Prompt
    answer: TokenSpec = field(default_factory=list)
    wrong: TokenSpec = field(default_factory=list)
    position: int | None = None

    def to_proto(self) -> pb.PromptPair:
        out = pb.PromptPair(clean=_prompt(self.clean), noise=_prompt(self.noise),
                            answers=_tokens(self.answer), wrongs=_tokens(self.wrong))
        if self.position is not None:
            out.position = self.position
        return out


#: One pair as the calls take it: a Pair, a (clean, noise, answer, wrong) tuple, a dict of Pair's fields, or a
#: PromptPair message.
PairLike = Pair | pb.PromptPair | dict[str, Any] | tuple[Any, ...]
#: One pair or a list of them (a distribution).
Pairs = PairLike | Sequence[PairLike]
#: "heads", "attention", "neurons", "all", a dict (kinds, layers, per_position, positions), or a NodeSet.
NodeSpec = str | dict[str, Any] | pb.NodeSet


def pair(value: PairLike) -> pb.PromptPair:
    """A Pair, a (clean, noise, answer, wrong) tuple, a dict of Pair's fields, or a PromptPair message."""
    if isinstance(value, pb.PromptPair):
        return value
    if isinstance(value, Pair):
        return value.to_proto()
    if isinstance(value, dict):
        return Pair(**value).to_proto()
    return Pair(*value).to_proto()


def pair_list(pairs: Pairs) -> list[pb.PromptPair]:
    """One pair, or a list or tuple of them, as messages. A tuple whose first item is a prompt is one pair."""
    one = isinstance(pairs, (Pair, dict, pb.PromptPair)) or (
        isinstance(pairs, tuple) and not (pairs and isinstance(pairs[0], (Pair, dict, pb.PromptPair, tuple))))
    items: Sequence[Any] = [pairs] if one else list(pairs)  # type: ignore[arg-type]
    if not items:
        raise ValueError("pairs: at least one pair is needed")
    return [pair(p) for p in items]


def node_set(nodes: NodeSpec) -> pb.NodeSet:
    """"heads", "attention", "neurons", "all", a dict, or a NodeSet.

    A dict has ``kinds`` (a list of "q", "k", "v" (per key/value head under grouped-query attention), "z" (a
    head's output), "post" (an MLP neuron), "attn_out", "mlp_out", "resid_pre" (whole-layer nodes)),
    ``layers`` (default: all), ``per_position`` (one node per token position, else one over all positions) and
    ``positions`` (default: every position), e.g. ``{"kinds": ["z", "post"], "layers": [0, 1]}``.
    """
    if isinstance(nodes, pb.NodeSet):
        return nodes
    if isinstance(nodes, str) and nodes not in NODE_SETS:
        raise ValueError(f"nodes: unknown {nodes!r}; use one of {sorted(NODE_SETS)} or a dict")
    spec: dict[str, Any] = NODE_SETS[nodes] if isinstance(nodes, str) else dict(nodes)
    unknown_keys = set(spec) - {"kinds", "layers", "per_position", "positions"}
    if unknown_keys:
        raise ValueError(f"nodes: unknown keys {sorted(unknown_keys)}; use kinds, layers, per_position, positions")
    for k in spec.get("kinds", []):
        if isinstance(k, str) and k not in KINDS:
            raise ValueError(f"nodes: unknown kind {k!r}; use some of {list(KINDS)}")
    kinds = [KINDS[k] if isinstance(k, str) else k for k in spec.get("kinds", [])]
    return pb.NodeSet(kinds=kinds, layers=spec.get("layers", []), per_position=spec.get("per_position", False),
                      positions=spec.get("positions", []))


def attribute_request(model: str, pairs: Pairs, method: str | None = None, nodes: NodeSpec = "heads",
                      metric: str = "logit_diff", verify_top_k: int = 0, baseline: dict[str, Any] | None = None,
                      verify_budget: float = 0.0, allow_unknown_tokens: bool = False,
                      recompute_layers: bool = False) -> pb.AttributeRequest:
    """baseline: the baselines' settings, a dict of BaselineOptions fields (seed, samples,
    inclusion_probability, block_size, branching, max_group_patches). allow_unknown_tokens: read words the
    vocabulary lacks as its unknown token instead of refusing them. recompute_layers: AtP and AtP with the QK fix
    recompute each layer in the backward (one layer's graph of memory; the server chooses it by itself when the
    plain pass does not fit)."""
    if method is not None and method not in METHODS:
        raise ValueError(f"method: unknown {method!r}; use one of {sorted(METHODS)}")
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; use one of {sorted(METRICS)}")
    return pb.AttributeRequest(model=model, pairs=pair_list(pairs),
                               method=METHODS[method] if method is not None else None, nodes=node_set(nodes),
                               metric=METRICS[metric], verify_top_k=verify_top_k,
                               verify_budget=verify_budget, baseline=pb.BaselineOptions(**(baseline or {})),
                               allow_unknown_tokens=allow_unknown_tokens, recompute_layers=recompute_layers,
                               packed_values=True)


def _prompt(p: Prompt) -> pb.Prompt:
    return pb.Prompt(text=p) if isinstance(p, str) else pb.Prompt(ids=pb.TokenIds(ids=list(p)))


def _tokens(spec: TokenSpec) -> list[pb.Token]:
    items = [spec] if isinstance(spec, (str, int)) else list(spec)
    return [pb.Token(text=t) if isinstance(t, str) else pb.Token(id=t) for t in items]
