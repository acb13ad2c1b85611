#!/usr/bin/env python3
"""Makes random sparse dictionaries in the SAELens layout and the golden file that Patchbay's feature methods are
held to (issue 33), with torch and transformers as the oracle, not Patchbay.

For testdata/checkpoints/tiny-gpt2 and tiny-llama this writes, under testdata/dictionaries/<model>/<name>/, a
SAELens directory (cfg.json + sae_weights.safetensors: W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_out], b_dec,
and for JumpReLU a threshold), and testdata/golden/features.json with, for two clean/noise pairs and the metric
logit[ANSWER] - logit[WRONG] at the last position, all computed in float64 by transformers with hooks:

  features     every active feature (position, index, value) of the clean and of the noise run
  atp          AtP of every feature whose activation differs between the runs, per position:
               (f_noise - f_clean) * (W_dec[i] . dMetric/d(site)), the gradient taken at the dictionary's site
               in the clean run; and the error node's, (err_noise - err_clean) . dMetric/d(site)
  ig           integrated gradients along the features (the feature-circuits recipe, IG_STEPS steps): the site set to
               clean + a (noise - clean) for a = k / IG_STEPS, k = 0 .. IG_STEPS - 1 (features and error interpolated
               together), the metric's gradient there averaged over the steps, times each changed feature's change
               projected by W_dec[i] (and the error's change); per position, sparse as atp
  exact        the metric's change when the clean run's site becomes site + (f_noise - f_clean) W_dec[i] at one
               position (features with the largest |AtP|), at every position at once (the same features), and
               when the error term alone takes its noise value at one position

and, for two pairs of dictionaries per model (an upstream one before a downstream one) on the first pair:

  edges        EAP over feature edges: into the downstream dictionary's EDGE_NODES nodes of largest |AtP| (changed
               features and error terms), from every changed upstream feature and every upstream error term at a
               position at or before it: the upstream change times the Jacobian of the downstream node (a feature, or
               the error term dotted with the metric's gradient there) by autograd through the model and the
               downstream encoder, times the feature's effect per unit (1 for an error term)
  exact_edges  exact patching of the EDGE_TOP largest edges: the clean run with u's change added at t' gives d's
               activation f_d'(t); the metric's change when the clean run's downstream site gets
               (f_d'(t) - f_d(t)) W_dec_D[d] at t, nothing else changed

The dictionaries: tiny-gpt2: a ReLU SAE at blocks.1.hook_resid_pre (with apply_b_dec_to_input), a JumpReLU SAE at
blocks.0.attn.hook_z (reshape_activations hook_z), a ReLU transcoder from blocks.1.hook_mlp_in to
blocks.1.hook_mlp_out; tiny-llama: a TopK SAE at blocks.1.hook_resid_pre, a JumpReLU transcoder from
blocks.0.hook_mlp_in to blocks.0.hook_mlp_out, a ReLU SAE at blocks.1.attn.hook_z (no b_dec on the input).

transformers computes GPT-2 in float64 throughout; Llama keeps float32 islands (RMSNorm, softmax, rotary tables),
so its golden values are float32-accurate (as in ParityTest).

Developer tool: needs torch, transformers and safetensors; CI does not run it. Deterministic (fixed seeds).
Usage: python3 tools/make_feature_golden.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "testdata" / "checkpoints"
DICTIONARIES = ROOT / "testdata" / "dictionaries"
OUT = ROOT / "testdata" / "golden" / "features.json"
ANSWER, WRONG = 5, 7
LENGTH = 7
TOP = 4
IG_STEPS = 5
EDGE_NODES = 4
EDGE_TOP = 6
# upstream, downstream dictionary names: the pairs FeatureEdgeTest checks.
EDGE_CHAINS = {"tiny-gpt2": [("z-jumprelu", "resid-relu"), ("resid-relu", "mlp-transcoder")],
               "tiny-llama": [("mlp-jumprelu-transcoder", "resid-topk"), ("resid-topk", "z-relu")]}

# name, architecture, input site, output site (None: the same), width, options
SPECS = {
    "tiny-gpt2": [
        ("resid-relu", "standard", "blocks.1.hook_resid_pre", None, 48, {"apply_b_dec_to_input": True}),
        ("z-jumprelu", "jumprelu", "blocks.0.attn.hook_z", None, 40, {"reshape_activations": "hook_z"}),
        ("mlp-transcoder", "transcoder", "blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out", 56, {}),
    ],
    "tiny-llama": [
        ("resid-topk", "topk", "blocks.1.hook_resid_pre", None, 48, {"k": 6, "apply_b_dec_to_input": True}),
        ("mlp-jumprelu-transcoder", "jumprelu_transcoder", "blocks.0.hook_mlp_in", "blocks.0.hook_mlp_out", 40, {}),
        ("z-relu", "standard", "blocks.1.attn.hook_z", None, 36,
         {"apply_b_dec_to_input": False, "reshape_activations": "hook_z"}),
    ],
}


def layers(model):
    return model.transformer.h if hasattr(model, "transformer") else model.model.layers


def module_and_mode(model, site):
    """The module whose input (pre) or output (post) is the hook site."""
    parts = site.split(".")
    block = layers(model)[int(parts[1])]
    leaf = parts[-1]
    gpt2 = hasattr(model, "transformer")
    if leaf == "hook_resid_pre":
        return block, "pre"
    if leaf == "hook_z":
        return (block.attn.c_proj if gpt2 else block.self_attn.o_proj), "pre"
    if leaf == "hook_mlp_in":
        return (block.ln_2 if gpt2 else block.post_attention_layernorm), "pre"
    if leaf == "hook_mlp_out":
        return block.mlp, "post"
    raise ValueError(site)


class Site:
    """Reads, differentiates or changes one hook site of a transformers model (flattened to [B, T, width])."""

    def __init__(self, model, site):
        self.module, self.mode = module_and_mode(model, site)
        self.value = None
        self.change = None  # a function of the site's value, or None

    def _through(self, x):
        y = x.clone() if self.change is None else self.change(x)
        if torch.is_grad_enabled():
            if y.requires_grad:
                y.retain_grad()
            else:  # below every site that carries a gradient (frozen weights): a leaf of its own
                y.requires_grad_()
        self.value = y
        return y

    def __enter__(self):
        if self.mode == "pre":
            def pre(module, args, kwargs):
                if args:
                    return (self._through(args[0]),) + tuple(args[1:]), kwargs
                kwargs = dict(kwargs)
                kwargs["hidden_states"] = self._through(kwargs["hidden_states"])
                return args, kwargs
            self.handle = self.module.register_forward_pre_hook(pre, with_kwargs=True)
        else:
            def post(module, args, output):
                return self._through(output)
            self.handle = self.module.register_forward_hook(post)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def metric(model, ids):
    logits = model(torch.tensor([ids])).logits[0, -1]
    return logits[ANSWER] - logits[WRONG]


def make_dictionary(name, arch, d_in, d_out, width, options, seed):
    g = torch.Generator().manual_seed(seed)
    w_enc = torch.randn(d_in, width, generator=g) / d_in ** 0.5 * 2
    w_dec = torch.randn(width, d_out, generator=g) / width ** 0.5
    tensors = {
        "W_enc": w_enc.float(),
        "b_enc": (torch.randn(width, generator=g) * 0.3 - 0.2).float(),
        "W_dec": w_dec.float(),
        "b_dec": (torch.randn(d_out, generator=g) * 0.1).float(),
    }
    if "jumprelu" in arch:
        tensors["threshold"] = (torch.rand(width, generator=g) * 0.4).float()
    return tensors


def encode(tensors, cfg, x):
    """SAELens's encode, in float64, on [..., d_in]."""
    w_enc, b_enc = tensors["W_enc"].double(), tensors["b_enc"].double()
    arch = cfg["architecture"]
    if cfg.get("apply_b_dec_to_input") and "transcoder" not in arch:
        x = x - tensors["b_dec"].double()
    pre = x @ w_enc + b_enc
    if arch.startswith("jumprelu"):
        return torch.relu(pre) * (pre > tensors["threshold"].double()).double()
    if arch == "topk":
        top = torch.topk(pre, cfg["k"], dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
    return torch.relu(pre)


def run_sites(model, ids, sites, grad):
    """The values (and with grad, the metric's gradients) at the given sites of one run."""
    sites = list(dict.fromkeys(sites))  # an SAE reads and writes one site: hook it once
    handles = [Site(model, s) for s in sites]
    for h in handles:
        h.__enter__()
    try:
        with torch.set_grad_enabled(grad):
            m = metric(model, ids)
            if grad:
                m.backward()
    finally:
        for h in handles:
            h.__exit__()
    values = {s: h.value.detach()[0].reshape(LENGTH, -1) for s, h in zip(sites, handles)}
    grads = {s: h.value.grad[0].reshape(LENGTH, -1) for s, h in zip(sites, handles)} if grad else None
    return m.item(), values, grads


def patched_metric(model, ids, site, delta):
    """The metric with delta [T, width] added to the site's value in the run of ids."""
    handle = Site(model, site)
    handle.change = lambda x: x + delta.reshape(x.shape[1:]).unsqueeze(0)
    with handle, torch.no_grad():
        return metric(model, ids).item()


def interpolated_gradient(model, ids, site, clean_value, noise_value):
    """The metric's gradient at the site, averaged over the site set to clean + a (noise - clean), a = k / IG_STEPS."""
    total = torch.zeros_like(clean_value)
    for k in range(IG_STEPS):
        alpha = k / IG_STEPS
        point = clean_value + alpha * (noise_value - clean_value)
        handle = Site(model, site)
        handle.change = lambda x, point=point: point.reshape(x.shape[1:]).unsqueeze(0).clone()
        with handle, torch.enable_grad():
            metric(model, ids).backward()
        total += handle.value.grad[0].reshape(LENGTH, -1)
    return total / IG_STEPS


def edge_golden(model, up, down, clean, noise):
    """EAP over the edges from dictionary ``up`` to ``down`` (each a dict: tensors, cfg, site_in, site_out) and exact
    patching of the largest, on one pair. A node is (feature, position) with feature -1 for the error term."""
    sites = [up["site_in"], up["site_out"], down["site_in"], down["site_out"]]
    _, noise_values, _ = run_sites(model, noise, sites, False)
    w_dec_up, w_dec_down = up["tensors"]["W_dec"].double(), down["tensors"]["W_dec"].double()
    b_dec_up, b_dec_down = up["tensors"]["b_dec"].double(), down["tensors"]["b_dec"].double()
    # The clean run, differentiable: the upstream site's value (a leaf where nothing below needs a gradient) and the
    # downstream input and output, from which the downstream features and error are computed in the graph.
    handles = {s: Site(model, s) for s in dict.fromkeys(sites)}
    for h in handles.values():
        h.__enter__()
    try:
        with torch.enable_grad():
            m = metric(model, clean)
            x_up = handles[up["site_out"]].value
            x_down_in = handles[down["site_in"]].value[0].reshape(LENGTH, -1)
            x_down_out = handles[down["site_out"]].value[0].reshape(LENGTH, -1)
            f_down = encode(down["tensors"], down["cfg"], x_down_in)
            err_down = x_down_out - (f_down @ w_dec_down + b_dec_down)
            g_down = torch.autograd.grad(m, handles[down["site_out"]].value, retain_graph=True)[0][0].reshape(LENGTH, -1)
            x_up_in = handles[up["site_in"]].value[0].reshape(LENGTH, -1).detach()
            f_up_clean = encode(up["tensors"], up["cfg"], x_up_in)
            err_up_clean = x_up[0].reshape(LENGTH, -1).detach() - (f_up_clean @ w_dec_up + b_dec_up)
            f_up_noise = encode(up["tensors"], up["cfg"], noise_values[up["site_in"]])
            err_up_noise = noise_values[up["site_out"]] - (f_up_noise @ w_dec_up + b_dec_up)
            f_down_noise = encode(down["tensors"], down["cfg"], noise_values[down["site_in"]])
            err_down_noise = noise_values[down["site_out"]] - (f_down_noise @ w_dec_down + b_dec_down)
            weight = g_down @ w_dec_down.T  # d's effect on the metric per unit of its activation
            down_change = f_down_noise - f_down.detach()
            candidates = [(t, d, (down_change[t, d] * weight[t, d]).item())
                          for t, d in (down_change != 0).nonzero().tolist()]
            err_atp = ((err_down_noise - err_down.detach()) * g_down).sum(-1)
            candidates += [(t, -1, err_atp[t].item()) for t in range(LENGTH)]
            chosen = [[t, d] for t, d, _ in sorted(candidates, key=lambda c: -abs(c[2]))[:EDGE_NODES]]
            up_change = f_up_noise - f_up_clean
            up_err_change = err_up_noise - err_up_clean
            changed_up = (up_change != 0).nonzero().tolist()
            edges = []
            for t, d in chosen:
                if d >= 0 and f_down[t, d].item() == 0:
                    continue  # inactive at the clean run: its first-order edges are 0
                target = f_down[t, d] if d >= 0 else (g_down[t] * err_down[t]).sum()
                w = weight[t, d].item() if d >= 0 else 1.0
                jac = torch.autograd.grad(target, x_up, retain_graph=True)[0][0].reshape(LENGTH, -1)
                projected = jac @ w_dec_up.T
                for tp, u in changed_up:
                    if tp <= t:
                        edges.append([u, tp, d, t, (up_change[tp, u] * projected[tp, u] * w).item()])
                for tp in range(t + 1):
                    edges.append([-1, tp, d, t, ((up_err_change[tp] * jac[tp]).sum() * w).item()])
    finally:
        for h in handles.values():
            h.__exit__()
    with torch.no_grad():
        clean_metric = metric(model, clean).item()
        _, clean_values, _ = run_sites(model, clean, sites, False)
        f_down_clean = encode(down["tensors"], down["cfg"], clean_values[down["site_in"]])
        err_down_clean = clean_values[down["site_out"]] - (f_down_clean @ w_dec_down + b_dec_down)
    exact = []
    for u, tp, d, t, _ in sorted(edges, key=lambda e: -abs(e[4]))[:EDGE_TOP]:
        delta = torch.zeros(LENGTH, w_dec_up.shape[1], dtype=torch.float64)
        delta[tp] = up_err_change[tp] if u < 0 else up_change[tp, u] * w_dec_up[u]
        handle = Site(model, up["site_out"])
        handle.change = lambda x, delta=delta: x + delta.reshape(x.shape[1:]).unsqueeze(0)
        readers = {s: Site(model, s) for s in dict.fromkeys([down["site_in"], down["site_out"]])}
        with handle, torch.no_grad():
            for r in readers.values():
                r.__enter__()
            try:
                metric(model, clean)
            finally:
                for r in readers.values():
                    r.__exit__()
        x_in_after = readers[down["site_in"]].value[0].reshape(LENGTH, -1)
        x_out_after = readers[down["site_out"]].value[0].reshape(LENGTH, -1)
        f_after = encode(down["tensors"], down["cfg"], x_in_after)
        second = torch.zeros(LENGTH, w_dec_down.shape[1], dtype=torch.float64)
        if d >= 0:
            second[t] = (f_after[t, d] - f_down_clean[t, d]) * w_dec_down[d]
        else:
            err_after = x_out_after - (f_after @ w_dec_down + b_dec_down)
            second[t] = err_after[t] - err_down_clean[t]
        exact.append([u, tp, d, t, patched_metric(model, clean, down["site_out"], second) - clean_metric])
    return {"upstream": up["name"], "downstream": down["name"], "downstream_nodes": chosen, "edges": edges,
            "exact_edges": exact}


def sparse(f):
    return [[p, i, f[p, i].item()] for p, i in (f != 0).nonzero().tolist()]


def main():
    golden = {"made_by": "tools/make_feature_golden.py", "dtype": "float64", "answer": ANSWER, "wrong": WRONG,
              "ig_steps": IG_STEPS,
              "models": {}}
    for model_name, specs in SPECS.items():
        model = AutoModelForCausalLM.from_pretrained(CHECKPOINTS / model_name, dtype=torch.float64,
                                                     attn_implementation="eager").eval()
        for p in model.parameters():
            p.requires_grad_(False)
        vocab = model.config.vocab_size
        g = torch.Generator().manual_seed(33)
        pairs = [(torch.randint(10, vocab, (LENGTH,), generator=g).tolist(),
                  torch.randint(10, vocab, (LENGTH,), generator=g).tolist()) for _ in range(2)]
        entries = []
        made = {}
        for seed, (name, arch, site_in, site_out, width, options) in enumerate(SPECS[model_name]):
            site_out = site_out or site_in
            _, probe, _ = run_sites(model, pairs[0][0], [site_in, site_out], False)
            d_in, d_out = probe[site_in].shape[-1], probe[site_out].shape[-1]
            tensors = make_dictionary(name, arch, d_in, d_out, width, options, 100 + seed)
            cfg = {"architecture": arch, "d_in": d_in, "d_sae": width, "dtype": "float32", "device": "cpu",
                   "apply_b_dec_to_input": False, "normalize_activations": "none", "reshape_activations": "none",
                   "metadata": {"model_name": model_name, "hook_name": site_in}}
            cfg.update(options)
            if "transcoder" in arch:
                cfg["d_out"] = d_out
                cfg["hook_name_out"] = site_out
            directory = DICTIONARIES / model_name / name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n")
            save_file(tensors, directory / "sae_weights.safetensors")
            made[name] = {"name": name, "tensors": tensors, "cfg": cfg, "site_in": site_in, "site_out": site_out}
            w_dec = tensors["W_dec"].double()
            b_dec = tensors["b_dec"].double()
            runs = []
            for clean, noise in pairs:
                clean_metric, clean_values, grads = run_sites(model, clean, [site_in, site_out], True)
                noise_metric, noise_values, _ = run_sites(model, noise, [site_in, site_out], False)
                f_clean = encode(tensors, cfg, clean_values[site_in])
                f_noise = encode(tensors, cfg, noise_values[site_in])
                err_clean = clean_values[site_out] - (f_clean @ w_dec + b_dec)
                err_noise = noise_values[site_out] - (f_noise @ w_dec + b_dec)
                grad = grads[site_out]
                delta = f_noise - f_clean
                estimates = delta * (grad @ w_dec.T)
                changed = (delta != 0).nonzero().tolist()
                atp = [[p, i, estimates[p, i].item()] for p, i in changed]
                error_atp = ((err_noise - err_clean) * grad).sum(-1).tolist()
                by_size = sorted(changed, key=lambda pi: -abs(estimates[pi[0], pi[1]].item()))[:TOP]
                ig_grad = interpolated_gradient(model, clean, site_out, clean_values[site_out], noise_values[site_out])
                ig_estimates = delta * (ig_grad @ w_dec.T)
                ig = [[p, i, ig_estimates[p, i].item()] for p, i in changed]
                ig_error = ((err_noise - err_clean) * ig_grad).sum(-1).tolist()
                exact = []
                for p, i in by_size:
                    d = torch.zeros(LENGTH, d_out, dtype=torch.float64)
                    d[p] = delta[p, i] * w_dec[i]
                    exact.append([p, i, patched_metric(model, clean, site_out, d) - clean_metric])
                exact_all_positions = []
                for i in sorted({i for _, i in by_size}):
                    d = delta[:, i:i + 1] * w_dec[i]
                    exact_all_positions.append([i, patched_metric(model, clean, site_out, d) - clean_metric])
                exact_error = []
                for p in range(LENGTH):
                    d = torch.zeros(LENGTH, d_out, dtype=torch.float64)
                    d[p] = err_noise[p] - err_clean[p]
                    exact_error.append(patched_metric(model, clean, site_out, d) - clean_metric)
                runs.append({"clean": clean, "noise": noise, "clean_metric": clean_metric,
                             "noise_metric": noise_metric, "clean_features": sparse(f_clean),
                             "noise_features": sparse(f_noise), "atp": atp, "error_atp": error_atp, "ig": ig, "error_ig": ig_error,
                             "exact": exact, "exact_all_positions": exact_all_positions,
                             "exact_error": exact_error})
            entries.append({"name": name, "directory": str(directory.relative_to(ROOT)), "site": site_out,
                            "input_site": site_in, "runs": runs})
        golden["models"][model_name] = entries
        golden.setdefault("edges", {})[model_name] = [
            edge_golden(model, made[up], made[down], pairs[0][0], pairs[0][1]) for up, down in EDGE_CHAINS[model_name]]
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
