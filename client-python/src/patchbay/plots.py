"""Pictures of a finished attribution, saved as PNG (needs matplotlib: the ``plots`` extra)."""
from __future__ import annotations

import re
import textwrap

import numpy as np


def head_matrix(attribution) -> np.ndarray:
    """Layer x head effects: each head's output over all positions, or the sum of its per-position outputs."""
    blocks = [b for b in attribution.effects() if b.site == "z"]
    if not blocks:
        raise ValueError("the attribution has no head outputs (z); ask for nodes='heads'")
    layers = max(b.layer for b in blocks) + 1
    heads = blocks[0].values.shape[-1]
    matrix = np.full((layers, heads), np.nan)
    for b in blocks:
        matrix[b.layer] = b.values.reshape(-1, heads).sum(axis=0)
    return matrix


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(attribution, title: str | None, what: str) -> str:
    summary = attribution.summary
    text = title or (f"{summary.method} {what}: {summary.metric}" if summary else what)
    return "\n".join(textwrap.wrap(text, 48))


def head_heatmap(attribution, path: str, title: str | None = None) -> str:
    """A layer by head heatmap of head effects, each cell with its value; returns the path written.

    Signed estimates (AtP, activation patching) get a diverging scale centred on 0; magnitudes (AtP* scores,
    never negative) a sequential one, so that no colour suggests a sign that is not there.
    """
    plt = _pyplot()
    matrix = head_matrix(attribution)
    signed = bool(np.nanmin(matrix) < 0)
    limit = float(np.nanmax(np.abs(matrix))) or 1.0
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 + 0.8 * matrix.shape[1]), 1.6 + 0.6 * matrix.shape[0]))
    if signed:
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        label = "estimate (blue < 0 < red)"
    else:
        image = ax.imshow(matrix, cmap="Reds", vmin=0, vmax=limit, aspect="auto")
        label = "score (a magnitude, >= 0)"
    # Beside a magnitude, the sign of each verified head's true effect (AtP* scores carry none).
    signs = {(v.layer, v.unit): ("-" if v.effect < 0 else "+") for v in attribution.verified()
             if v.site == "z" and v.position < 0}
    for (layer, head), value in np.ndenumerate(matrix):
        strong = abs(value) > 0.6 * limit
        sign = f"\n({signs[(layer, head)]})" if not signed and (layer, head) in signs else ""
        ax.text(head, layer, f"{value:.2f}{sign}", ha="center", va="center", fontsize=8,
                color="white" if strong else "black")
    ax.set_xlabel("head" + ("\n(+)/(-): sign of the verified effect" if signs and not signed else ""))
    ax.set_ylabel("layer")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_title(_title(attribution, title, "per head"), fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def verified_bars(attribution, path: str, k: int = 10, title: str | None = None) -> str:
    """The top-k nodes' estimates next to their verified effects, in rank order; returns the path written."""
    plt = _pyplot()
    verified = _verified(attribution, k)
    names = [v.name for v in verified]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.5 + 0.7 * len(names)), 3.8))
    magnitudes = all(v.estimate >= 0 for v in verified)
    ax.bar(x - 0.2, [v.estimate for v in verified], 0.4,
           label="estimate (a magnitude)" if magnitudes else "estimate")
    ax.bar(x + 0.2, [v.effect for v in verified], 0.4, label="verified effect (activation patching)")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("node, in the estimate's rank order")
    ax.set_ylabel("effect on the metric")
    ax.set_title(_title(attribution, title, "top nodes, verified"), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def verified_scatter(attribution, path: str, k: int = 100, title: str | None = None) -> str:
    """Each verified node's estimate against its true effect, with the diagonal where they agree; magnitudes
    (AtP* scores) are set against |effect|. Returns the path written."""
    plt = _pyplot()
    verified = _verified(attribution, k)
    estimates = np.array([v.estimate for v in verified])
    effects = np.array([v.effect for v in verified])
    magnitudes = bool((estimates >= 0).all() and (effects < 0).any())
    if magnitudes:
        effects = np.abs(effects)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.scatter(estimates, effects, s=18)
    low = float(min(estimates.min(), effects.min(), 0))
    high = float(max(estimates.max(), effects.max(), 0))
    # Names for the points that stand out; the crowd near 0 would only overprint itself.
    for v, x, y in zip(verified, estimates, effects, strict=True):
        if max(abs(x), abs(y)) > 0.1 * max(abs(low), abs(high)):
            ax.annotate(v.name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.plot([low, high], [low, high], color="gray", linewidth=0.8, linestyle="--", label="estimate = effect")
    ax.set_xlabel("estimate")
    ax.set_ylabel("|verified effect|" if magnitudes else "verified effect")
    ax.set_title(_title(attribution, title, "estimate vs verified effect"), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _verified(attribution, k: int):
    verified = attribution.verified()[:k]
    if not verified:
        raise ValueError("nothing was verified; ask for verify_top_k")
    return verified


_COMPONENT = re.compile(r"L(\d+)(?:H(\d+)(?:\.[qkv])?|\.mlp)")


def _component(name: str, heads: int, layers: int) -> tuple[str, float, float]:
    """A writer's or reader's component (a head's output and its q/k/v inputs are one head) and where it is drawn:
    a layer's heads across one row, its MLP centred half a row above them (so edges into it rise and edges out of
    it do not cross its own row), the embeddings below and the logits above."""
    if name == "embed":
        return "embed", (heads - 1) / 2, -1
    if name == "logits":
        return "logits", (heads - 1) / 2, layers
    m = _COMPONENT.fullmatch(name)
    if m is None:
        raise ValueError(f"not a writer or reader name: {name!r}")
    layer = int(m.group(1))
    if m.group(2) is None:
        return f"L{layer}.mlp", (heads - 1) / 2, layer + 0.5
    return f"L{layer}H{m.group(2)}", int(m.group(2)), layer


def circuit_graph(run, path: str, k: int = 30, title: str | None = None, edges: list[str] | None = None) -> str:
    """The top ``k`` edges of an edge run as a circuit (or, with ``edges``, those edges: a discovered circuit, scored
    by the run): components by layer (heads across, the MLP after them, the embeddings below, the logits above),
    each edge an arrow from writer to reader labelled with the input it enters (q, k, v) where that is a head's, its
    width by |score| and its colour by sign (the verified effect where known, else the estimate: the change of the
    metric when the edge carries the noise prompt's value; blue where that lowers the metric, so the edge carries the
    behaviour). Over a distribution an estimate is a mean |effect|, with no sign: such an edge, unverified, is grey.
    Returns the path written."""
    plt = _pyplot()
    if edges is None:
        top = run.top(k)
    else:
        table = run.to_dataframe()
        unknown = sorted(set(edges) - set(table["name"]))
        if unknown:
            raise ValueError(f"edges: not in the run: {unknown[:5]}")
        top = table[table["name"].isin(set(edges))]
    if top.empty:
        raise ValueError("the run has no edges")
    blocks = run.blocks()
    heads = max(b.heads_per_layer for b in blocks)
    layers = max(b.layer for b in blocks)  # the logits' group has layer n_layers
    verified = ~top["verified_effect"].isna().to_numpy()
    score = np.where(verified, top["verified_effect"], top["estimate"]).astype(float)
    signed = verified | (run.summary is None or run.summary.pairs <= 1)
    largest = float(np.abs(score).max()) or 1.0
    fig, ax = plt.subplots(figsize=(min(14.0, 2.0 + 0.7 * (heads + 2)), min(12.0, 2.0 + 0.8 * (layers + 2))))
    placed: dict[str, tuple[float, float]] = {}
    for writer, reader, kind, value, known in zip(top["writer"], top["reader"], top["kind"], score, signed,
                                                  strict=True):
        w_name, wx, wy = _component(writer, heads, layers)
        r_name, rx, ry = _component(reader, heads, layers)
        placed[w_name], placed[r_name] = (wx, wy), (rx, ry)
        colour = "tab:gray" if not known else "tab:red" if value > 0 else "tab:blue"
        ax.annotate("", xy=(rx, ry), xytext=(wx, wy), arrowprops=dict(
            arrowstyle="-|>", color=colour, alpha=0.75, linewidth=0.5 + 4.5 * abs(value) / largest,
            shrinkA=9, shrinkB=9, connectionstyle="arc3,rad=0.08"))
        if kind in ("q", "k", "v"):
            ax.annotate(kind, ((0.25 * wx + 0.75 * rx), (0.25 * wy + 0.75 * ry)), fontsize=7, color=colour)
    for name, (x, y) in placed.items():
        ax.annotate(name, (x, y), fontsize=7, ha="center", va="center", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="black", linewidth=0.8))
    ax.set_yticks(range(-1, layers + 1), ["embed", *[f"layer {i}" for i in range(layers)], "logits"])
    ax.set_xticks([])
    ax.set_xlim(-1, heads)
    ax.set_ylim(-1.6, layers + 0.6)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="tab:red"), Line2D([], [], color="tab:blue")]
    labels = ["noising it raises the metric", "noising it lowers the metric"]
    if not signed.all():
        handles.append(Line2D([], [], color="tab:gray"))
        labels.append("not verified: a mean |effect|, no sign")
    ax.legend(handles, labels, fontsize=7, loc="lower right")
    summary = run.summary
    what = f"top {len(top)} edges" if edges is None else f"a circuit of {len(top)} edges"
    ax.set_title(title or (f"{summary.method} {what}: {summary.metric}" if summary else what), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def prune_curve(run, path: str, title: str | None = None) -> str:
    """Faithfulness against circuit size for a prune curve (``Client.evaluate_circuit`` without circuits), with
    each point's 95% interval over pairs shaded; 1 is the full model, 0 everything ablated. Returns the path."""
    plt = _pyplot()
    points = sorted(run.points(), key=lambda p: p.size)
    if not points:
        raise ValueError("the run has no circuit points")
    sizes = np.array([max(p.size, 0.5) for p in points])  # a log axis has no 0: the empty circuit sits at 0.5
    mean = np.array([p.faithfulness for p in points])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(sizes, mean, marker="o", markersize=3)
    low = np.array([p.low for p in points])
    high = np.array([p.high for p in points])
    if np.isfinite(low).all():
        ax.fill_between(sizes, low, high, alpha=0.2, label="95% interval over pairs")
        ax.legend(fontsize=8)
    ax.axhline(1, color="gray", linewidth=0.8, linestyle="--")
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("edges in the circuit (top n of the ranking)")
    ax.set_ylabel("faithfulness")
    summary = run.summary
    what = "prune curve"
    ax.set_title(title or (f"{summary.method} {what}: {summary.metric}" if summary else what), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
