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


#: Colours of a signed quantity, the same in every figure: red where noising the node or edge raises the metric,
#: blue where it lowers it (so it carries the behaviour the metric measures); grey for a magnitude with no sign.
RAISES, LOWERS, NO_SIGN = "tab:red", "tab:blue", "tab:gray"


def magnitudes(run) -> bool:
    """Whether the run's scores are magnitudes (>= 0, with no sign to read) rather than signed changes of the
    metric, as the server's summary says (the engine decides: AtP*'s scores; a gradient method's mean |estimate|
    over several pairs). A run without a summary (still streaming) is read as magnitudes, so a figure claims no sign
    rather than a wrong one; AtP* is read so too from a server older than the flag (its scores never have a sign)."""
    summary = run.summary
    if summary is None:
        return True
    return bool(summary.magnitudes) or summary.method == "atp-star"


def _sign_colour(value: float) -> str:
    return RAISES if value > 0 else LOWERS


def _finish(fig, path: str | None):
    """Saves and closes the figure and returns the path; with no path, returns the figure itself (to show in a
    notebook, change, or read back as the tests do)."""
    if path is None:
        return fig
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def _title(attribution, title: str | None, what: str) -> str:
    summary = attribution.summary
    text = title or (f"{summary.method} {what}: {summary.metric}" if summary else what)
    return "\n".join(textwrap.wrap(text, 48))


def head_heatmap(attribution, path: str | None, title: str | None = None):
    """A layer by head heatmap of head effects, each cell with its value; returns the path written (or, with
    ``path=None``, the figure).

    Signed estimates (AtP, activation patching) get a diverging scale centred on 0 (red raises the metric, blue
    lowers it); magnitudes (AtP* scores, means of |estimate| over pairs) a sequential grey one, so that no colour
    suggests a sign that is not there; there each verified head's cell is marked with the sign of its patched effect.
    """
    plt = _pyplot()
    matrix = head_matrix(attribution)
    signed = not magnitudes(attribution)
    limit = float(np.nanmax(np.abs(matrix))) or 1.0
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 + 0.8 * matrix.shape[1]), 1.6 + 0.6 * matrix.shape[0]))
    if signed:
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        label = "estimate: change of the metric\n(red raises it, blue lowers it)"
    else:
        image = ax.imshow(matrix, cmap="Greys", vmin=0, vmax=limit, aspect="auto")
        label = "score: a magnitude (>= 0), no sign"
    # Beside a magnitude, the sign of each verified head's true effect (AtP* scores carry none).
    signs = {(v.layer, v.unit): v.effect for v in attribution.verified() if v.site == "z" and v.position < 0}
    for (layer, head), value in np.ndenumerate(matrix):
        strong = abs(value) > 0.6 * limit
        known = not signed and (layer, head) in signs
        sign = f"\n({'+' if signs[(layer, head)] > 0 else '-'})" if known else ""
        ax.text(head, layer, f"{value:.2f}{sign}", ha="center", va="center", fontsize=8,
                color=_sign_colour(signs[(layer, head)]) if known else "white" if strong else "black",
                fontweight="bold" if known else "normal")
    ax.set_xlabel("head" + ("\n(+) red / (-) blue: sign of the verified effect" if signs and not signed else ""))
    ax.set_ylabel("layer")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_title(_title(attribution, title, "per head"), fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return _finish(fig, path)


def verified_bars(attribution, path: str | None, k: int = 10, title: str | None = None):
    """The top-k nodes' estimates next to their verified effects, in rank order; returns the path written (or the
    figure). Signed estimates stand beside signed effects on one axis; magnitudes (AtP*) beside |effect|, each effect
    bar coloured by its sign (red raises the metric, blue lowers it), the estimate bars grey."""
    plt = _pyplot()
    verified = _verified(attribution, k)
    names = [v.name for v in verified]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.5 + 0.7 * len(names)), 3.8))
    effects = np.array([v.effect for v in verified])
    colours = [_sign_colour(e) for e in effects]
    if magnitudes(attribution):
        ax.bar(x - 0.2, [v.estimate for v in verified], 0.4, color=NO_SIGN, label="score (a magnitude, no sign)")
        ax.bar(x + 0.2, np.abs(effects), 0.4, color=colours)
        ax.set_ylabel("score and |effect| on the metric")
    else:
        ax.bar(x - 0.2, [v.estimate for v in verified], 0.4, color="white", edgecolor="black", hatch="//",
               label="estimate (signed)")
        ax.bar(x + 0.2, effects, 0.4, color=colours)
        ax.set_ylabel("change of the metric")
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles += [Patch(color=RAISES), Patch(color=LOWERS)]
    labels += ["verified effect: noising raises the metric", "verified effect: noising lowers the metric"]
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("node, in the estimate's rank order")
    ax.set_title(_title(attribution, title, "top nodes, verified"), fontsize=9)
    ax.legend(handles, labels, fontsize=7)
    fig.tight_layout()
    return _finish(fig, path)


