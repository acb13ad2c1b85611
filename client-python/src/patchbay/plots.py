"""Pictures of a finished attribution, saved as PNG (needs matplotlib: the ``plots`` extra)."""
from __future__ import annotations

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
