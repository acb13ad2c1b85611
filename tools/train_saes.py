#!/usr/bin/env python3
"""Trains small sparse autoencoders on the bundled models' residual stream and ships them beside the models, in the
SAELens layout, with a card (issue 33).

For models/patchbay-tiny (GPT-2) and models/patchbay-tiny-llama, at blocks.1.hook_resid_pre and
blocks.3.hook_resid_pre: a ReLU SAE of 512 features (4x d_model) with SAELens's standard architecture
(f = relu((x - b_dec) W_enc + b_enc), x' = f W_dec + b_dec, apply_b_dec_to_input), trained on the residual stream
over the models' own training mixture (tools/train_default_model.py's generator: IOI, induction, recall; 64-token
rows), loss = mean squared error + l1 * sum_i f_i ||W_dec[i]||, Adam, with features dead for 1000 steps resampled
to poorly reconstructed inputs (Anthropic's recipe, simplified). The residual stream is read from transformers'
hidden states: hidden_states[L] is resid_pre(L).

Writes models/<model>/saes/resid<L>/cfg.json + sae_weights.safetensors, and models/<model>/saes/README.md, the card:
on 64 held-out rows of 64 tokens, the fraction of variance explained, the mean L0 (features active per token), the
features never active (dead), and the change in next-token loss with the SAE's reconstruction spliced in.

Developer tool: needs torch, transformers, tokenizers and safetensors; CI does not run it. Deterministic (fixed
seeds); a few minutes on 2 CPU cores.
Usage: python3 tools/train_saes.py [--steps N]
"""
import argparse
import json
import pathlib
import random
import sys
import time

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import train_default_model as corpus  # noqa: E402  (the bundled models' own training mixture)

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["patchbay-tiny", "patchbay-tiny-llama"]
LAYERS = [1, 3]
WIDTH = 512
LENGTH = 64
BUFFER_CHUNKS = 16  # of 64 rows: 65,536 tokens
BATCH_TOKENS = 1024
L1 = 4.0
LEARNING_RATE = 1e-3
DEAD_AFTER = 1000


def rows(tok, seed, count):
    """count rows of LENGTH + 1 tokens from the training mixture."""
    stream = corpus.documents(random.Random(seed), corpus.city_country())
    it = corpus.batches(tok, stream, count, LENGTH)
    return next(it)[:, :LENGTH]


@torch.no_grad()
def residual(model, ids, layer):
    return model(ids, output_hidden_states=True).hidden_states[layer].reshape(-1, model.config.hidden_size)


def encode(p, x):
    return torch.relu((x - p["b_dec"]) @ p["W_enc"] + p["b_enc"])


def decode(p, f):
    return f @ p["W_dec"] + p["b_dec"]


