"""What each figure draws, read back from the figure objects, on runs with known signs (no server): a magnitude
is never drawn as a sign, a verified effect is drawn with its own sign, and widths never mix the two scales."""
import matplotlib.colors as mcolors
import numpy as np
import pytest

import patchbay
from patchbay import edges, plots
from patchbay import events as ev
from patchbay.v1 import patchbay_pb2 as pb

pytest.importorskip("matplotlib")

RED, BLUE, GREY = (mcolors.to_rgba(c) for c in (plots.RAISES, plots.LOWERS, plots.NO_SIGN))


def summary(method, pairs=1, magnitudes=False):
    return ev.Summary(method, "logit_diff", pairs, 3.0, -1.0, 4.0, 6.5, 0.2, 0, 1, 0, magnitudes)


def edge_run(method, magnitudes, effects, pairs=1):
    """Two layers of two heads; the logits read embed, L0H0, L0H1, L0.mlp, L1H0, L1H1, L1.mlp, whose scores are
    below. ``effects``: the verified edges' patched effects by name."""
    scores = np.array([[0.5, 30.0, 2.0, 20.0, 1.0, 10.0, 0.25]], dtype=np.float32)
    block = edges.EdgeBlock("logits", 2, 1, 7, 2, [], scores, pb.READER_LOGITS)
    verified = [edges.VerifiedEdge(rank, name, 0.0, effect) for rank, (name, effect) in enumerate(effects.items(), 1)]
    return patchbay.EdgeAttribution.of_events([block, *verified, summary(method, pairs, magnitudes)])


def arrows(fig):
    """Each drawn edge's (colour, width, dashed) by its name."""
    out = {}
    for text in fig.axes[0].texts:
        if text.get_gid():
            patch = text.arrow_patch
            out[text.get_gid()] = (patch.get_edgecolor()[:3], patch.get_linewidth(), patch.get_linestyle() == "dashed")
    return out


def rgb(colour):
    return colour[:3]


def test_the_readmes_case_atp_star_edges_unverified_grey_verified_by_the_sign_of_their_effect():
    # AtP* scores are magnitudes; the two verified edges lower and raise the metric.
    run = edge_run("atp-star", True, {"L0H0->logits": -25.5, "L0.mlp->logits": 4.0})
    drawn = arrows(plots.circuit_graph(run, None, k=5))
    assert set(drawn) == {"L0H0->logits", "L0.mlp->logits", "L1H1->logits", "L0H1->logits", "L1H0->logits"}
    assert drawn["L0H0->logits"][0] == rgb(BLUE) and drawn["L0.mlp->logits"][0] == rgb(RED)
    assert not drawn["L0H0->logits"][2] and not drawn["L0.mlp->logits"][2]
    for name in ("L1H1->logits", "L0H1->logits", "L1H0->logits"):
        assert drawn[name][0] == rgb(GREY) and drawn[name][2], name
    # Verified widths by |effect| on their own scale (the largest is widest); unverified by score on theirs.
    assert drawn["L0H0->logits"][1] == pytest.approx(5.0)
    assert drawn["L0.mlp->logits"][1] == pytest.approx(0.5 + 4.5 * 4.0 / 25.5)
    assert drawn["L1H1->logits"][1] == pytest.approx(3.0)
    assert drawn["L0H1->logits"][1] == pytest.approx(0.5 + 2.5 * 2.0 / 10.0)


def test_signed_single_pair_estimates_keep_their_sign_and_a_verified_effect_overrides_it():
    run = edge_run("eap", False, {"L0H0->logits": -3.0})
    block = run.blocks()[0]
    block.values[0, 5] = -10.0  # L1H1's estimate lowers the metric
    drawn = arrows(plots.circuit_graph(run, None, k=3))
    assert drawn["L0H0->logits"][0] == rgb(BLUE) and not drawn["L0H0->logits"][2]
    assert drawn["L0.mlp->logits"][0] == rgb(RED) and drawn["L0.mlp->logits"][2]
    assert drawn["L1H1->logits"][0] == rgb(BLUE) and drawn["L1H1->logits"][2]


