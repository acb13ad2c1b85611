"""The hand-written layer over the generated stubs in patchbay.v1."""
from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np

from patchbay import edges, features, generate, report, runs, scrub
from patchbay import events as ev
from patchbay.names import node_names, parse_node
from patchbay.requests import METRICS, NodeSpec, Pairs, attribute_request, node_set, pair_list
from patchbay.v1 import patchbay_pb2, patchbay_pb2_grpc


class PatchbayError(Exception):
    """A request the server refused or failed; the message is the server's own."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def of(cls, error: grpc.RpcError) -> PatchbayError:
        return cls(error.code(), error.details())


@dataclass(frozen=True)
class Tokens:
    """Token ids of a text with the token strings the tokenizer spells them as."""

    ids: list[int]
    tokens: list[str]


class _Run:
    """A streaming call's events: iterate to get them typed as they arrive, or collect the call whole."""

    #: message -> typed event; each kind of run sets its own.
    _convert: Callable[[Any], object] = staticmethod(ev.convert)

    def __init__(self, call, progress: bool = False):
        self._call = call
        #: The model the run was asked of (set by the client; empty for a run read back from a file).
        self.model = ""
        self._events: list = []
        self._done = False
        self._bar = _ProgressBar() if progress else None

    @classmethod
    def of_events(cls, events: list):
        """A finished run made of events already received (e.g. read back by ``patchbay.load_run``)."""
        run = cls(None)
        run._events = list(events)
        run._done = True
        return run

    def __iter__(self) -> Iterator:
        yield from self._events
        if self._done:
            return
        try:
            for message in self._call:
                event = self._convert(message)
                self._events.append(event)
                if self._bar is not None:
                    self._bar.show(event)
                yield event
        except grpc.RpcError as e:
            self._finish()
            raise PatchbayError.of(e) from None
        # A loop left early (a break, or next() on a fresh iterator) leaves the stream open: a later iteration or
        # collect() goes on reading it where this one stopped.
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._bar is not None:
            self._bar.close()

    def collect(self):
        for _ in self:
            pass
        return self

    def cancel(self) -> None:
        if self._call is not None:
            self._call.cancel()

    @property
    def events(self) -> list:
        return list(self._events)

    @property
    def summary(self) -> ev.Summary | None:
        return next((e for e in self.collect()._events if isinstance(e, ev.Summary)), None)


class Attribution(_Run):
    """One Attribute call. Iterate it to get typed events as they stream; or collect it whole.

    ``to_dataframe()`` and ``top(k)`` read whatever remains of the stream first. ``cancel()`` stops the
    request on the server.
    """

    def save(self, path) -> None:
        """Writes the whole run (reading the rest of the stream first) to an .npz file; ``patchbay.load_run``
        reads it back. The format is documented in ``patchbay.runs``."""
        runs.save(self.collect()._events, path)

    def to_html(self, path, title: str | None = None) -> str:
        """Writes an interactive report of the whole run to one self-contained HTML file (no network when
        viewed): the head heatmap with hover values, the verified nodes, the diagnostic's bounds and the run's
        metadata. Returns the path."""
        return report.write(report.node_data(self.collect(), title), path)

    def as_array(self, kind: str = "z") -> np.ndarray:
        """The estimates of one node kind ("z", "q", "k", "v", "post", ...) shaped [layer, head] or
        [layer, head, position] (units are neurons for "post"), as TransformerLens's patching functions return
        them; NaN for layers the run did not score."""
        return runs.as_array(self.effects(), kind)

    def effects(self) -> list[ev.Effects]:
        return [e for e in self.collect()._events if isinstance(e, ev.Effects)]

    def verified(self) -> list[ev.Verified]:
        return [e for e in self.collect()._events if isinstance(e, ev.Verified)]

    def to_dataframe(self):
        """One row per node: name, site, layer, unit (head or neuron), position (-1: all), estimate and
        verified_effect (NaN unless verified), largest |estimate| first. Needs pandas."""
        return self._rows(None)

    def top(self, k: int = 10):
        """The k nodes of largest |estimate|, as a DataFrame; names are made for those k rows only."""
        return self._rows(k)

    def _rows(self, k: int | None):
        import pandas as pd

        blocks = self.effects()
        columns = ["name", "site", "layer", "unit", "position", "estimate", "verified_effect"]
        if not blocks:
            return pd.DataFrame(columns=columns)
        # Flat arrays over every node; which block and which index within it.
        flat = np.concatenate([b.values.reshape(-1) for b in blocks]).astype(np.float64)
        block_of = np.concatenate([np.full(b.values.size, j) for j, b in enumerate(blocks)])
        index_in = np.concatenate([np.arange(b.values.size) for b in blocks])
        magnitude = np.abs(flat)
        # Largest |estimate| first; ties keep the server's canonical order.
        if k is not None and k < flat.size:
            chosen = np.array([], dtype=np.int64)
            if k > 0:
                kth = np.partition(magnitude, -k)[-k]
                above = np.nonzero(magnitude > kth)[0]
                chosen = np.concatenate([above, np.nonzero(magnitude == kth)[0][: k - above.size]])
            order = chosen[np.lexsort((chosen, -magnitude[chosen]))]
        else:
            order = np.argsort(-magnitude, kind="stable")
        # Columns for the chosen rows only, block by block, names vectorised.
        units = np.empty(order.size, dtype=np.int64)
        positions = np.empty(order.size, dtype=np.int64)
        names = np.empty(order.size, dtype=object)
        for j, b in enumerate(blocks):
            rows = np.nonzero(block_of[order] == j)[0]
            if rows.size:
                u, p = (a[index_in[order[rows]]] for a in b.units_and_positions())
                units[rows], positions[rows] = u, p
                names[rows] = node_names(b.kind, b.layer, u, p)
        verified = {v.name: v.effect for v in self.verified()}
        return pd.DataFrame({
            "name": names.astype(str),
            "site": [blocks[j].site for j in block_of[order]],
            "layer": [blocks[j].layer for j in block_of[order]],
            "unit": units,
            "position": positions,
            "estimate": flat[order],
            "verified_effect": [verified.get(n, np.nan) for n in names],
        }, columns=columns)