def train(model, tok, layer, steps, seed):
    """Trains on a buffer of the residual stream scaled so that a token's mean squared norm is d_model (so the l1
    coefficient means the same at every site), then folds the scale into the weights."""
    torch.manual_seed(seed)
    d = model.config.hidden_size
    buffer = torch.cat([residual(model, rows(tok, seed + 100 + i, 64), layer) for i in range(BUFFER_CHUNKS)])
    scale = (buffer.pow(2).sum(-1).mean() / d).sqrt()
    buffer = buffer / scale
    w_dec = torch.randn(WIDTH, d)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True) * 0.1
    p = {"W_enc": w_dec.T.clone(), "b_enc": torch.zeros(WIDTH), "W_dec": w_dec, "b_dec": buffer.median(0).values}
    for v in p.values():
        v.requires_grad_(True)
    optimiser = torch.optim.Adam(p.values(), lr=LEARNING_RATE)
    last_active = torch.zeros(WIDTH, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x = buffer[torch.randint(0, buffer.shape[0], (BATCH_TOKENS,), generator=generator)]
        f = encode(p, x)
        x_hat = decode(p, f)
        mse = (x_hat - x).pow(2).sum(-1).mean()
        sparsity = (f * p["W_dec"].norm(dim=1)).sum(-1).mean()
        loss = mse + L1 * sparsity
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            last_active[(f > 0).any(0)] = step
            dead = (step - last_active) >= DEAD_AFTER
            if step % DEAD_AFTER == DEAD_AFTER - 1 and step < steps * 3 // 4 and dead.any():
                # Resample: each dead feature's decoder points at an input the SAE reconstructs badly.
                errors = (x_hat - x).pow(2).sum(-1)
                picks = torch.multinomial(errors, int(dead.sum()), replacement=True)
                directions = x[picks] - p["b_dec"]
                directions = directions / directions.norm(dim=1, keepdim=True)
                p["W_dec"][dead] = directions * 0.1
                p["W_enc"][:, dead] = directions.T * 0.2
                p["b_enc"][dead] = 0
                last_active[dead] = step
    with torch.no_grad():
        # In the model's own units: encode x / scale is encode x with W_enc / scale and b_dec * scale.
        return {"W_enc": (p["W_enc"] / scale).detach().clone(), "b_enc": p["b_enc"].detach().clone(),
                "W_dec": (p["W_dec"] * scale).detach().clone(), "b_dec": (p["b_dec"] * scale).detach().clone()}


@torch.no_grad()
def card_numbers(model, tok, layer, p):
    ids = rows(tok, 12345, 64)
    x = residual(model, ids, layer)
    f = encode(p, x)
    x_hat = decode(p, f)
    explained = 1 - (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    l0 = (f > 0).float().sum(-1).mean()
    dead = int(((f > 0).sum(0) == 0).sum())
    # Next-token loss with resid_pre(layer) replaced by the reconstruction.
    block = corpus_block(model, layer)

    def splice(module, args, kwargs):
        h = kwargs.get("hidden_states", args[0] if args else None)
        shape = h.shape
        replaced = decode(p, encode(p, h.reshape(-1, shape[-1]))).reshape(shape)
        if args:
            return (replaced,) + tuple(args[1:]), kwargs
        kwargs = dict(kwargs)
        kwargs["hidden_states"] = replaced
        return args, kwargs

    clean = model(ids, labels=ids).loss.item()
    handle = block.register_forward_pre_hook(splice, with_kwargs=True)
    try:
        spliced = model(ids, labels=ids).loss.item()
    finally:
        handle.remove()
    return {"explained_variance": explained.item(), "l0": l0.item(), "dead": dead, "loss": clean,
            "loss_spliced": spliced, "tokens": int(x.shape[0])}


def corpus_block(model, layer):
    return (model.transformer.h if hasattr(model, "transformer") else model.model.layers)[layer]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8000)
    args = parser.parse_args()
    for name in MODELS:
        directory = ROOT / "models" / name
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
        for weight in model.parameters():
            weight.requires_grad_(False)
        tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
        card = []
        for i, layer in enumerate(LAYERS):
            start = time.time()
            p = train(model, tok, layer, args.steps, seed=10 * i + 1)
            numbers = card_numbers(model, tok, layer, p)
            numbers["minutes"] = (time.time() - start) / 60
            site = f"blocks.{layer}.hook_resid_pre"
            out = directory / "saes" / f"resid{layer}"
            out.mkdir(parents=True, exist_ok=True)
            cfg = {"architecture": "standard", "d_in": model.config.hidden_size, "d_sae": WIDTH, "dtype": "float32",
                   "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": "none",
                   "reshape_activations": "none", "metadata": {"model_name": name, "hook_name": site,
                                                               "made_by": "tools/train_saes.py"}}
            (out / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n")
            save_file({k: v.contiguous() for k, v in p.items()}, out / "sae_weights.safetensors")
            card.append((f"resid{layer}", site, numbers))
            print(name, site, json.dumps(numbers))
        write_card(directory / "saes" / "README.md", name, args.steps, card)


def write_card(path, name, steps, card):
    lines = [f"# Sparse autoencoders for {name}", "",
             f"Made by `tools/train_saes.py`: ReLU SAEs of {WIDTH} features (SAELens's standard architecture,"
             " `apply_b_dec_to_input`), trained for", f"{steps} steps of {BATCH_TOKENS} tokens drawn from {BUFFER_CHUNKS * 64 * LENGTH:,} tokens of the model's own"
             " training mixture", f"(IOI, induction, recall), inputs scaled to a mean squared norm of d_model (folded"
             " back into the weights),", f"loss = squared error + {L1} x the decoder-norm-weighted L1 of the features,"
             " Adam, dead features resampled. Serve them with",
             "", "```", f"./patchbay serve --model models/{name} \\",
             *[f"    --dictionary {d}=models/{name}/saes/{d}" + (" \\" if j < len(card) - 1 else "")
               for j, (d, _, _) in enumerate(card)],
             "```", "",
             "Measured on 64 held-out rows of 64 tokens (4,096 tokens, another seed):", "",
             "| dictionary | site | variance explained | L0 (features a token) | dead features | next-token loss"
             " | with the reconstruction spliced in | minutes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d, site, n in card:
        lines.append(f"| `{d}` | `{site}` | {n['explained_variance']:.3f} | {n['l0']:.1f} | {n['dead']} of {WIDTH}"
                     f" | {n['loss']:.3f} | {n['loss_spliced']:.3f} | {n['minutes']:.1f} |")
    lines += ["", "Patchbay splices a dictionary without changing the model: its error term makes up the difference,"
              " and", "`attribute --features` scores features and the error term alike (docs/features.md).", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
