"""Pictures of a finished attribution, saved as PNG (needs matplotlib: the ``plots`` extra)."""
from __future__ import annotations

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


def head_heatmap(attribution, path: str, title: str | None = None) -> str:
    """A layer by head heatmap of head effects; returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = head_matrix(attribution)
    limit = np.nanmax(np.abs(matrix)) or 1.0
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * matrix.shape[1], 1.0 + 0.5 * matrix.shape[0]))
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    summary = attribution.summary
    ax.set_title(title or (f"{summary.method}: {summary.metric}" if summary else "head effects"), fontsize=9)
    fig.colorbar(image, ax=ax, label="estimate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def verified_bars(attribution, path: str, k: int = 10) -> str:
    """The top-k nodes' estimates next to their verified effects; returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    verified = attribution.verified()[:k]
    if not verified:
        raise ValueError("nothing was verified; ask for verify_top_k")
    names = [v.name for v in verified]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(names), 3.5))
    ax.bar(x - 0.2, [v.estimate for v in verified], 0.4, label="estimate")
    ax.bar(x + 0.2, [v.effect for v in verified], 0.4, label="verified effect")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