class EdgeAttribution(_Run):
    """One AttributeEdges call: blocks of edge scores per reader group, verified edges, the diagnostic, a summary.

    ``to_dataframe()`` has one row per edge: name (``L0H1->L2H0.q``), writer, reader, kind (q, k, v, mlp, logits),
    layer (the reader's), position (-1: all), estimate and verified_effect (NaN unless verified), largest |estimate|
    first. ``top(k)`` makes names for k rows only.
    """

    _convert = staticmethod(edges.convert)

    def blocks(self) -> list[edges.EdgeBlock]:
        return [e for e in self.collect()._events if isinstance(e, edges.EdgeBlock)]

    def verified(self) -> list[edges.VerifiedEdge]:
        return [e for e in self.collect()._events if isinstance(e, edges.VerifiedEdge)]

    @property
    def diagnostic(self) -> edges.EdgeDiagnostic | None:
        return next((e for e in self.collect()._events if isinstance(e, edges.EdgeDiagnostic)), None)

    def to_dataframe(self):
        return edges.rows(self.blocks(), self.verified(), None)

    def to_html(self, path, title: str | None = None) -> str:
        """Writes an interactive report of the whole run to one self-contained HTML file (no network when
        viewed): the circuit graph of its top edges (zoom, hover for estimate, verified effect and rank, a slider
        for how many edges, search by name), the verified edges, the diagnostic's bounds and the run's metadata.
        Returns the path."""
        return report.write(report.edge_data(self.collect(), title), path)

    def top(self, k: int = 10):
        return edges.rows(self.blocks(), self.verified(), k)


class FeatureAttribution(_Run):
    """One AttributeFeatures call (``Client.attribute(..., nodes="features")``): a sparse block per pair and
    dictionary, the verified feature nodes, each dictionary's diagnostic, a summary.

    ``to_dataframe()`` has one row per scored node with its mean estimate over the pairs: name
    (``L1.resid_pre.f12@3``; ``L1.resid_pre.err@3`` for the error term), dictionary, layer, site, feature (-1: the
    error term), position, estimate and verified_effect (NaN unless verified), largest |estimate| first; ``top(k)``
    the k largest; ``pair_frame()`` each pair's own estimates.
    """

    _convert = staticmethod(features.convert)

    def blocks(self) -> list[features.FeatureBlock]:
        return [e for e in self.collect()._events if isinstance(e, features.FeatureBlock)]

    def verified(self) -> list[features.VerifiedFeature]:
        """The verified nodes in rank order (the server verifies them a dictionary at a time)."""
        return sorted((e for e in self.collect()._events if isinstance(e, features.VerifiedFeature)),
                      key=lambda v: v.rank)

    def diagnostics(self) -> list[features.FeatureDiagnostic]:
        return [e for e in self.collect()._events if isinstance(e, features.FeatureDiagnostic)]

    def to_dataframe(self):
        return features.rows(self.blocks(), self.verified(), None)

    def top(self, k: int = 10):
        return features.rows(self.blocks(), self.verified(), k)

    def pair_frame(self):
        return features.pair_rows(self.blocks())

    def edge_blocks(self) -> list[features.FeatureEdgeBlock]:
        return [e for e in self.collect()._events if isinstance(e, features.FeatureEdgeBlock)]

    def edges(self):
        """The feature edges asked for with ``edge_nodes``: one row per edge and prompt pair (pair, upstream,
        downstream, name, from, to, estimate, verified_effect), each block's largest |estimate| first."""
        return features.edge_rows(self.edge_blocks())


class CircuitRun(_Run):
    """One EvaluateCircuit call: each circuit's (or prune-curve point's) faithfulness as it completes.

    ``to_dataframe()`` has one row per circuit: name, size (edges), faithfulness, low, high (its 95% interval over
    pairs).
    """

    _convert = staticmethod(edges.convert_circuit)

    def points(self) -> list[edges.CircuitPoint]:
        return [e for e in self.collect()._events if isinstance(e, edges.CircuitPoint)]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([(p.name, p.size, p.faithfulness, p.low, p.high) for p in self.points()],
                            columns=["name", "size", "faithfulness", "low", "high"])


class DiscoveryRun(_Run):
    """One DiscoverCircuit call: every check as it is made, then the circuit found (``circuit``)."""

    _convert = staticmethod(edges.convert_discovery)

    def steps(self) -> list[edges.DiscoveryStep]:
        return [e for e in self.collect()._events if isinstance(e, edges.DiscoveryStep)]

    @property
    def circuit(self) -> edges.FoundCircuit | None:
        return next((e for e in self.collect()._events if isinstance(e, edges.FoundCircuit)), None)

    def to_dataframe(self):
        """One row per check: stage, edge, size, faithfulness, kept."""
        import pandas as pd

        return pd.DataFrame([(s.stage, s.edge, s.size, s.faithfulness, s.kept) for s in self.steps()],
                            columns=["stage", "edge", "size", "faithfulness", "kept"])


class ScrubRun(_Run):
    """One Scrub call: each sample as its chunk of trees completes, then the result (``result``).

    ``to_dataframe()`` has one row per sample: index, pair, original, scrubbed, resampled.
    """

    _convert = staticmethod(scrub.convert)

    def samples(self) -> list[scrub.ScrubSample]:
        return [e for e in self.collect()._events if isinstance(e, scrub.ScrubSample)]

    @property
    def result(self) -> scrub.ScrubResult | None:
        return next((e for e in self.collect()._events if isinstance(e, scrub.ScrubResult)), None)

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([(s.index, s.pair, s.original, s.scrubbed, s.resampled) for s in self.samples()],
                            columns=["index", "pair", "original", "scrubbed", "resampled"])


class GenerationRun(_Run):
    """One Generate call: iterate to get each token as it is produced; ``text(p)`` and ``ids(p)`` give prompt p's
    whole continuation, ``to_dataframe()`` one row per token (prompt, step, id, text, log_prob)."""

    _convert = staticmethod(generate.convert)

    def continuations(self) -> list[generate.Continuation]:
        return sorted((e for e in self.collect()._events if isinstance(e, generate.Continuation)),
                      key=lambda c: c.prompt)

    def text(self, prompt: int = 0) -> str:
        return self.continuations()[prompt].text

    def ids(self, prompt: int = 0) -> list[int]:
        return self.continuations()[prompt].ids

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([(t.prompt, t.step, t.id, t.text, t.log_prob) for t in self.collect()._events
                             if isinstance(t, generate.GeneratedToken)],
                            columns=["prompt", "step", "id", "text", "log_prob"])