def verified_scatter(attribution, path: str | None, k: int = 100, title: str | None = None):
    """Each verified node's estimate against its true effect, with the diagonal where they agree; magnitudes
    (AtP* scores) are set against |effect|, each point coloured by its effect's sign. Returns the path written (or
    the figure)."""
    plt = _pyplot()
    verified = _verified(attribution, k)
    estimates = np.array([v.estimate for v in verified])
    effects = np.array([v.effect for v in verified])
    unsigned = magnitudes(attribution)
    colours = [_sign_colour(e) for e in effects]
    shown = np.abs(effects) if unsigned else effects
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.scatter(estimates, shown, s=18, c=colours)
    low = float(min(estimates.min(), shown.min(), 0))
    high = float(max(estimates.max(), shown.max(), 0))
    # Names for the points that stand out; the crowd near 0 would only overprint itself.
    for v, x, y in zip(verified, estimates, shown, strict=True):
        if max(abs(x), abs(y)) > 0.1 * max(abs(low), abs(high)):
            ax.annotate(v.name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    from matplotlib.lines import Line2D

    ax.plot([low, high], [low, high], color="gray", linewidth=0.8, linestyle="--")
    handles = [Line2D([], [], color="gray", linewidth=0.8, linestyle="--"),
               Line2D([], [], color=RAISES, marker="o", linestyle=""),
               Line2D([], [], color=LOWERS, marker="o", linestyle="")]
    ax.legend(handles, ["score = |effect|" if unsigned else "estimate = effect", "noising raises the metric",
                        "noising lowers the metric"], fontsize=7)
    ax.set_xlabel("score (a magnitude)" if unsigned else "estimate")
    ax.set_ylabel("|verified effect|" if unsigned else "verified effect")
    ax.set_title(_title(attribution, title, "estimate vs verified effect"), fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


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


def circuit_graph(run, path: str | None, k: int = 30, title: str | None = None, edges: list[str] | None = None):
    """The top ``k`` edges of an edge run as a circuit (or, with ``edges``, those edges: a discovered circuit, scored
    by the run): components by layer (heads across, the MLP after them, the embeddings below, the logits above),
    each edge an arrow from writer to reader labelled with the input it enters (q, k, v) where that is a head's.

    Two kinds of edge, never on one scale. A verified edge (patched exactly) is solid, coloured by the sign of its
    patched effect (red: noising it raises the metric; blue: lowers it, so the edge carries the behaviour), its width
    by |effect| against the largest verified |effect|. An unverified edge is dashed, its width by |score| against the
    largest unverified |score|: grey where the scores are magnitudes (AtP*, or a mean |estimate| over pairs: no
    sign), else coloured by the estimate's sign. The legend gives both scales' widest values. Returns the path
    written (or, with ``path=None``, the figure; each arrow's ``get_gid()`` is its edge's name)."""
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
    effect = top["verified_effect"].to_numpy(dtype=float)
    estimate = top["estimate"].to_numpy(dtype=float)
    verified = ~np.isnan(effect)
    signed_estimates = not magnitudes(run)
    widest_effect = float(np.abs(effect[verified]).max()) if verified.any() else 0.0
    widest_score = float(np.abs(estimate[~verified]).max()) if (~verified).any() else 0.0
    fig, ax = plt.subplots(figsize=(min(14.0, 2.0 + 0.7 * (heads + 2)), min(13.0, 2.9 + 0.8 * (layers + 2))))
    placed: dict[str, tuple[float, float]] = {}
    for name, writer, reader, kind, est, eff, known in zip(top["name"], top["writer"], top["reader"], top["kind"],
                                                          estimate, effect, verified, strict=True):
        w_name, wx, wy = _component(writer, heads, layers)
        r_name, rx, ry = _component(reader, heads, layers)
        placed[w_name], placed[r_name] = (wx, wy), (rx, ry)
        # Verified edges on top and up to 5 points wide; unverified ones fainter and up to 3, so that a score's own
        # scale never looks like the size of a patched effect.
        if known:
            colour, width, style = _sign_colour(eff), 0.5 + 4.5 * abs(eff) / (widest_effect or 1.0), "solid"
        else:
            colour = _sign_colour(est) if signed_estimates else NO_SIGN
            width, style = 0.5 + 2.5 * abs(est) / (widest_score or 1.0), "dashed"
        arrow = ax.annotate("", xy=(rx, ry), xytext=(wx, wy), zorder=3 if known else 2, arrowprops=dict(
            arrowstyle="-|>", color=colour, alpha=0.85 if known else 0.5, linewidth=width, linestyle=style,
            shrinkA=9, shrinkB=9, connectionstyle="arc3,rad=0.08"))
        arrow.set_gid(name)
        if kind in ("q", "k", "v"):
            ax.annotate(kind, ((0.25 * wx + 0.75 * rx), (0.25 * wy + 0.75 * ry)), fontsize=7, color=colour)
    for component, (x, y) in placed.items():
        ax.annotate(component, (x, y), fontsize=7, ha="center", va="center", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="black", linewidth=0.8))
    ax.set_yticks(range(-1, layers + 1), ["embed", *[f"layer {i}" for i in range(layers)], "logits"])
    ax.set_xticks([])
    ax.set_xlim(-1, heads)
    ax.set_ylim(-1.6, layers + 0.6)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    from matplotlib.lines import Line2D

    handles, labels = [], []
    if verified.any() or signed_estimates:
        handles += [Line2D([], [], color=RAISES), Line2D([], [], color=LOWERS)]
        labels += ["noising it raises the metric", "noising it lowers the metric"]
    if verified.any():
        handles.append(Line2D([], [], color="black", linewidth=5))
        labels.append(f"verified (solid): width |patched effect|, widest {widest_effect:.3g}")
    if (~verified).any():
        handles.append(Line2D([], [], color="black" if signed_estimates else NO_SIGN, linewidth=3, linestyle="--"))
        labels.append(("not verified (dashed): width |estimate|" if signed_estimates
                       else "not verified (dashed, grey): a magnitude, no sign; width score")
                      + f", widest {widest_score:.3g}")
    # Below the drawing, where it covers no component.
    ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    summary = run.summary
    what = f"top {len(top)} edges" if edges is None else f"a circuit of {len(top)} edges"
    ax.set_title(title or (f"{summary.method} {what}: {summary.metric}" if summary else what), fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


def prune_curve(run, path: str | None, title: str | None = None):
    """Faithfulness against circuit size for a prune curve (``Client.evaluate_circuit`` without circuits), with
    each point's 95% interval over pairs shaded; 1 is the full model, 0 everything ablated. Returns the path (or,
    with ``path=None``, the figure)."""
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
    return _finish(fig, path)


def feature_positions(run, path: str | None, tokens: list[str] | None = None, k: int = 2,
                      title: str | None = None):
    """A feature attribution (``attribute(nodes="features")``) position by position: for each dictionary, its ``k``
    top features at each position (by |mean estimate| over the pairs) and its error term, one row each, every cell
    coloured by its estimate and labelled with the feature's index; verified nodes are outlined and carry the sign
    of their patched effect. ``tokens`` labels the positions. Returns the path written (or the figure)."""
    plt = _pyplot()
    frame = run.to_dataframe()
    if frame.empty:
        raise ValueError("the run scored no features")
    signed = not magnitudes(run)
    dictionaries = list(dict.fromkeys(b.dictionary for b in run.blocks()))  # the server's order
    length = int(frame["position"].max()) + 1
    rows = [(d, rank) for d in dictionaries for rank in [*range(k), -1]]
    values = np.full((len(rows), length), np.nan)
    labels = np.full((len(rows), length), "", dtype=object)
    names = np.full((len(rows), length), "", dtype=object)
    for r, (d, rank) in enumerate(rows):
        mine = frame[frame["dictionary"] == d]
        for t in range(length):
            at = mine[mine["position"] == t]
            at = at[at["feature"] == -1] if rank < 0 else at[at["feature"] >= 0].head(k)
            if rank < len(at) or (rank < 0 and len(at)):
                row = at.iloc[rank if rank >= 0 else 0]
                values[r, t] = row["estimate"]
                labels[r, t] = "err" if rank < 0 else f"f{row['feature']}"
                names[r, t] = row["name"]
    limit = float(np.nanmax(np.abs(values))) or 1.0
    fig, ax = plt.subplots(figsize=(max(5.0, 1.8 + 0.75 * length), 1.4 + 0.45 * len(rows)))
    if signed:
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        label = "estimate: change of the metric\n(red raises it, blue lowers it)"
    else:
        image = ax.imshow(values, cmap="Greys", vmin=0, vmax=limit, aspect="auto")
        label = "score: a magnitude (>= 0), no sign"
    effects = {v.name: v.effect for v in run.verified()}
    for (r, t), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        effect = effects.get(names[r, t])
        text = labels[r, t] + ("" if effect is None else f"\n({'+' if effect > 0 else '-'})")
        ax.text(t, r, text, ha="center", va="center", fontsize=7,
                color="white" if abs(value) > 0.6 * limit else "black",
                fontweight="bold" if effect is not None else "normal")
        if effect is not None:
            ax.add_patch(plt.Rectangle((t - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=_sign_colour(effect), lw=2))
    ax.set_yticks(range(len(rows)), [f"{d}: {'error' if rank < 0 else f'top {rank + 1}'}" for d, rank in rows],
                  fontsize=7)
    ax.set_xticks(range(length), tokens if tokens is not None else range(length), rotation=60, ha="right",
                  fontsize=7)
    ax.set_xlabel("position" + ("\noutlined: verified (red: noising raises the metric, blue: lowers it)"
                                if effects else ""))
    ax.set_title(_title(run, title, "top features per position"), fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return _finish(fig, path)
