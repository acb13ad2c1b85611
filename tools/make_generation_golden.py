#!/usr/bin/env python3
"""Writes testdata/golden/generation.json: greedy generations by Hugging Face transformers' `generate`, with and
without interventions done by forward hooks, the oracle for Patchbay's generation (issue 18).

For tiny-gpt2 and tiny-llama (testdata/checkpoints), in float64, two prompts each, 6 new tokens, every case below;
each case records the generated ids and, per step, the logits of the position that predicts the next token.
Interventions are named as Patchbay names them (TransformerLens hook sites) and done here by hooks on the module
whose input is that site:

  blocks.L.hook_resid_pre          a forward pre-hook on decoder layer L (its hidden_states)
  blocks.L.attn.hook_z, head h     a pre-hook on the attention's output projection (c_proj / o_proj), slice h
  blocks.L.mlp.hook_post, neurons  a pre-hook on the MLP's down projection (c_proj / down_proj)

`generate` runs with its KV cache, so a hook sees the whole prompt once, then one new position per step: "all"
positions is every call, "generated" the calls after the first (whose one position is the previous step's token).
A patch copies the site's input on the source prompt into the prompt's first positions during the first call.

It also writes testdata/golden/generation-bundled.json: greedy `generate` on the two bundled models (models/), in
their own float32, with each model's generation settings as transformers reads them, so a continuation ends where
`generate` ends it at the model's end-of-text token (eos_token_id), and again with that token ignored (issue 36).

Developer tool: needs torch and transformers; deterministic. Usage: python3 tools/make_generation_golden.py
"""
import json
import pathlib

import torch
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "testdata" / "checkpoints"
OUT = ROOT / "testdata" / "golden" / "generation.json"
BUNDLED_OUT = ROOT / "testdata" / "golden" / "generation-bundled.json"
# Texts for the bundled models (trained on IOI, induction and city recall; see models/*/README.md).
BUNDLED_TEXTS = ["When Mary and John went to the store, John gave a drink to",
                 "City: Varnholm. Country:",
                 "After Anna and Paul went to the park, Paul handed a ball to",
                 "the"]
BUNDLED_NEW_TOKENS = 12
PROMPTS = [[5, 17, 2, 44, 9, 31], [8, 11, 2, 40, 19, 31, 5, 12]]
# The prompt patches take their activations from (no longer than the shortest prompt).
SOURCE = [7, 7, 3, 12, 40, 2]
NEW_TOKENS = 6


def vector(size, seed):
    return torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def cases(config):
    d = config.hidden_size
    head_dim = d // config.num_attention_heads
    return [
        {"name": "none", "interventions": []},
        {"name": "add a vector to the stream", "interventions": [
            {"site": "blocks.1.hook_resid_pre", "op": "add", "coefficient": 2.5, "value": vector(d, 1).tolist(),
             "positions": "all"}]},
        {"name": "scale the stream at generated tokens", "interventions": [
            {"site": "blocks.0.hook_resid_pre", "op": "scale", "coefficient": 0.25, "positions": "generated"}]},
        {"name": "zero a head", "interventions": [
            {"site": "blocks.0.attn.hook_z", "op": "zero", "units": [1], "positions": "all"}]},
        {"name": "set a head's output", "interventions": [
            {"site": "blocks.1.attn.hook_z", "op": "set", "units": [2], "value": vector(head_dim, 2).tolist(),
             "positions": "all"}]},
        {"name": "set two neurons", "interventions": [
            {"site": "blocks.1.mlp.hook_post", "op": "set", "units": [3, 5], "value": [0.7],
             "positions": "all"}]},
        {"name": "patch the stream before layer 1 from another prompt", "interventions": [
            {"site": "blocks.1.hook_resid_pre", "op": "patch", "source": SOURCE}]},
        {"name": "patch a head from another prompt", "interventions": [
            {"site": "blocks.0.attn.hook_z", "op": "patch", "units": [1], "source": SOURCE}]},
        {"name": "add at generated tokens and zero a head", "interventions": [
            {"site": "blocks.1.hook_resid_pre", "op": "add", "coefficient": -1.0, "value": vector(d, 3).tolist(),
             "positions": "generated"},
            {"site": "blocks.1.attn.hook_z", "op": "zero", "units": [0], "positions": "all"}]},
    ]


def module_of(model, site):
    """The module whose input is the site, and the layout of that input."""
    parts = site.split(".")
    layer = int(parts[1])
    gpt2 = model.config.model_type == "gpt2"
    block = model.transformer.h[layer] if gpt2 else model.model.layers[layer]
    if parts[2] == "hook_resid_pre":
        return block
    if parts[2] == "attn":
        return block.attn.c_proj if gpt2 else block.self_attn.o_proj
    return block.mlp.c_proj if gpt2 else block.mlp.down_proj