class Client:
    """A connection to a Patchbay server, e.g. ``Client("localhost:50051")``. Use it as a context manager."""

    def __init__(self, target: str, *, timeout: float | None = None,
                 credentials: grpc.ChannelCredentials | None = None, token: str | None = None):
        """timeout: a deadline in seconds for every call; None (the default) sets none on streaming calls, which
        may run for hours (activation patching of every neuron), and 60 s on the others.

        credentials: for a server started with --tls-cert, e.g. ``grpc.ssl_channel_credentials(
        root_certificates=open("ca.crt", "rb").read())`` (add ``private_key`` and ``certificate_chain`` where
        it requires client certificates); None connects in plaintext. token: a bearer token for a server started
        with --auth-tokens (sent readable over plaintext: use TLS beyond loopback)."""
        self._metadata = _auth_metadata(token)
        self._channel = (grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS) if credentials
                         else grpc.insecure_channel(target, options=_CHANNEL_OPTIONS))
        self._stub = patchbay_pb2_grpc.PatchbayStub(self._channel)
        self._timeout = timeout

    def models(self) -> list[patchbay_pb2.ModelInfo]:
        """The models the server has loaded, with their shapes and hook sites."""
        return list(self._unary(self._stub.ListModels, patchbay_pb2.ListModelsRequest()).models)

    def nodes(self, model: str, nodes: NodeSpec = "heads",
              positions: Iterable[int] | None = None) -> list[runs.NodeInfo]:
        """The nodes a node set means for ``model`` (names with kind, layer, head or neuron, and position), as
        ``attribute`` scores them. positions: for per-position node sets, e.g. ``range(len(tokens))``."""
        return runs.list_nodes(_model_info(self.models(), model), nodes, positions)

    def metrics(self) -> patchbay_pb2.Metrics:
        """The server's counters: calls by status, and per model the open requests, batches, passes, cache hits,
        misses and bytes, and the memory budget."""
        return self._unary(self._stub.GetMetrics, patchbay_pb2.MetricsRequest())

    def tokenize(self, model: str, text: str, *, allow_unknown_tokens: bool = False) -> Tokens:
        """How ``model`` tokenizes ``text``: check here that a clean and a noise prompt align."""
        response = self._unary(self._stub.Tokenize, patchbay_pb2.TokenizeRequest(
            model=model, text=text, allow_unknown_tokens=allow_unknown_tokens))
        return Tokens(ids=list(response.ids), tokens=list(response.tokens))

    def attribute(self, model: str, pairs: Pairs, *, method: str | None = None, nodes: NodeSpec = "heads",
                  metric: str = "logit_diff", verify_top_k: int = 0, verify_budget: float = 0.0, progress: bool = False,
                  baseline: dict | None = None, diagnostic: dict | bool | None = None,
                  allow_unknown_tokens: bool = False, recompute_layers: bool = False,
                  dictionaries: Iterable[str] | str | None = None, ig_steps: int = 0, edge_nodes: int = 0,
                  verify_edges: int = 0) -> Attribution | FeatureAttribution:
        """Scores every node of ``nodes`` for one pair or a list of pairs (a distribution).

        pairs: Pair objects, (clean, noise, answer, wrong) tuples or dicts. method: "ap", "atp", "atp-qk",
        "atp-star", or a baseline ("iterative", "subsampling", "blocks", "hierarchical", with settings in
        ``baseline``, e.g. {"samples": 512}). diagnostic: True (or DiagnosticOptions fields) to bound the
        effects of the nodes verification left out. verify_budget: a cap, in forward passes, on verification.
        nodes: "heads", "attention", "neurons", "all" or a dict (kinds, layers, per_position,
        positions). progress: show a tqdm bar (with the ``progress`` extra installed). allow_unknown_tokens: a
        word the model's vocabulary lacks is refused unless this is set (then it reads as the unknown token).
        recompute_layers: "atp", "atp-qk" and "atp-star" recompute each layer in the backward, holding one layer's
        graph (the server does so by itself for prompts whose plain pass would not fit its memory budget).

        nodes="features": the features and error terms of the sparse dictionaries spliced into the model (serve
        --dictionary; ``dictionaries`` names some, default all) by "atp", "atp-star" (the default) or "ig"
        (integrated gradients along the features, ``ig_steps`` steps, default 10), verified by exact feature
        patching; returns a FeatureAttribution. ``edge_nodes``: also EAP's feature edges between the dictionaries
        (into each downstream dictionary's edge_nodes top features), ``verify_edges`` of them verified exactly.
        """
        if isinstance(nodes, str) and nodes == "features":
            scored = FeatureAttribution(self._stub.AttributeFeatures(
                _attribute_features(model, pairs, dictionaries=dictionaries, method=method, metric=metric,
                                    verify_top_k=verify_top_k, diagnostic=diagnostic,
                                    allow_unknown_tokens=allow_unknown_tokens, ig_steps=ig_steps,
                                    edge_nodes=edge_nodes, verify_edges=verify_edges),
                timeout=self._timeout, metadata=self._metadata), progress)
            scored.model = model
            return scored
        _features_only(dictionaries, ig_steps, edge_nodes, verify_edges)
        request = _attribute(model, pairs, method=method, nodes=nodes, metric=metric, verify_top_k=verify_top_k,
                             verify_budget=verify_budget, baseline=baseline, diagnostic=diagnostic,
                             allow_unknown_tokens=allow_unknown_tokens, recompute_layers=recompute_layers)
        run = Attribution(self._stub.Attribute(request, timeout=self._timeout, metadata=self._metadata), progress)
        run.model = model
        return run

    def attribute_edges(self, model: str, pairs: Pairs, *, method: str | None = None, per_position: bool = False,
                        ig_steps: int = 0, metric: str = "logit_diff", verify_top_k: int = 0,
                        verify_budget: float = 0.0, progress: bool = False, diagnostic: dict | bool | None = None,
                        allow_unknown_tokens: bool = False, recompute_layers: bool = False) -> EdgeAttribution:
        """Scores every edge (writer -> reader) of ``model`` for one pair or a distribution.

        method: "exact" (exact edge patching, one run per edge and pair), "eap", "eap-ig" (with ``ig_steps``,
        default 5) or "atp-star" (EAP with the QK fix and GradDrop). per_position: one edge per position, prompt
        length times as many. verify_top_k, verify_budget, diagnostic, progress, allow_unknown_tokens: as in
        ``attribute``, with exact edge patching as the check. recompute_layers: the estimates recompute each layer
        in the backward, in memory linear in the prompt's length (the server does so by itself for prompts whose
        plain pass would not fit its memory budget; exact patching refuses it).
        """
        request = _attribute_edges(model, pairs, method=method, per_position=per_position, ig_steps=ig_steps,
                                   metric=metric, verify_top_k=verify_top_k, verify_budget=verify_budget,
                                   diagnostic=diagnostic, allow_unknown_tokens=allow_unknown_tokens,
                                   recompute_layers=recompute_layers)
        run = EdgeAttribution(self._stub.AttributeEdges(request, timeout=self._timeout, metadata=self._metadata),
                              progress)
        run.model = model
        return run

    def evaluate_circuit(self, model: str, pairs: Pairs, *, circuits=None, ablation: str | None = None,
                         ranking: str | None = None, sizes: Iterable[int] | None = None, seed: int = 0,
                         ig_steps: int = 0, metric: str = "logit_diff", progress: bool = False,
                         allow_unknown_tokens: bool = False) -> CircuitRun:
        """The faithfulness of circuits of edges: each pair's clean prompt run with every edge outside the circuit
        ablated ("resample" from another pair, "mean" over the pairs, "zero", or "noise": the pair's noise prompt).

        circuits: {name: [edge names]} or a list of edge-name lists (e.g. ``run.top(20)["name"]`` of an
        ``attribute_edges`` run); without them, a prune curve: the top n edges of ``ranking``'s order ("exact",
        "eap", "eap-ig", "atp-star") for each n of ``sizes`` (default 0, 1, 2, 4, ... and every edge).
        """
        request = _circuit(model, pairs, circuits=circuits, ablation=ablation, ranking=ranking, sizes=sizes,
                           seed=seed, ig_steps=ig_steps, metric=metric, allow_unknown_tokens=allow_unknown_tokens)
        return CircuitRun(self._stub.EvaluateCircuit(request, timeout=self._timeout, metadata=self._metadata),
                          progress)

    def discover_circuit(self, model: str, pairs: Pairs, *, search: str | None = None, ranking: str | None = None,
                         target: float | None = None, threshold: float | None = None, ablation: str | None = None,
                         seed: int = 0, ig_steps: int = 0, metric: str = "logit_diff", progress: bool = False,
                         allow_unknown_tokens: bool = False) -> DiscoveryRun:
        """Finds a circuit of edges: "greedy" (the smallest top n of ``ranking`` whose faithfulness is within
        1 - target of 1, then pruned by exact checks) or "acdc" (from the full model, every edge dropped that moves
        the faithfulness by less than ``threshold``). Every check streams as it is made; ``run.circuit`` is the
        result."""
        request = _discovery(model, pairs, search=search, ranking=ranking, target=target, threshold=threshold,
                             ablation=ablation, seed=seed, ig_steps=ig_steps, metric=metric,
                             allow_unknown_tokens=allow_unknown_tokens)
        return DiscoveryRun(self._stub.DiscoverCircuit(request, timeout=self._timeout, metadata=self._metadata),
                            progress)

    def scrub(self, model: str, pairs: Pairs, claims: dict, *, samples: int | None = None, seed: int = 0,
              metric: str = "logit_diff", progress: bool = False, allow_unknown_tokens: bool = False) -> ScrubRun:
        """Causal scrubbing of a hypothesis: ``claims`` maps each part (an edge such as "L0H1->L1H0.k", or a writer
        "embed", "L1H0", "L2.mlp", standing for its edges into the other claimed writers and the logits) to a label
        per pair, claiming the part depends on the input only through that label. The pairs' clean prompts are the
        inputs (noise prompts are not used). ``run.result.recovered`` is the fraction of the behaviour explained,
        with ``low`` and ``high`` its 95% interval."""
        request = scrub.request(model, pairs, claims, samples=samples, seed=seed, metric=metric,
                                allow_unknown_tokens=allow_unknown_tokens)
        return ScrubRun(self._stub.Scrub(request, timeout=self._timeout, metadata=self._metadata), progress)

    def generate(self, model: str, prompts, *, max_new_tokens: int | None = None, interventions=None,
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 0.0, seed: int = 0, stop=None,
                 top_alternatives: int = 0, watch=None, allow_unknown_tokens: bool = False,
                 ignore_eos: bool = False) -> GenerationRun:
        """Continues a prompt (text or token ids) or a list of them: greedy at temperature 0, else sampled (top_k,
        top_p, seeded per prompt). ``interventions`` change activations at every step, e.g.
        ``[{"site": "blocks.2.hook_resid_pre", "op": "add", "value": vector, "coefficient": 4}]`` or
        ``{"site": "blocks.1.attn.hook_z", "op": "zero", "units": [3]}`` (ops add, set, scale, zero; positions
        "all", "prompt", "generated" or a list). ``watch``: tokens (e.g. [" Mary", " John"]) whose log-probabilities
        every new token reports (``token.watched``), to measure what steering does to them. A continuation ends at
        the model's end-of-text token (``eos_token_id``), as transformers' ``generate`` does, or at a ``stop``
        token; ``ignore_eos=True`` goes on past the former. Iterate the run for tokens as they arrive;
        ``run.text()`` waits for the whole continuation."""
        request = generate.request(model, prompts, max_new_tokens=max_new_tokens, interventions=interventions,
                                   temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop=stop,
                                   top_alternatives=top_alternatives, watch=watch,
                                   allow_unknown_tokens=allow_unknown_tokens, ignore_eos=ignore_eos)
        return GenerationRun(self._stub.Generate(request, timeout=self._timeout, metadata=self._metadata))

    def steering_vector(self, model: str, site: str, pairs, *, name: str, reading: str = "last",
                        allow_unknown_tokens: bool = False) -> np.ndarray:
        """A steering vector by contrastive activation addition: the mean over (positive, negative) prompt pairs of
        the residual site's activation difference, at each prompt's last token ("last") or averaged over its
        positions ("mean"). The server keeps it under ``name`` for interventions of later ``generate`` calls
        (``{"site": site, "op": "add", "vector": name, "coefficient": 4}``); returns its values."""
        request = generate.steering_request(model, site, pairs, name=name, reading=reading,
                                            allow_unknown_tokens=allow_unknown_tokens)
        try:
            response = self._stub.MakeSteeringVector(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None
        return np.array(response.values)

    def patch(self, model: str, pairs: Pairs, groups: Iterable[str | Iterable[str]], *,
              metric: str = "logit_diff") -> Iterator[patchbay_pb2.PatchResult]:
        """Exact activation patching of node groups (each a list of node names such as "L1H2" or "L0N5@3",
        patched jointly); yields each group's result as it is computed."""
        request = _patch(model, pairs, groups, metric)
        try:
            for event in self._stub.Patch(request, timeout=self._timeout, metadata=self._metadata):
                if event.HasField("result"):
                    yield event.result
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None

    def sweep(self, jobs: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, object]]:
        """Many jobs over one stream: ``jobs`` yields (job_id, job), a job being the keyword arguments of one of
        this client's methods, "model" and "pairs" included, with "operation" naming the method ("attribute" when
        absent; "attribute_edges", "evaluate_circuit", "discover_circuit", "scrub", "generate", "patch"). Yields
        (job_id, event) as results arrive, each event typed as that method's run gives it, and (job_id,
        PatchbayError) for a job that failed while the others go on. An "attribute" job with nodes="features" runs
        AttributeFeatures and yields its typed events."""
        refused: list[Exception] = []
        try:
            for event in self._stub.Sweep(_sweep_requests(jobs, refused), timeout=self._timeout,
                                          metadata=self._metadata):
                yield _sweep_event(event)
        except grpc.RpcError as e:
            if refused:
                raise refused[0] from None
            raise PatchbayError.of(e) from None
        if refused:
            raise refused[0]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _unary(self, method, request):
        try:
            return method(request, timeout=_unary_timeout(self._timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None


class AsyncClient:
    """The same calls over grpc.aio, for notebooks that run several requests at once:

        async with AsyncClient("localhost:50051") as client:
            async for event in client.attribute("patchbay-tiny", pair):
                ...
    """

    def __init__(self, target: str, *, timeout: float | None = None,
                 credentials: grpc.ChannelCredentials | None = None, token: str | None = None):
        """The arguments are Client's."""
        self._metadata = _auth_metadata(token)
        self._channel = (grpc.aio.secure_channel(target, credentials, options=_CHANNEL_OPTIONS) if credentials
                         else grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS))
        self._stub = patchbay_pb2_grpc.PatchbayStub(self._channel)
        self._timeout = timeout

    async def models(self) -> list[patchbay_pb2.ModelInfo]:
        return list((await self._unary(self._stub.ListModels, patchbay_pb2.ListModelsRequest())).models)

    async def nodes(self, model: str, nodes: NodeSpec = "heads",
                    positions: Iterable[int] | None = None) -> list[runs.NodeInfo]:
        """As Client.nodes."""
        return runs.list_nodes(_model_info(await self.models(), model), nodes, positions)

    async def metrics(self) -> patchbay_pb2.Metrics:
        return await self._unary(self._stub.GetMetrics, patchbay_pb2.MetricsRequest())

    async def tokenize(self, model: str, text: str, *, allow_unknown_tokens: bool = False) -> Tokens:
        response = await self._unary(self._stub.Tokenize, patchbay_pb2.TokenizeRequest(
            model=model, text=text, allow_unknown_tokens=allow_unknown_tokens))
        return Tokens(ids=list(response.ids), tokens=list(response.tokens))

    async def attribute(self, model: str, pairs: Pairs, *, method: str | None = None, nodes: NodeSpec = "heads",
                        metric: str = "logit_diff", verify_top_k: int = 0, verify_budget: float = 0.0,
                        progress: bool = False, baseline: dict | None = None,
                        diagnostic: dict | bool | None = None,
                        allow_unknown_tokens: bool = False, recompute_layers: bool = False,
                        dictionaries: Iterable[str] | str | None = None, ig_steps: int = 0, edge_nodes: int = 0,
                        verify_edges: int = 0) -> AsyncIterator[object]:
        """Yields typed events as they stream; the arguments are Client.attribute's. Collect them with
        ``Attribution.of_events([e async for e in ...])`` (``FeatureAttribution`` for nodes="features") for the
        DataFrame, array and save views."""
        if isinstance(nodes, str) and nodes == "features":
            call = self._stub.AttributeFeatures(
                _attribute_features(model, pairs, dictionaries=dictionaries, method=method, metric=metric,
                                    verify_top_k=verify_top_k, diagnostic=diagnostic,
                                    allow_unknown_tokens=allow_unknown_tokens, ig_steps=ig_steps,
                                    edge_nodes=edge_nodes, verify_edges=verify_edges),
                timeout=self._timeout, metadata=self._metadata)
            async for event in self._events(call, features.convert, progress):
                yield event
            return
        _features_only(dictionaries, ig_steps, edge_nodes, verify_edges)
        request = _attribute(model, pairs, method=method, nodes=nodes, metric=metric, verify_top_k=verify_top_k,
                             verify_budget=verify_budget, baseline=baseline, diagnostic=diagnostic,
                             allow_unknown_tokens=allow_unknown_tokens, recompute_layers=recompute_layers)
        async for event in self._events(self._stub.Attribute(request, timeout=self._timeout,
                                                     metadata=self._metadata), ev.convert, progress):
            yield event

    async def attribute_edges(self, model: str, pairs: Pairs, *, method: str | None = None, per_position: bool = False,
                              ig_steps: int = 0, metric: str = "logit_diff", verify_top_k: int = 0,
                              verify_budget: float = 0.0, progress: bool = False,
                              diagnostic: dict | bool | None = None,
                              allow_unknown_tokens: bool = False,
                              recompute_layers: bool = False) -> AsyncIterator[object]:
        """Yields typed edge events as they stream; the arguments are Client.attribute_edges'. Collect them with
        ``EdgeAttribution.of_events([e async for e in ...])`` for the DataFrame."""
        request = _attribute_edges(model, pairs, method=method, per_position=per_position, ig_steps=ig_steps,
                                   metric=metric, verify_top_k=verify_top_k, verify_budget=verify_budget,
                                   diagnostic=diagnostic, allow_unknown_tokens=allow_unknown_tokens,
                                   recompute_layers=recompute_layers)
        async for event in self._events(self._stub.AttributeEdges(request, timeout=self._timeout,
                                                     metadata=self._metadata), edges.convert, progress):
            yield event

    async def evaluate_circuit(self, model: str, pairs: Pairs, *, circuits=None, ablation: str | None = None,
                               ranking: str | None = None, sizes: Iterable[int] | None = None, seed: int = 0,
                               ig_steps: int = 0, metric: str = "logit_diff", progress: bool = False,
                               allow_unknown_tokens: bool = False) -> AsyncIterator[object]:
        """Yields typed circuit events as they stream; the arguments are Client.evaluate_circuit's."""
        request = _circuit(model, pairs, circuits=circuits, ablation=ablation, ranking=ranking, sizes=sizes,
                           seed=seed, ig_steps=ig_steps, metric=metric, allow_unknown_tokens=allow_unknown_tokens)
        async for event in self._events(self._stub.EvaluateCircuit(request, timeout=self._timeout,
                                                     metadata=self._metadata), edges.convert_circuit, progress):
            yield event

    async def discover_circuit(self, model: str, pairs: Pairs, *, search: str | None = None, ranking: str | None = None,
                               target: float | None = None, threshold: float | None = None, ablation: str | None = None,
                               seed: int = 0, ig_steps: int = 0, metric: str = "logit_diff", progress: bool = False,
                               allow_unknown_tokens: bool = False) -> AsyncIterator[object]:
        """Yields typed discovery events as they stream; the arguments are Client.discover_circuit's."""
        request = _discovery(model, pairs, search=search, ranking=ranking, target=target, threshold=threshold,
                             ablation=ablation, seed=seed, ig_steps=ig_steps, metric=metric,
                             allow_unknown_tokens=allow_unknown_tokens)
        async for event in self._events(self._stub.DiscoverCircuit(request, timeout=self._timeout,
                                                     metadata=self._metadata), edges.convert_discovery, progress):
            yield event

    async def scrub(self, model: str, pairs: Pairs, claims: dict, *, samples: int | None = None, seed: int = 0,
                    metric: str = "logit_diff", progress: bool = False,
                    allow_unknown_tokens: bool = False) -> AsyncIterator[object]:
        """Yields typed scrub events as they stream; the arguments are Client.scrub's."""
        request = scrub.request(model, pairs, claims, samples=samples, seed=seed, metric=metric,
                                allow_unknown_tokens=allow_unknown_tokens)
        async for event in self._events(self._stub.Scrub(request, timeout=self._timeout, metadata=self._metadata),
                                        scrub.convert, progress):
            yield event

    async def generate(self, model: str, prompts, *, max_new_tokens: int | None = None, interventions=None,
                       temperature: float = 0.0, top_k: int = 0, top_p: float = 0.0, seed: int = 0, stop=None,
                       top_alternatives: int = 0, watch=None,
                       allow_unknown_tokens: bool = False, ignore_eos: bool = False) -> AsyncIterator[object]:
        """Yields typed generation events (tokens, then continuations) as they stream; Client.generate's
        arguments."""
        request = generate.request(model, prompts, max_new_tokens=max_new_tokens, interventions=interventions,
                                   temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop=stop,
                                   top_alternatives=top_alternatives, watch=watch,
                                   allow_unknown_tokens=allow_unknown_tokens, ignore_eos=ignore_eos)
        async for event in self._events(self._stub.Generate(request, timeout=self._timeout,
                                                            metadata=self._metadata), generate.convert, False):
            yield event

    async def steering_vector(self, model: str, site: str, pairs, *, name: str, reading: str = "last",
                              allow_unknown_tokens: bool = False) -> np.ndarray:
        """As Client.steering_vector."""
        request = generate.steering_request(model, site, pairs, name=name, reading=reading,
                                            allow_unknown_tokens=allow_unknown_tokens)
        try:
            response = await self._stub.MakeSteeringVector(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None
        return np.array(response.values)

    async def patch(self, model: str, pairs: Pairs, groups: Iterable[str | Iterable[str]], *,
                    metric: str = "logit_diff") -> AsyncIterator[patchbay_pb2.PatchResult]:
        """Yields each node group's PatchResult as it is computed, as Client.patch does."""
        try:
            async for event in self._stub.Patch(_patch(model, pairs, groups, metric), timeout=self._timeout,
                                                metadata=self._metadata):
                if event.HasField("result"):
                    yield event.result
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None

    async def sweep(self, jobs: Iterable[tuple[str, dict]]):
        """Yields (job_id, event) as Client.sweep does; ``jobs`` is read as the server asks for more."""
        refused: list[Exception] = []
        try:
            async for event in self._stub.Sweep(_sweep_requests(jobs, refused), timeout=self._timeout,
                                                metadata=self._metadata):
                yield _sweep_event(event)
        except grpc.RpcError as e:
            if refused:
                raise refused[0] from None
            raise PatchbayError.of(e) from None
        if refused:
            raise refused[0]

    @staticmethod
    async def _events(call, convert, progress: bool) -> AsyncIterator[object]:
        """A streaming call's messages as typed events, with a progress bar where asked."""
        bar = _ProgressBar() if progress else None
        try:
            async for message in call:
                event = convert(message)
                if bar is not None:
                    bar.show(event)
                yield event
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None
        finally:
            if bar is not None:
                bar.close()

    async def _unary(self, method, request):
        try:
            return await method(request, timeout=_unary_timeout(self._timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise PatchbayError.of(e) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


#: round_robin over every address a target resolves to ("dns:///name:port" with several A records, such as a
#: Kubernetes headless service, or "ipv4:host:port,host:port"), each watched through the standard health service so
#: that a draining or dead replica stops receiving calls. One address: the same as gRPC's default.
SERVICE_CONFIG = {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.service_config", json.dumps(SERVICE_CONFIG))]
#: The deadline of ListModels, Tokenize and GetMetrics when the client sets none.
UNARY_TIMEOUT = 60.0


def _unary_timeout(timeout: float | None) -> float:
    return UNARY_TIMEOUT if timeout is None else timeout


def _model_info(models: list[patchbay_pb2.ModelInfo], name: str) -> patchbay_pb2.ModelInfo:
    for m in models:
        if m.name == name:
            return m
    raise ValueError(f"model: the server has no {name!r}; it has {[m.name for m in models]}")


def _attribute(model: str, pairs: Pairs, *, method: str | None = None, nodes: NodeSpec = "heads",
               metric: str = "logit_diff", verify_top_k: int = 0, verify_budget: float = 0.0,
               baseline: dict | None = None, diagnostic: dict | bool | None = None,
               allow_unknown_tokens: bool = False, recompute_layers: bool = False) -> patchbay_pb2.AttributeRequest:
    """The AttributeRequest that Client.attribute, AsyncClient.attribute and a sweep's jobs send."""
    request = attribute_request(model, pairs, method, nodes, metric, verify_top_k, baseline, verify_budget,
                                allow_unknown_tokens, recompute_layers)
    if diagnostic:
        options = {} if diagnostic is True else dict(diagnostic)
        request.diagnostic.CopyFrom(patchbay_pb2.DiagnosticOptions(enabled=True, **options))
    return request


def _attribute_edges(model: str, pairs: Pairs, *, method: str | None, per_position: bool, ig_steps: int, metric: str,
                     verify_top_k: int, verify_budget: float, diagnostic: dict | bool | None,
                     allow_unknown_tokens: bool, recompute_layers: bool = False) -> patchbay_pb2.AttributeEdgesRequest:
    """The AttributeEdgesRequest that Client.attribute_edges and AsyncClient.attribute_edges send."""
    if method is not None and method not in edges.METHODS:
        raise ValueError(f"method: unknown edge method {method!r}; use one of {sorted(edges.METHODS)}")
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; use one of {sorted(METRICS)}")
    request = patchbay_pb2.AttributeEdgesRequest(
        model=model, pairs=pair_list(pairs), metric=METRICS[metric],
        method=edges.METHODS[method] if method is not None else None,
        per_position=per_position, ig_steps=ig_steps, verify_top_k=verify_top_k, verify_budget=verify_budget,
        allow_unknown_tokens=allow_unknown_tokens, packed_values=True, recompute_layers=recompute_layers)
    if diagnostic:
        options = {} if diagnostic is True else dict(diagnostic)
        request.diagnostic.CopyFrom(patchbay_pb2.DiagnosticOptions(enabled=True, **options))
    return request


def _attribute_features(model: str, pairs: Pairs, *, dictionaries, method: str | None, metric: str,
                        verify_top_k: int, diagnostic: dict | bool | None, allow_unknown_tokens: bool,
                        ig_steps: int = 0, edge_nodes: int = 0,
                        verify_edges: int = 0) -> patchbay_pb2.AttributeFeaturesRequest:
    """The AttributeFeaturesRequest that Client.attribute(nodes="features") sends."""
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; use one of {sorted(METRICS)}")
    return features.request(model, pair_list(pairs), dictionaries=dictionaries, method=method,
                            metric=METRICS[metric], verify_top_k=verify_top_k, diagnostic=diagnostic,
                            allow_unknown_tokens=allow_unknown_tokens, ig_steps=ig_steps, edge_nodes=edge_nodes,
                            verify_edges=verify_edges)


def _features_only(dictionaries, ig_steps: int, edge_nodes: int = 0, verify_edges: int = 0) -> None:
    """Refuses the feature arguments in a component attribution."""
    if dictionaries is not None:
        raise ValueError("dictionaries: only with nodes=\"features\"")
    if ig_steps:
        raise ValueError("ig_steps: only with nodes=\"features\" and method=\"ig\"")
    if edge_nodes or verify_edges:
        raise ValueError("edge_nodes, verify_edges: only with nodes=\"features\"")


def _circuit(model: str, pairs: Pairs, *, circuits, ablation: str | None, ranking: str | None, sizes, seed: int,
             ig_steps: int,
             metric: str, allow_unknown_tokens: bool) -> patchbay_pb2.EvaluateCircuitRequest:
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; use one of {sorted(METRICS)}")
    return edges.circuit_request(model, pair_list(pairs), circuits=circuits, ablation=ablation, ranking=ranking,
                                 sizes=sizes, seed=seed, ig_steps=ig_steps, metric=METRICS[metric],
                                 allow_unknown_tokens=allow_unknown_tokens)


def _discovery(model: str, pairs: Pairs, *, search: str | None, ranking: str | None, target: float | None,
               threshold: float | None, ablation: str | None,
               seed: int, ig_steps: int, metric: str,
               allow_unknown_tokens: bool) -> patchbay_pb2.DiscoverCircuitRequest:
    if search is not None and search not in edges.SEARCHES:
        raise ValueError(f"search: unknown {search!r}; use one of {sorted(edges.SEARCHES)}")
    base = _circuit(model, pairs, circuits=None, ablation=ablation, ranking=ranking, sizes=None, seed=seed,
                    ig_steps=ig_steps, metric=metric, allow_unknown_tokens=allow_unknown_tokens)
    return patchbay_pb2.DiscoverCircuitRequest(
        model=model, pairs=base.pairs, metric=base.metric, ablation=base.ablation, seed=seed,
        search=edges.SEARCHES[search] if search is not None else None, ranking=base.ranking,
        target=target or 0.0, threshold=threshold or 0.0, ig_steps=ig_steps,
        allow_unknown_tokens=allow_unknown_tokens)


def _patch(model: str, pairs: Pairs, groups, metric: str) -> patchbay_pb2.PatchRequest:
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; use one of {sorted(METRICS)}")
    return patchbay_pb2.PatchRequest(model=model, pairs=pair_list(pairs), metric=METRICS[metric],
                                     groups=[_group(g) for g in groups])


def _sweep_job(job_id: str, job: dict) -> patchbay_pb2.SweepRequest:
    """A sweep job: the keyword arguments of one Client method, with "operation" naming it ("attribute" when absent;
    "attribute_edges", "evaluate_circuit", "discover_circuit", "scrub", "generate" or "patch") and its positional
    arguments by name ("model", "pairs"; "claims" for scrub, "prompts" for generate, "groups" for patch). Omitted
    arguments take the method's own defaults; "progress" is per call and ignored."""
    job = dict(job)
    operation = job.pop("operation", "attribute")
    if operation not in _SWEEP_OPERATIONS:
        raise ValueError(f"operation: unknown {operation!r}; use one of {sorted(_SWEEP_OPERATIONS)}")
    method, build, field = _SWEEP_OPERATIONS[operation]
    job.pop("progress", None)
    try:
        bound = inspect.signature(method).bind(None, **job)
    except TypeError as e:
        raise ValueError(f"job {job_id!r}: {e} (for Client.{operation})") from None
    bound.apply_defaults()
    arguments = {name: value for name, value in bound.arguments.items() if name not in ("self", "progress")}
    if field is None:  # the builder picks the field (attribute: nodes or features)
        field, request = build(**arguments)
        return patchbay_pb2.SweepRequest(job_id=job_id, **{field: request})
    return patchbay_pb2.SweepRequest(job_id=job_id, **{field: build(**arguments)})


def _sweep_requests(jobs: Iterable[tuple[str, dict]], refused: list) -> Iterator[patchbay_pb2.SweepRequest]:
    """The jobs as requests; the first job that cannot be built ends the stream and is kept in ``refused`` for the
    caller to raise (an exception inside gRPC's request iterator would reach it only as "Exception iterating
    requests!"). The jobs sent before it still finish."""
    for job_id, job in jobs:
        try:
            request = _sweep_job(job_id, job)
        except (ValueError, TypeError) as e:
            refused.append(e)
            return
        yield request


def _patch_event(event: patchbay_pb2.PatchEvent):
    """A patch job's event: a group's PatchResult as Client.patch yields it; accepted and summary typed."""
    kind = event.WhichOneof("event")
    if kind == "result":
        return event.result
    return ev.convert(patchbay_pb2.AttributeEvent(**{kind: getattr(event, kind)}))


def _sweep_event(event: patchbay_pb2.SweepEvent) -> tuple[str, object]:
    kind = event.WhichOneof("event")
    if kind == "error":
        return event.job_id, PatchbayError(getattr(grpc.StatusCode, event.error.code), event.error.message)
    return event.job_id, _SWEEP_EVENTS[kind](getattr(event, kind))


def _attribute_job(*, dictionaries=None, ig_steps: int = 0, edge_nodes: int = 0, verify_edges: int = 0,
                   **arguments) -> tuple[str, object]:
    """An attribute job's SweepRequest field and request: AttributeFeatures for nodes="features", else Attribute."""
    if isinstance(arguments["nodes"], str) and arguments["nodes"] == "features":
        unused = [name for name in ("verify_budget", "baseline", "recompute_layers") if arguments[name]]
        if unused:
            raise ValueError(f"{', '.join(unused)}: not with nodes=\"features\"")
        return "attribute_features", _attribute_features(
            arguments["model"], arguments["pairs"], dictionaries=dictionaries, method=arguments["method"],
            metric=arguments["metric"], verify_top_k=arguments["verify_top_k"], diagnostic=arguments["diagnostic"],
            allow_unknown_tokens=arguments["allow_unknown_tokens"], ig_steps=ig_steps, edge_nodes=edge_nodes,
            verify_edges=verify_edges)
    _features_only(dictionaries, ig_steps, edge_nodes, verify_edges)
    return "job", _attribute(**arguments)


#: A sweep's operations: the Client method whose arguments a job gives, what builds its request, and the
#: SweepRequest field that carries it (None: the builder returns the field with the request).
_SWEEP_OPERATIONS: dict[str, tuple[Callable, Callable, str | None]] = {
    "attribute": (Client.attribute, _attribute_job, None),
    "attribute_edges": (Client.attribute_edges, _attribute_edges, "attribute_edges"),
    "evaluate_circuit": (Client.evaluate_circuit, _circuit, "evaluate_circuit"),
    "discover_circuit": (Client.discover_circuit, _discovery, "discover_circuit"),
    "scrub": (Client.scrub, scrub.request, "scrub"),
    "generate": (Client.generate, generate.request, "generate"),
    "patch": (Client.patch, _patch, "patch"),
}

#: A sweep event's field -> its typed events, as each operation's own run converts them.
_SWEEP_EVENTS: dict[str, Callable[[Any], object]] = {
    "attribute": ev.convert,
    "attribute_features": features.convert,
    "attribute_edges": edges.convert,
    "evaluate_circuit": edges.convert_circuit,
    "discover_circuit": edges.convert_discovery,
    "scrub": scrub.convert,
    "generate": generate.convert,
    "patch": _patch_event,
}


def _auth_metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    """The bearer-token header a server started with --auth-tokens checks on every call but health checks."""
    if token is None:
        return None
    if not token.strip():
        raise ValueError("token: must not be empty")
    return (("authorization", f"Bearer {token}"),)


def _group(nodes) -> patchbay_pb2.NodeGroup:
    names = [nodes] if isinstance(nodes, str) else list(nodes)
    return patchbay_pb2.NodeGroup(nodes=[parse_node(n) for n in names])


class _ProgressBar:
    """A tqdm bar that follows an attribution's Accepted and Progress events (nothing without tqdm installed)."""

    def __init__(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._bar = None
            return
        self._bar = tqdm(total=0, unit="step")

    def show(self, event) -> None:
        if self._bar is None:
            return
        if isinstance(event, ev.Accepted):
            self._bar.set_description(event.method)
        elif isinstance(event, ev.Progress):
            self._bar.total = event.total
            self._bar.set_postfix_str(event.stage)
            self._bar.n = event.done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


__all__ = ["Client", "AsyncClient", "Attribution", "EdgeAttribution", "CircuitRun", "DiscoveryRun", "PatchbayError",
           "Tokens", "node_set", "load_run"]


def load_run(path) -> Attribution:
    """A run that ``Attribution.save`` wrote, with the same DataFrame, top-k and array views."""
    return Attribution.of_events(runs.load(path))
