#!/usr/bin/env python3
"""AtP over SAE features as a researcher would write it in plain PyTorch + transformers, timed on the shape of
`./patchbay bench --section features`, so the benchmark can report Patchbay's ratio to it in the same run.

A randomly initialised GPT-2-small (transformers' GPT2LMHeadModel, eager attention, fp32, no compile), one
clean/noise pair of random tokens, metric logit[100] - logit[200] at the last position, and three random ReLU SAEs of
--width features at blocks.3, 6 and 9.hook_resid_pre (each block's input), made by the benchmark's recipe: W_enc
scaled so that a pre-activation is about N(0, 1) on the clean run's residual stream, b_enc = -2.5 (about 0.6% of the
features active), W_dec N(0, 0.01^2). One timed run: the clean forward with the sites' values kept and the metric's
backward, the noise forward, then per SAE both runs' features, (f_noise - f_clean) * (grad @ W_dec^T) and the error
term's estimate, and the changed features' indices and estimates copied to the host.

Prints one JSON object. Needs torch and transformers (CI does not run it).
Usage: python3 tools/torch_feature_reference.py [--device cpu|cuda] [--tokens 64] [--width 16384] [--repeats 3]
"""
import argparse
import json
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

ANSWER, WRONG = 100, 200
LAYERS = (3, 6, 9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--width", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device(args.device)
    config = GPT2Config(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    clean = torch.randint(0, config.vocab_size, (1, args.tokens), device=device)
    noise = torch.randint(0, config.vocab_size, (1, args.tokens), device=device)
    blocks = model.transformer.h

    kept: dict[int, torch.Tensor] = {}

    def keep(layer):
        def hook(module, hook_args, kwargs):
            x = hook_args[0] if hook_args else kwargs["hidden_states"]
            if not torch.is_grad_enabled():
                y = x
            elif x.requires_grad:
                y = x
                y.retain_grad()
            else:  # the first site: below it nothing needs a gradient (the weights are frozen)
                y = x.detach().requires_grad_()
            kept[layer] = y
            if hook_args:
                return (y,) + tuple(hook_args[1:]), kwargs
            kwargs = dict(kwargs)
            kwargs["hidden_states"] = y
            return hook_args, kwargs
        return hook

    handles = [blocks[l].register_forward_pre_hook(keep(l), with_kwargs=True) for l in LAYERS]
    with torch.no_grad():
        model(clean)
    saes = {}
    for l in LAYERS:
        rms = kept[l].pow(2).mean().sqrt()
        saes[l] = {"W_enc": torch.randn(768, args.width, device=device) / (768 ** 0.5 * rms),
                   "b_enc": torch.full((args.width,), -2.5, device=device),
                   "W_dec": torch.randn(args.width, 768, device=device) * 0.01,
                   "b_dec": torch.zeros(768, device=device)}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def run():
        logits = model(clean).logits[0, -1]
        (logits[ANSWER] - logits[WRONG]).backward()
        clean_sites = {l: kept[l] for l in LAYERS}
        with torch.no_grad():
            model(noise)
            noise_sites = {l: kept[l] for l in LAYERS}
            out = []
            for l in LAYERS:
                s = saes[l]
                x_c, x_n, g = clean_sites[l][0], noise_sites[l][0], clean_sites[l].grad[0]
                f_c = torch.relu(x_c @ s["W_enc"] + s["b_enc"])
                f_n = torch.relu(x_n @ s["W_enc"] + s["b_enc"])
                delta = f_n - f_c
                estimates = delta * (g @ s["W_dec"].T)
                err_c = x_c - (f_c @ s["W_dec"] + s["b_dec"])
                err_n = x_n - (f_n @ s["W_dec"] + s["b_dec"])
                errors = ((err_n - err_c) * g).sum(-1)
                changed = delta != 0
                out.append((changed.nonzero().cpu().numpy(), estimates[changed].cpu().numpy(),
                            errors.cpu().numpy()))
        sync()
        return out

    run()
    start = time.perf_counter()
    while time.perf_counter() - start < 1.0:
        run()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    for h in handles:
        h.remove()
    print(json.dumps({"torch": torch.__version__, "device": str(device), "tokens": args.tokens, "width": args.width,
                      "feature_atp_s": statistics.median(times),
                      "changed_features": int(sum(len(v) for _, v, _ in result))}))


if __name__ == "__main__":
    main()
