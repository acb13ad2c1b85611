#!/usr/bin/env python3
"""Writes testdata/golden/float64-logits.json: transformers' float64 logits at full precision (17 significant
digits, where the other golden files keep 10) for the GPT-2 checkpoints, whose transformers code is float64
throughout, so Patchbay's float64 forward can be held to round-off (issue 36: LayerNorm's epsilon passed as a
float moved logits by about 1e-11).

For testdata/checkpoints/tiny-gpt2 and models/patchbay-tiny, the token ids of each model's golden file
(testdata/golden/<name>.json).

Developer tool: needs torch and transformers; deterministic. Usage: python3 tools/make_float64_golden.py
"""
import json
import pathlib

import torch
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "testdata" / "golden" / "float64-logits.json"
MODELS = {"tiny-gpt2": ROOT / "testdata" / "checkpoints" / "tiny-gpt2",
          "patchbay-tiny": ROOT / "models" / "patchbay-tiny"}


def main():
    golden = {"made_by": "tools/make_float64_golden.py", "dtype": "float64", "models": {}}
    for name, directory in MODELS.items():
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float64,
                                                     attn_implementation="eager").eval()
        prompts = [p["ids"] for p in json.loads((ROOT / "testdata" / "golden" / f"{name}.json").read_text())["prompts"]]
        runs = []
        for ids in prompts:
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
            runs.append({"ids": ids, "logits": [[float(repr(v)) for v in row] for row in logits.tolist()]})
        golden["models"][name] = runs
    OUT.write_text(json.dumps(golden))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
