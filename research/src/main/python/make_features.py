#!/usr/bin/env python3
"""The numbers and figures of docs/features.md: IOI and induction at the level of SAE features, verified.

Starts a Patchbay server (the built jar) with both bundled models and the SAEs tools/train_saes.py ships beside them
(resid1 and resid3: 512 features at blocks.1 and blocks.3.hook_resid_pre), and through the Python client:

  IOI (patchbay-tiny)               8 prompts of one template with ABC noise (the subject replaced by a third name)
  induction (patchbay-tiny-llama)   8 repeated random sequences, the first copy replaced in the noise

For each, AtP over every feature and error node of both SAEs, the 12 top nodes verified by exact feature patching,
each dictionary's diagnostic over the rest; then, with AtP*, the same ranking's overlap; and on the first pair the
feature edges from resid1 into resid3's 6 top features, the 10 largest verified by exact edge patching. It writes
docs/features/*.png (top features per position; estimates beside verified effects) and docs/features/results.json
(every number the page quotes). Deterministic (fixed seeds). Usage, after ./patchbay test or mvn install has built
cli/target/patchbay.jar:

    .venv/bin/python research/src/main/python/make_features.py
"""
import json
import pathlib
import random
import sys

REPO = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "client-python" / "src"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bundled_server import MODELS, serve  # noqa: E402
from make_circuits import induction_prompt, ioi_prompt, pairs_of, NAMES  # noqa: E402

import patchbay  # noqa: E402
from patchbay import plots  # noqa: E402

OUT = REPO / "docs" / "features"
SAES = ("resid1", "resid3")
VERIFY = 12
EDGE_NODES = 6
EDGE_VERIFY = 10


def dictionary_flags():
    return [f"--dictionary={model}/{sae}={REPO / 'models' / model / 'saes' / sae}" for model in MODELS
            for sae in SAES]


def study(client, model, prompts, tag, results):
    pairs = pairs_of(prompts)
    tokens = client.tokenize(model, prompts[0]["clean"]).tokens
    run = client.attribute(model, pairs, nodes="features", method="atp", verify_top_k=VERIFY,
                           diagnostic=True).collect()
    star = client.attribute(model, pairs, nodes="features", method="atp-star").collect()
    # Feature edges from resid1's features into resid3's 6 top features, on the first pair, the 10 largest verified.
    edged = client.attribute(model, pairs[:1], nodes="features", method="atp", edge_nodes=EDGE_NODES,
                             verify_edges=EDGE_VERIFY).collect()
    edges = edged.edges()
    frame = run.to_dataframe()
    top = frame.head(VERIFY)
    star_top = set(star.to_dataframe().head(VERIFY)["name"])
    plots.feature_positions(run, str(OUT / f"{tag}-positions.png"), tokens=tokens, k=2,
                            title=f"{tag}: AtP over the SAE features of {model} (mean over {len(pairs)} pairs)")
    plots.verified_bars(run, str(OUT / f"{tag}-verified.png"), k=VERIFY,
                        title=f"{tag}: the top {VERIFY} feature and error nodes, AtP beside exact patching")
    verified = sorted(run.verified(), key=lambda v: v.rank)
    results[tag] = {
        "model": model,
        "pairs": len(pairs),
        "example": prompts[0],
        "tokens": tokens,
        "clean_metric": run.summary.clean_metric,
        "noise_metric": run.summary.noise_metric,
        "scored_nodes": len(frame),
        "features_scored": int((frame["feature"] >= 0).sum()),
        "top": [{"name": n, "dictionary": d, "estimate": e, "verified_effect": v}
                for n, d, e, v in zip(top["name"], top["dictionary"], top["estimate"], top["verified_effect"],
                                      strict=True)],
        "verified_sign_agreement": sum((v.estimate > 0) == (v.effect > 0) for v in verified) / len(verified),
        "verified_mean_abs_error": sum(abs(v.estimate - v.effect) for v in verified) / len(verified),
        "atp_star_top_overlap": len(star_top & set(top["name"])) / VERIFY,
        "diagnostics": [{"dictionary": d.dictionary, "unverified": d.nodes, "threshold": d.threshold,
                         "max_upper_bound": d.max_upper_bound, "flagged": len(d.flagged),
                         "first_flagged": [name for name, _ in d.flagged[:5]]} for d in run.diagnostics()],
        "edges": {"downstream_nodes": edged.edge_blocks()[0].downstream_nodes, "count": len(edges),
                  "top": [{"name": n, "estimate": e, "verified_effect": v} for n, e, v in
                          zip(edges["name"][:EDGE_VERIFY], edges["estimate"][:EDGE_VERIFY],
                              edges["verified_effect"][:EDGE_VERIFY], strict=True)],
                  "verified_sign_agreement": float(((edges["estimate"][:EDGE_VERIFY] > 0)
                                                    == (edges["verified_effect"][:EDGE_VERIFY] > 0)).mean())},
        "forward_passes": run.summary.forward_passes,
        "wall_seconds": run.summary.wall_seconds,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    process, address = serve(extra=dictionary_flags())
    results = {}
    try:
        with patchbay.Client(address) as client:
            rng = random.Random(7)
            study(client, "patchbay-tiny", [ioi_prompt(rng, NAMES) for _ in range(8)], "ioi", results)
            rng = random.Random(8)
            study(client, "patchbay-tiny-llama", [induction_prompt(rng) for _ in range(8)], "induction", results)
    finally:
        process.terminate()
        process.wait()
    (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: {x: v[x] for x in ("top", "verified_sign_agreement", "atp_star_top_overlap")}
                      for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
