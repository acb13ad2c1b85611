#!/usr/bin/env python3
"""Writes the prompt pairs of `./patchbay replicate` for the bundled model: models/patchbay-tiny/replication.json.

The paper's settings (docs/spec/atp-spec.md section 7), in this model's vocabulary, with prompts the model was not
trained on (the training script's generators, another seed):

  IOI-PP    one IOI sentence; noise: its subject replaced by a third name (Wang et al.'s ABC corruption)
  CITY-PP   "City: X. Country:" -> X's country; noise: a city of another country
  RAND-PP   two unrelated snippets of the training mixture cut to the same length; the metric is the logit of
            the clean snippet's next word minus that of the noise snippet's next word
  IOI-DIST  IOI sentences from the two templates of one token length, each with its own ABC noise

Developer tool (imports the training script, so it needs its dependencies); deterministic.
Usage: python3 tools/make_replication_prompts.py [--pairs N]
"""
import argparse
import json
import random

from train_default_model import (CITIES, IOI_TEMPLATES, NAMES, OBJECTS, OUT, PLACES, city_country, documents,
                                 make_tokenizer, vocabulary)

SEED = 2024


def ioi_pair(rng, template):
    """An IOI prompt (its final name cut off) and its ABC noise: the subject replaced by a third name."""
    a, b, c = rng.sample(NAMES, 3)
    io, s = (a, b) if rng.random() < 0.5 else (b, a)
    fill = dict(A=a, B=b, IO="", place=rng.choice(PLACES), object=rng.choice(OBJECTS))
    return {"clean": template.format(S=s, **fill).rstrip(), "noise": template.format(S=c, **fill).rstrip(),
            "answer": " " + io, "wrong": " " + s}


def city_pair(rng, facts):
    city = rng.choice(CITIES)
    other = rng.choice([c for c in CITIES if facts[c] != facts[city]])
    return {"clean": f"City: {city}. Country:", "noise": f"City: {other}. Country:",
            "answer": " " + facts[city], "wrong": " " + facts[other]}


def random_pair(rng, tok, facts, length=12):
    """Two snippets of different documents, `length` tokens each, with different next words."""
    stream = documents(rng, facts)
    snippets = []
    while len(snippets) < 2:
        ids = tok.encode(next(stream)).ids
        if len(ids) > length and (not snippets or ids[length] != snippets[0][length]):
            snippets.append(ids)
    text = [tok.decode(s[:length]) for s in snippets]
    return {"clean": text[0], "noise": text[1], "answer": " " + tok.id_to_token(snippets[0][length]),
            "wrong": " " + tok.id_to_token(snippets[1][length])}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=8, help="pairs of the IOI distribution")
    args = parser.parse_args()
    rng = random.Random(SEED)
    tok = make_tokenizer(vocabulary())
    facts = city_country()

    def length(text):
        return len(tok.encode(text).ids)

    single = ioi_pair(random.Random(0), IOI_TEMPLATES[0])
    n = length(single["clean"])
    same_length = [t for t in IOI_TEMPLATES if length(ioi_pair(random.Random(1), t)["clean"]) == n]
    distribution = [ioi_pair(rng, rng.choice(same_length)) for _ in range(args.pairs)]
    settings = [
        {"name": "IOI-PP", "description": "one IOI sentence vs its ABC version", "pairs": [single]},
        {"name": "CITY-PP", "description": "a city's country vs a city of another country",
         "pairs": [city_pair(rng, facts)]},
        {"name": "RAND-PP", "description": "two unrelated snippets; their next words' logit difference",
         "pairs": [random_pair(rng, tok, facts)]},
        {"name": "IOI-DIST", "description": f"{args.pairs} IOI sentences vs their ABC versions "
                                            f"({len(same_length)} templates of {n} tokens)",
         "pairs": distribution},
    ]
    for s in settings:
        for p in s["pairs"]:
            assert length(p["clean"]) == length(p["noise"]), p
            for word in (p["answer"], p["wrong"]):
                assert tok.token_to_id(word.strip()) is not None, word
    out = OUT / "replication.json"
    out.write_text(json.dumps({"made_by": "tools/make_replication_prompts.py", "settings": settings}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
