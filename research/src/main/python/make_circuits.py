#!/usr/bin/env python3
"""Finds the circuits of the bundled models and checks them: the numbers and figures of docs/circuits.md.

Starts a Patchbay server (the built jar) with both bundled models and, through the Python client:

  IOI (patchbay-tiny)        AtP* on edges with verification, greedy discovery from that ranking (and the
                             ACDC-style search, for its cost), the found circuit's faithfulness under noise-prompt
                             and resample ablation, a prune curve, and causal scrubbing of a stated hypothesis
  induction (patchbay-tiny-llama)  the same search on repeated random sequences

(head_patterns.py beside it, which needs torch and transformers, measures which heads attend to the previous token
and which are induction heads, from transformers' attention patterns.)

It writes docs/circuits/*.png and docs/circuits/results.json (every number the page quotes). Deterministic (fixed
seeds). Usage, after ./patchbay test or mvn install has built cli/target/patchbay.jar:

    .venv/bin/python research/src/main/python/make_circuits.py
"""
import json
import pathlib
import random
import sys

REPO = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "client-python" / "src"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bundled_server import serve  # noqa: E402

import patchbay  # noqa: E402
from patchbay import plots  # noqa: E402

OUT = REPO / "docs" / "circuits"
IOI_MODEL = "patchbay-tiny"
INDUCTION_MODEL = "patchbay-tiny-llama"
# Words of the bundled models' vocabulary (models/*/tokenizer.json), by role.
NAMES = "Mary John Alice Bob Sarah Tom Emma James Laura David Anna Paul Kate Mark Lucy Peter".split()
PLACES = "store park school garden station market library beach office museum".split()
OBJECTS = "drink book ball letter gift key bag cake flower ticket".split()
FILLER = ("apple river stone cloud green silver window morning paper garden candle mountain yellow engine forest "
          "pillow ocean thunder violet marble rabbit copper meadow lantern sugar planet whisper harbor").split()
TEMPLATE = "When {A} and {B} went to the {place}, {S} gave a {object} to"


def ioi_prompt(rng, names):
    """One IOI prompt of TEMPLATE (its final name cut off), its ABC noise, and its labels."""
    a, b, c = rng.sample(names, 3)
    io, s = (a, b) if rng.random() < 0.5 else (b, a)
    fill = dict(A=a, B=b, place=rng.choice(PLACES), object=rng.choice(OBJECTS))
    return {"clean": TEMPLATE.format(S=s, **fill), "noise": TEMPLATE.format(S=c, **fill), "answer": " " + io,
            "wrong": " " + s, "io": io, "s": s, "order": "ABB" if io == a else "BAB"}


def induction_prompt(rng, length=6):
    """A random sequence, then its first length-1 words again: the next word is the sequence's last. The noise
    replaces the first copy, so nothing earlier predicts the next word; the wrong answer is the noise's own."""
    first = rng.sample(FILLER, length)
    other = rng.sample([w for w in FILLER if w not in first], length)
    repeat = first[:-1]
    return {"clean": " ".join(first + repeat), "noise": " ".join(other + repeat), "answer": " " + first[-1],
            "wrong": " " + other[-1]}


def pairs_of(prompts):
    return [patchbay.Pair(p["clean"], p["noise"], answer=p["answer"], wrong=p["wrong"]) for p in prompts]


