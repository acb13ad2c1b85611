#!/usr/bin/env python3
"""What a researcher would write by hand in plain PyTorch + transformers, timed on the same shapes as
`./patchbay bench --section methods`, so the benchmark can report Patchbay's ratio to it side by side.

A randomly initialised GPT-2-small (12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257; transformers'
GPT2LMHeadModel, eager attention, fp32, TF32 off, no compile), one clean/noise pair of random tokens, metric
logit[100] - logit[200] at the last position:

  forward       one clean forward, all logits copied to the host (as Patchbay's bench reads them)
  atp           AtP over every head's q, k, v, z and every neuron, per position: clean forward with hooks
                keeping the activations, backward of the metric, noise forward, (noise - clean) . grad summed
                over each node's coordinates, the effects copied to the host
  ap-batched    activation patching of the 144 heads' outputs, 48 patched rows per batch, each row with one
                head's z replaced by the noise run's, only the last position's logits unembedded
  sweep         AtP over a distribution of pairs in batches of 16, each node's mean |effect| accumulated on the
                device and copied back once: pairs per second
  sweep-each    AtP of each pair of the same distribution in batches of 16, every pair's effects (every node at
                every position) copied to the host: pairs per second

--shape gpt2-narrow keeps GPT-2 small's 12 layers and 12 heads (so its ops) at d_model 48, d_mlp 192, vocab 1000, as
`bench --shape gpt2-narrow` does: the time left is the cost of issuing each op.

Prints one JSON object. Needs torch and transformers (the GPU machine has both; CI does not run it).
Usage: python3 tools/torch_reference.py [--device cpu|cuda] [--shape gpt2-small|gpt2-narrow] [--tokens 64]
                                       [--repeats 3] [--pairs 64]
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

ANSWER, WRONG = 100, 200

# Ops that only make views or empty tensors, which launch no kernel: the same list as the benchmark's OpCount.java,
# so that both sides count alike.
VIEWS = {
    "aten::view", "aten::reshape", "aten::_reshape_alias", "aten::_unsafe_view", "aten::permute", "aten::transpose",
    "aten::t", "aten::expand", "aten::unsqueeze", "aten::squeeze", "aten::slice", "aten::select", "aten::as_strided",
    "aten::alias", "aten::split", "aten::flatten", "aten::detach", "aten::detach_", "aten::lift_fresh",
    "aten::dropout", "aten::resolve_conj", "aten::resolve_neg", "aten::contiguous", "aten::empty",
    "aten::empty_strided",
}


def count_ops(work) -> dict:
    """Top-level aten ops of one run of ``work`` and those that compute (not views, not a no-op ``to``), from the
    profiler's trace, by the rules of OpCount.java."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        work()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        profile.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    ops = sorted(
        (e for e in events if e.get("ph") == "X" and e.get("name", "").startswith("aten::")),
        key=lambda e: (e["tid"], e["ts"], -e["dur"]))
    enclosing, top, computing, last_copied = {}, 0, 0, False
    for op in ops:
        outer = enclosing.get(op["tid"])
        if outer is not None and op["ts"] < outer["ts"] + outer["dur"]:
            if outer["name"] == "aten::to" and op["name"] == "aten::_to_copy" and not last_copied:
                last_copied = True
                computing += 1
            continue
        enclosing[op["tid"]] = op
        top += 1
        last_copied = False
        if op["name"] not in VIEWS and op["name"] != "aten::to":
            computing += 1
    return {"ops": top, "computing": computing}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--shape", choices=["gpt2-small", "gpt2-narrow"], default="gpt2-small")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(1234)
    device = torch.device(args.device)
    if args.shape == "gpt2-small":
        config = GPT2Config(n_layer=12, n_embd=768, n_head=12, n_inner=3072, vocab_size=50257, n_positions=1024)
    else:
        config = GPT2Config(n_layer=12, n_embd=48, n_head=12, n_inner=192, vocab_size=1000, n_positions=1024)
    model = GPT2LMHeadModel(config).to(device).eval()
    model.config._attn_implementation = "eager"
    for p in model.parameters():
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(42)
    clean = torch.randint(0, config.vocab_size, (1, args.tokens), generator=generator).to(device)
    noise = torch.randint(0, config.vocab_size, (1, args.tokens), generator=generator).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(work):
        # Warm-up as the benchmark's own timer does: at least once, on until a second or 50 runs.
        warm_up_start, warm_ups = time.perf_counter(), 0
        while warm_ups == 0 or (warm_ups < 50 and time.perf_counter() - warm_up_start < 1):
            work()
            sync()
            warm_ups += 1
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            work()
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def forward():
        with torch.no_grad():
            model(clean).logits.cpu()

    def capture(store, keep_grad):
        """Hooks that keep every node site's activation (and its gradient, where asked) in ``store``."""
        def save(key, value):
            if keep_grad:
                value.retain_grad()
            store[key] = value
        hooks = []
        for layer, block in enumerate(model.transformer.h):
            hooks.append(block.attn.c_attn.register_forward_hook(lambda m, i, o, l=layer: save(("qkv", l), o)))
            hooks.append(block.attn.c_proj.register_forward_pre_hook(lambda m, i, l=layer: save(("z", l), i[0])))
            hooks.append(block.mlp.act.register_forward_hook(lambda m, i, o, l=layer: save(("post", l), o)))
        return hooks

    def atp(clean_ids, noise_ids):
        """Per-node AtP estimates [batch, nodes] on the device, for a batch of pairs."""
        noisy, clean_acts = {}, {}
        hooks = capture(noisy, False)
        with torch.no_grad():
            model(noise_ids)
        for h in hooks:
            h.remove()
        hooks = capture(clean_acts, True)
        with torch.enable_grad():
            # The weights are frozen: a leaf at the embeddings makes the graph, nothing is computed for weights.
            embeds = model.transformer.wte(clean_ids).detach().requires_grad_(True)
            logits = model(inputs_embeds=embeds).logits[:, -1]
            (logits[:, ANSWER] - logits[:, WRONG]).sum().backward()
        for h in hooks:
            h.remove()
        heads, d = config.n_head, config.n_embd // config.n_head
        parts = []
        with torch.no_grad():
            for layer in range(config.n_layer):
                for key, width in (("qkv", 3 * heads), ("z", heads)):
                    act = clean_acts[(key, layer)]
                    product = (noisy[(key, layer)] - act) * act.grad
                    b, t, _ = product.shape
                    parts.append(product.view(b, t, width, d).sum(-1).reshape(b, -1))
                act = clean_acts[("post", layer)]
                parts.append(((noisy[("post", layer)] - act) * act.grad).reshape(act.shape[0], -1))
        return torch.cat(parts, dim=1)

    def ap_batched():
        heads, d = config.n_head, config.n_embd // config.n_head
        z_noise = {}
        hooks = [block.attn.c_proj.register_forward_pre_hook(
            lambda m, i, l=layer: z_noise.__setitem__(l, i[0]))
            for layer, block in enumerate(model.transformer.h)]
        with torch.no_grad():
            model(noise)
        for h in hooks:
            h.remove()
        units = [(layer, head) for layer in range(config.n_layer) for head in range(heads)]
        with torch.no_grad():
            for start in range(0, len(units), 48):
                chunk = units[start:start + 48]

                def patch(m, i, layer):
                    z = i[0].clone().view(len(chunk), -1, heads, d)
                    for row, (l, head) in enumerate(chunk):
                        if l == layer:
                            z[row, :, head] = z_noise[layer].view(1, -1, heads, d)[0, :, head]
                    return (z.view(len(chunk), -1, heads * d),)
                hooks = [block.attn.c_proj.register_forward_pre_hook(
                    lambda m, i, l=layer: patch(m, i, l)) for layer, block in enumerate(model.transformer.h)]
                hidden = model.transformer(clean.expand(len(chunk), -1)).last_hidden_state[:, -1]
                model.lm_head(hidden).cpu()
                for h in hooks:
                    h.remove()

    def batches():
        """The sweep's pairs, 16 to a batch: (clean, noise) token ids on the device."""
        batch = 16
        for start in range(0, args.pairs, batch):
            n = min(batch, args.pairs - start)
            g = torch.Generator().manual_seed(start)
            c = torch.randint(0, config.vocab_size, (n, args.tokens), generator=g).to(device)
            x = torch.randint(0, config.vocab_size, (n, args.tokens), generator=g).to(device)
            yield c, x

    def sweep():
        total = None
        for c, x in batches():
            part = atp(c, x).abs().sum(0)
            total = part if total is None else total + part
        (total / args.pairs).cpu()

    def sweep_each():
        for c, x in batches():
            atp(c, x).cpu()

    result = {
        "device": str(device),
        "torch": torch.__version__,
        "shape": args.shape,
        "tokens": args.tokens,
        "forward_s": timed(forward),
        "atp_s": timed(lambda: atp(clean, noise).cpu()),
        "ap_batched_s": timed(ap_batched),
        "forward_ops": count_ops(forward),
        "atp_ops": count_ops(lambda: atp(clean, noise).cpu()),
    }
    sweep_s = timed(sweep)
    result["sweep_pairs"] = args.pairs
    result["sweep_pairs_per_s"] = args.pairs / sweep_s
    result["sweep_each_pairs_per_s"] = args.pairs / timed(sweep_each)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
