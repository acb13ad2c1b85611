#!/usr/bin/env python3
"""Steers the bundled models and measures it: the numbers of docs/steering.md.

Starts a Patchbay server (the built jar) with both bundled models and, through the Python client: on patchbay-tiny,
an IOI prompt continued plain, with the heads AtP* ranks highest ablated or patched from the noise prompt, and with
a contrastive steering vector at three strengths; on patchbay-tiny-llama, a repeated sequence continued plain and
with its induction head ablated.
Each IOI intervention is scored by the fraction of the behaviour it moves: (m(plain) - m(steered)) / (m(plain) -
m(other)), where m is log p(" Mary") - log p(" John") at the first new token and "other" the prompt whose answer
is John. Writes docs/steering/results.json. Usage, after cli/target/patchbay.jar is built:

    .venv/bin/python research/src/main/python/make_steering.py
"""
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "client-python" / "src"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bundled_server import serve  # noqa: E402

import patchbay  # noqa: E402

OUT = REPO / "docs" / "steering"
IOI = "When Mary and John went to the store, John gave a drink to"
OTHER = "When Mary and John went to the store, Mary gave a drink to"
# Contrastive pairs for the vector: positive prompts answer John, negative ones Mary (same template, other places).
PLACES = "park school garden station market library".split()
INDUCTION = "apple river stone cloud green silver apple river stone"


def continuation(client, model, prompt, interventions=None, new_tokens=4):
    """The greedy continuation and, at its first token, log p(" Mary") - log p(" John")."""
    run = client.generate(model, prompt, max_new_tokens=new_tokens, interventions=interventions,
                          watch=[" Mary", " John"])
    first = next(e for e in run if isinstance(e, patchbay.GeneratedToken))
    mary, john = (w.log_prob for w in first.watched)
    return run.text(), mary - john


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    process, address = serve()
    results = {"made_by": "research/src/main/python/make_steering.py", "prompt": IOI}
    try:
        with patchbay.Client(address) as client:
            text, plain = continuation(client, "patchbay-tiny", IOI)
            _, other = continuation(client, "patchbay-tiny", OTHER)
            results["plain"] = {"continuation": text, "metric": plain}
            results["other"] = {"prompt": OTHER, "metric": other}

            def moved(m):
                return (plain - m) / (plain - other)

            # From attribution to steering: the heads AtP* ranks highest for this pair, ablated while generating.
            ranked = client.attribute("patchbay-tiny", patchbay.Pair(IOI, OTHER, answer=" Mary", wrong=" John"),
                                      method="atp-star", nodes="heads", verify_top_k=3).top(3)
            heads = list(ranked["name"])
            ablate = patchbay.node_interventions(heads, "zero")
            text, m = continuation(client, "patchbay-tiny", IOI, ablate)
            results["ablate_top_heads"] = {"heads": heads, "verified_effects": list(ranked["verified_effect"]),
                                           "continuation": text, "metric": m, "moved": moved(m)}
            # The same heads patched from the noise prompt (the other answer) instead of zeroed.
            patch = patchbay.node_interventions(heads, "patch", source=OTHER)
            text, m = continuation(client, "patchbay-tiny", IOI, patch)
            results["patch_top_heads"] = {"continuation": text, "metric": m, "moved": moved(m)}

            # A contrastive steering vector: answers John minus answers Mary, at the last token before layer 3.
            pairs = [(f"When Mary and John went to the {p} , Mary gave a drink to",
                      f"When Mary and John went to the {p} , John gave a drink to") for p in PLACES]
            vector = client.steering_vector("patchbay-tiny", "blocks.3.hook_resid_pre", pairs, name="towards-john")
            results["vector"] = {"site": "blocks.3.hook_resid_pre", "pairs": len(pairs),
                                 "norm": float((vector ** 2).sum() ** 0.5), "strengths": []}
            for c in (0.5, 1.0, 2.0):
                text, m = continuation(client, "patchbay-tiny", IOI, [
                    {"site": "blocks.3.hook_resid_pre", "op": "add", "vector": "towards-john", "coefficient": c,
                     "positions": "prompt"}])
                results["vector"]["strengths"].append({"coefficient": c, "continuation": text, "metric": m,
                                                       "moved": moved(m)})

            # Induction: the head that attends to the token after the current token's earlier copy, ablated.
            text, _ = continuation(client, "patchbay-tiny-llama", INDUCTION, new_tokens=3)
            ablated, _ = continuation(client, "patchbay-tiny-llama", INDUCTION,
                                      [{"site": "blocks.2.attn.hook_z", "op": "zero", "units": [0]}], new_tokens=3)
            results["induction"] = {"prompt": INDUCTION, "plain": text, "without_L2H0": ablated}
    finally:
        process.terminate()
        process.wait()
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