def test_the_servers_flag_decides_and_a_run_that_cannot_say_is_read_as_magnitudes():
    # The engine's flag is the rule (the client does not second-guess it); no summary yet, or an older server's
    # AtP* summary without the flag: no colour claims a sign.
    assert plots.magnitudes(edge_run("eap", True, {}, pairs=2))
    assert not plots.magnitudes(edge_run("exact", False, {}, pairs=2))
    assert not plots.magnitudes(edge_run("eap", False, {}))
    assert plots.magnitudes(edge_run("atp-star", False, {}))
    block = edges.EdgeBlock("logits", 2, 1, 7, 2, [], np.zeros((1, 7), dtype=np.float32), pb.READER_LOGITS)
    assert plots.magnitudes(patchbay.EdgeAttribution.of_events([block]))


def node_run(method, magnitudes, values, verified=()):
    """Two layers of two heads; ``values`` [layer][head]; ``verified`` (layer, head, effect)."""
    events = [ev.Effects("z", layer, [], np.array(row, dtype=np.float32), pb.HEAD_OUTPUT)
              for layer, row in enumerate(values)]
    events += [ev.Verified(rank, f"L{layer}H{head}", "z", layer, head, -1, 0.0, effect)
               for rank, (layer, head, effect) in enumerate(verified, 1)]
    return patchbay.Attribution.of_events([*events, summary(method, 1, magnitudes)])


def test_the_head_heatmap_draws_magnitudes_grey_with_verified_signs_and_signed_estimates_diverging():
    run = node_run("atp-star", True, [[3.0, 1.0], [0.5, 2.0]], [(0, 0, -2.0), (1, 1, 1.5)])
    fig = plots.head_heatmap(run, None)
    assert fig.axes[0].images[0].get_cmap().name == "Greys"
    cells = {t.get_position(): t for t in fig.axes[0].texts}
    assert cells[(0, 0)].get_text() == "3.00\n(-)" and cells[(0, 0)].get_color() == plots.LOWERS
    assert cells[(1, 1)].get_text() == "2.00\n(+)" and cells[(1, 1)].get_color() == plots.RAISES
    assert cells[(1, 0)].get_text() == "1.00"
    # Signed estimates, all of them positive here: still the diverging scale centred on 0.
    signed = plots.head_heatmap(node_run("atp", False, [[3.0, 1.0], [0.5, 2.0]]), None)
    image = signed.axes[0].images[0]
    assert image.get_cmap().name == "RdBu_r" and image.get_clim() == (-3.0, 3.0)


def test_verified_bars_set_magnitudes_against_the_size_of_the_effect_coloured_by_its_sign():
    run = node_run("atp-star", True, [[3.0, 1.0], [0.5, 2.0]], [(0, 0, -2.0), (1, 1, 1.5)])
    bars = plots.verified_bars(run, None).axes[0].patches
    scores, effects = bars[:2], bars[2:]
    assert [b.get_height() for b in scores] == [0.0, 0.0]  # the events' estimates
    assert [rgb(b.get_facecolor()) for b in scores] == [rgb(GREY)] * 2
    assert [b.get_height() for b in effects] == [2.0, 1.5]
    assert [rgb(b.get_facecolor()) for b in effects] == [rgb(BLUE), rgb(RED)]
    signed = plots.verified_bars(node_run("ap", False, [[3.0, 1.0], [0.5, 2.0]], [(0, 0, -2.0)]), None)
    assert signed.axes[0].patches[1].get_height() == -2.0


def test_the_verified_scatter_colours_each_point_by_the_sign_of_its_effect():
    run = node_run("atp-star", True, [[3.0, 1.0], [0.5, 2.0]], [(0, 0, -2.0), (1, 1, 1.5)])
    points = plots.verified_scatter(run, None).axes[0].collections[0]
    np.testing.assert_array_equal(points.get_offsets()[:, 1], [2.0, 1.5])
    assert [tuple(c) for c in points.get_facecolors()] == [BLUE, RED]


def test_the_prune_curve_draws_each_points_faithfulness_at_its_size():
    points = [edges.CircuitPoint(f"top {n}", n, f, f - 0.1, f + 0.1, [f]) for n, f in ((0, 0.0), (4, 0.6), (16, 1.0))]
    run = patchbay.CircuitRun.of_events(points)
    line = plots.prune_curve(run, None).axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [0.5, 4, 16])
    np.testing.assert_array_equal(line.get_ydata(), [0.0, 0.6, 1.0])