def hook(intervention, head_dim, prompt_length, source=None):
    """source: for a patch, the site's input on the source prompt [1, T_source, width]."""
    op = intervention["op"]
    value = torch.tensor(intervention.get("value", [0.0]), dtype=torch.float64)
    units = intervention.get("units")
    site = intervention["site"]

    def change(x):
        # x: [B, T, width]; heads are slices of head_dim, neurons single columns, the stream whole
        if intervention.get("positions") == "generated" and x.shape[1] > 1:
            return x  # the prefill: prompt positions only
        if op == "patch" and x.shape[1] == 1:
            return x  # a decode step: generated positions are not patched
        x = x.clone()
        if units is None:
            columns = [list(range(x.shape[-1]))]
        elif site.endswith("hook_z"):
            columns = [list(range(h * head_dim, (h + 1) * head_dim)) for h in units]
        else:
            columns = [[u] for u in units]
        for cols in columns:
            part = x[..., cols]
            if op == "add":
                part = part + intervention["coefficient"] * value
            elif op == "scale":
                part = part * intervention["coefficient"]
            elif op == "zero":
                part = torch.zeros_like(part)
            elif op == "set":
                part = value.expand_as(part).clone()
            elif op == "patch":
                part = part.clone()
                part[:, :source.shape[1]] = source[..., cols]
            x[..., cols] = part
        return x

    def pre_hook(module, args, kwargs):
        if args:
            return (change(args[0]), *args[1:]), kwargs
        kwargs = dict(kwargs)
        kwargs["hidden_states"] = change(kwargs["hidden_states"])
        return args, kwargs

    return pre_hook


def site_input(model, site, tokens):
    """The input of the site's module on a prompt, [1, T, width]: what a patch copies."""
    seen = {}

    def capture(module, args, kwargs):
        seen["x"] = (args[0] if args else kwargs["hidden_states"]).clone()

    handle = module_of(model, site).register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.no_grad():
            model(torch.tensor([tokens]))
    finally:
        handle.remove()
    return seen["x"]


def generate(model, prompt, interventions):
    head_dim = model.config.hidden_size // model.config.num_attention_heads
    handles = [module_of(model, i["site"]).register_forward_pre_hook(
        hook(i, head_dim, len(prompt), site_input(model, i["site"], i["source"]) if i["op"] == "patch" else None),
        with_kwargs=True) for i in interventions]
    try:
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), max_new_tokens=NEW_TOKENS, do_sample=False,
                                 output_logits=True, return_dict_in_generate=True, pad_token_id=0)
    finally:
        for h in handles:
            h.remove()
    return {"prompt": prompt, "generated": out.sequences[0, len(prompt):].tolist(),
            "logits": [[float(f"{v:.12g}") for v in step[0].tolist()] for step in out.logits]}


def bundled():
    """Greedy continuations of BUNDLED_TEXTS on each bundled model, one prompt a call (no padding), stopping at the
    model's end-of-text token as generate does by default, and with it ignored."""
    from tokenizers import Tokenizer

    golden = {"made_by": "tools/make_generation_golden.py", "dtype": "float32", "new_tokens": BUNDLED_NEW_TOKENS,
              "models": {}}
    for name in ("patchbay-tiny", "patchbay-tiny-llama"):
        directory = ROOT / "models" / name
        model = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        eos = model.generation_config.eos_token_id
        runs = []
        for text in BUNDLED_TEXTS:
            prompt = tokenizer.encode(text).ids
            run = {"text": text, "prompt": prompt}
            for key, settings in (("generated", {}), ("ignoring_eos", {"eos_token_id": None})):
                with torch.no_grad():
                    out = model.generate(torch.tensor([prompt]), max_new_tokens=BUNDLED_NEW_TOKENS, do_sample=False,
                                         pad_token_id=0, **settings)
                run[key] = out[0, len(prompt):].tolist()
            runs.append(run)
        golden["models"][name] = {"eos_token_id": eos, "runs": runs}
    BUNDLED_OUT.write_text(json.dumps(golden, indent=1))
    print(f"wrote {BUNDLED_OUT}")


def main():
    golden = {"made_by": "tools/make_generation_golden.py", "dtype": "float64", "new_tokens": NEW_TOKENS,
              "models": {}}
    for name in ("tiny-gpt2", "tiny-llama"):
        model = AutoModelForCausalLM.from_pretrained(CHECKPOINTS / name, dtype=torch.float64,
                                                     attn_implementation="eager").eval()
        # Every run generates all its tokens: an end-of-sequence token does not stop it (nor is it suppressed).
        model.generation_config.eos_token_id = None
        golden["models"][name] = [
            {**case, "runs": [generate(model, p, case["interventions"]) for p in PROMPTS]}
            for case in cases(model.config)]
    OUT.write_text(json.dumps(golden))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")
    bundled()


if __name__ == "__main__":
    main()
