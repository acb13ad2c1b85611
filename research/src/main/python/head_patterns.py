#!/usr/bin/env python3
"""Which heads of patchbay-tiny-llama attend to the previous token, and which are induction heads, from transformers'
attention patterns on repeated random sequences: an oracle independent of Patchbay for docs/circuits.md.

Needs torch, transformers and tokenizers (as tools/train_default_model.py does); deterministic.
Usage: python3 research/src/main/python/head_patterns.py
"""
import pathlib
import random

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

MODEL = pathlib.Path(__file__).resolve().parents[4] / "models" / "patchbay-tiny-llama"
FILLER = ("apple river stone cloud green silver window morning paper garden candle mountain yellow engine forest "
          "pillow ocean thunder violet marble rabbit copper meadow lantern sugar planet whisper harbor").split()


def main(sequences=50, length=10):
    model = AutoModelForCausalLM.from_pretrained(MODEL, attn_implementation="eager").eval()
    tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    previous = torch.zeros(layers, heads)
    induction = torch.zeros(layers, heads)
    rng = random.Random(3)
    for _ in range(sequences):
        words = rng.sample(FILLER, length)
        ids = tokenizer.encode(" ".join(words + words)).ids
        with torch.no_grad():
            patterns = model(torch.tensor([ids]), output_attentions=True).attentions
        for layer, pattern in enumerate(patterns):
            a = pattern[0]  # [heads, T, T]
            rows = torch.arange(1, 2 * length)
            previous[layer] += a[:, rows, rows - 1].mean(-1) / sequences
            # From each token of the second copy to the token after its first occurrence.
            rows = torch.arange(length, 2 * length)
            induction[layer] += a[:, rows, rows - length + 1].mean(-1) / sequences
    print("previous-token score: mean attention from each token to the one before it (rows: layers)")
    print(previous.numpy().round(2))
    print("induction score: mean attention from a repeated token to the token after its first copy")
    print(induction.numpy().round(2))


if __name__ == "__main__":
    main()