def find_circuit(client, model, pairs, tag, results):
    """AtP* edges with the top 20 verified, greedy discovery from that ranking, ACDC for its cost, the found
    circuit's faithfulness under two ablations, and a prune curve."""
    # Verified deep enough that most of the found circuit's edges have a signed, exact effect in the figure.
    scores = client.attribute_edges(model, pairs, method="atp-star", verify_top_k=128).collect()
    top = scores.top(20)
    discovery = client.discover_circuit(model, pairs, search="greedy", ranking="atp-star", target=0.9,
                                        ablation="noise").collect()
    acdc = client.discover_circuit(model, pairs, search="acdc", threshold=0.01, ablation="noise").collect()
    found = discovery.circuit
    checks = client.evaluate_circuit(model, pairs, circuits={"found": found.edges}, ablation="resample").points()
    # Resample ablation is the harsher test (edges outside the circuit carry another prompt's names or words): the
    # same search under it.
    by_resample = client.discover_circuit(model, pairs, search="greedy", ranking="atp-star", target=0.9,
                                          ablation="resample").collect().circuit
    curve = client.evaluate_circuit(model, pairs, ranking="atp-star", ablation="noise").collect()
    plots.circuit_graph(scores, str(OUT / f"{tag}-circuit.png"), edges=found.edges,
                        title=f"{model}: {tag} circuit, greedy discovery from AtP*")
    plots.circuit_graph(scores, str(OUT / f"{tag}-top-edges.png"), k=12,
                        title=f"{model}: {tag}, AtP*'s top 12 edges (verified)")
    plots.prune_curve(curve, str(OUT / f"{tag}-prune-curve.png"),
                      title=f"{model}, {tag}: AtP*'s top n edges, noise-prompt ablation")
    results[tag] = {
        "model": model,
        "pairs": len(pairs),
        "edges_in_model": scores.events[0].node_count,
        "top_edges": [{"edge": n, "estimate": float(e), "verified": float(v)}
                      for n, e, v in zip(top["name"], top["estimate"], top["verified_effect"], strict=True)],
        "found": {"edges": found.edges, "faithfulness_noise": found.faithfulness,
                  "search_runs_per_pair": found.forward_passes,
                  "total_forward_passes": discovery.summary.forward_passes,
                  "faithfulness_resample": checks[0].faithfulness,
                  "resample_interval": [checks[0].low, checks[0].high]},
        "found_under_resample": {"edges": by_resample.edges, "faithfulness_resample": by_resample.faithfulness,
                                 "search_runs_per_pair": by_resample.forward_passes},
        "acdc": {"edges": acdc.circuit.edges, "faithfulness_noise": acdc.circuit.faithfulness,
                 "runs_per_pair": acdc.circuit.forward_passes},
        "prune_curve": [(p.size, p.faithfulness) for p in curve.points()],
    }
    return found


def scrub_ioi(client, found, results):
    """Causal scrubbing of the found IOI circuit, on prompts of four names (so classes have several members):

    names   every edge of the circuit depends only on the names and their order (not the place or the object)
    io      ... only on the indirect object's name (the subject's name and the order do not matter)
    """
    rng = random.Random(7)
    prompts = [ioi_prompt(rng, NAMES[:4]) for _ in range(96)]
    pairs = pairs_of(prompts)
    results["scrub"] = {"prompts": len(prompts), "names": NAMES[:4]}
    hypotheses = {
        "names": [p["io"] + p["s"] + p["order"] for p in prompts],
        "io": [p["io"] for p in prompts],
    }
    for name, labels in hypotheses.items():
        run = client.scrub(IOI_MODEL, pairs, {edge: labels for edge in found.edges}, samples=384, seed=1).collect()
        r = run.result
        results["scrub"][name] = {"recovered": r.recovered, "interval": [r.low, r.high], "original": r.original,
                                  "scrubbed": r.scrubbed, "resampled": r.resampled,
                                  "runs_per_sample": r.runs_per_sample}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    process, address = serve()
    results = {"made_by": "research/src/main/python/make_circuits.py"}
    try:
        with patchbay.Client(address) as client:
            rng = random.Random(2024)
            ioi = find_circuit(client, IOI_MODEL, pairs_of([ioi_prompt(rng, NAMES) for _ in range(16)]), "ioi",
                               results)
            scrub_ioi(client, ioi, results)
            rng = random.Random(2025)
            find_circuit(client, INDUCTION_MODEL, pairs_of([induction_prompt(rng) for _ in range(16)]), "induction",
                         results)
    finally:
        process.terminate()
        process.wait()
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
