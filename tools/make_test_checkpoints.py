#!/usr/bin/env python3
"""Makes the tiny random checkpoints and golden files that the Java parity tests hold the runtime to.

For each architecture family (GPT-2, GPT-NeoX, Llama, Llama 3 rope scaling, Qwen 2, Qwen 3, Mistral,
Phi-3, Gemma 2, Gemma 3, OLMo 2) this writes, under
testdata/checkpoints/tiny-<arch>/, a Hugging Face model directory
(config.json, safetensors weights, tokenizer.json), and under
testdata/golden/tiny-<arch>.json the token ids, logits and a few
hook-site values that transformers itself computes for a few prompts.

The oracle is transformers, not Patchbay: golden values are computed in float64 from the
checkpoint as saved and reloaded (so fp16/bf16 rounding is part of the model, not an error).
transformers keeps float32 islands even in a float64 model: NeoX and Llama softmax, Llama's RMSNorm
and the rotary cos/sin tables. Their golden values are therefore float32-accurate there.

Each checkpoint exercises a different loading path:
  tiny-gpt2     fp32, one model.safetensors, tied embeddings, Conv1D weights
  tiny-neox     fp16, partial rotary (half the head dim), parallel attention and MLP
  tiny-llama    bf16, sharded (model.safetensors.index.json), grouped-query attention, a BOS token
  tiny-llama3   Llama 3.1 rope scaling (llama3) with every wavelength band in use
  tiny-qwen2    q/k/v biases without an output bias; dynamic NTK rope over prompts longer than max positions
  tiny-qwen3    per-head q/k RMSNorm, head_dim unlike hidden/heads, tied embeddings
  tiny-mistral  a sliding window of 4 keys over every layer (prompts are longer)
  tiny-phi3     fused qkv_proj and gate_up_proj, partial rotary
  tiny-gemma2   bf16, (1 + w) norms before and after, scaled embeddings, attention and final-logit soft-capping,
                query_pre_attn_scalar, alternating sliding-window layers
  tiny-gemma3   per-head q/k norms, local and global layers with their own rotary (global linearly scaled)
  tiny-olmo2    norms after attention and MLP only, q/k norms over the whole projection

transformers also keeps float32 islands in Gemma's and OLMo 2's RMSNorm (computed in float32).

Developer tool: needs torch, transformers, tokenizers and safetensors from PyPI; CI does not run it.
Usage: python3 tools/make_test_checkpoints.py [name ...]   (deterministic: fixed seeds; no names: all)
"""
import json
import pathlib

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
import sys

from transformers import (Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig, GPT2Config,
                          GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Olmo2Config, Olmo2ForCausalLM, Phi3Config,
                          Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "testdata"

CORPUS = [
    "When Mary and John went to the store, John gave a drink to Mary.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "City: Paris. Country: France. City: Rome. Country: Italy.",
    "Patchbay patches activations to find which heads and neurons matter.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()-",
]
PROMPTS = [
    "When Mary and John went to the store, John gave a drink to",
    "The quick brown fox",
    "City: Rome. Country:",
]
VOCAB_SIZE = 300


def make_tokenizer(bos: bool) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>"] + (["<s>"] if bos else [])
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    if bos:
        bos_id = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Weights large enough that every op matters (the default init of 0.02 makes a near-constant model)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "ln" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def capture_golden(load, tok: Tokenizer, name: str) -> dict:
    """Logits for every prompt; hook values for the first prompt, under TransformerLens names.

    Each prompt runs on a freshly loaded model: dynamic NTK rotary keeps state between calls in transformers
    (frequencies grown for a long prompt stay until a prompt shorter than max_position_embeddings resets them).
    """
    golden = {"model": name, "dtype": "float64", "prompts": []}
    for index, text in enumerate(PROMPTS):
        model = load().eval()
        n_layers = model.config.num_hidden_layers
        ids = tok.encode(text).ids
        captured = {}
        handles = []
        if index == 0:
            for layer, block in enumerate(blocks_of(model)):
                out_proj, down_proj = projections_of(model, block)
                handles.append(out_proj.register_forward_pre_hook(
                    lambda m, args, l=layer: captured.__setitem__(f"blocks.{l}.attn.hook_z", args[0])))
                handles.append(down_proj.register_forward_pre_hook(
                    lambda m, args, l=layer: captured.__setitem__(f"blocks.{l}.mlp.hook_post", args[0])))
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_hidden_states=True, output_attentions=True)
        for h in handles:
            h.remove()
        entry = {"text": text, "ids": ids, "logits": out.logits[0].tolist()}
        if index == 0:
            hooks = {}
            for layer in range(n_layers):
                hooks[f"blocks.{layer}.hook_resid_pre"] = out.hidden_states[layer][0].tolist()
                hooks[f"blocks.{layer}.attn.hook_pattern"] = out.attentions[layer][0].tolist()
                n_heads = model.config.num_attention_heads
                z = captured[f"blocks.{layer}.attn.hook_z"][0]
                hooks[f"blocks.{layer}.attn.hook_z"] = z.reshape(z.shape[0], n_heads, -1).tolist()
                hooks[f"blocks.{layer}.mlp.hook_post"] = captured[f"blocks.{layer}.mlp.hook_post"][0].tolist()
            hooks["ln_final.hook_normalized"] = out.hidden_states[n_layers][0].tolist()
            entry["hooks"] = hooks
        golden["prompts"].append(entry)
    return golden


def rounded(value):
    """Ten significant digits: far below every tolerance the tests use, and a third of the file size."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def blocks_of(model):
    if hasattr(model, "transformer"):
        return model.transformer.h
    if hasattr(model, "gpt_neox"):
        return model.gpt_neox.layers
    return model.model.layers


def projections_of(model, block):
    """The attention output projection (its input is hook_z) and the MLP output projection (input hook_post)."""
    if hasattr(model, "transformer"):
        return block.attn.c_proj, block.mlp.c_proj
    if hasattr(model, "gpt_neox"):
        return block.attention.dense, block.mlp.dense_4h_to_h
    return block.self_attn.o_proj, block.mlp.down_proj


def build(name: str, model, tok: Tokenizer, seed: int, dtype: torch.dtype, shard: str | None) -> None:
    randomize(model, seed)
    model = model.to(dtype)  # the saved precision is part of the model
    out_dir = RESOURCES / "checkpoints" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("model*.safetensors*"):
        stale.unlink()
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(out_dir, safe_serialization=True, **kwargs)
    tok.save(str(out_dir / "tokenizer.json"))
    for extra in ("generation_config.json",):
        (out_dir / extra).unlink(missing_ok=True)
    # The golden values come from the directory as saved, loaded the way a user would load it: computing
    # them on the in-memory model would keep buffers (rotary inv_freq) rounded by the .to(dtype) above.
    golden = capture_golden(
        lambda: type(model).from_pretrained(out_dir, dtype=torch.float64, attn_implementation="eager"), tok, name)
    golden_dir = RESOURCES / "golden"
    golden_dir.mkdir(parents=True, exist_ok=True)
    (golden_dir / f"{name}.json").write_text(json.dumps(rounded(golden)))
    size = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"{name}: {size / 1024:.0f} KiB in {out_dir.relative_to(ROOT)}")


def small(config_class, tok: Tokenizer, **kwargs):
    """The common tiny shape: 2 layers, d_model 32, 4 query heads sharing 2 key/value heads."""
    base = dict(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64, rms_norm_eps=1e-6,
                bos_token_id=tok.token_to_id("<s>"), eos_token_id=0, pad_token_id=0,
                tie_word_embeddings=False, attn_implementation="eager")
    base.update(kwargs)
    return config_class(**base)


def builders():
    """Every checkpoint by name: a function that makes and saves it."""
    def gpt2():
        tok = make_tokenizer(bos=False)
        model = GPT2LMHeadModel(GPT2Config(
            vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=4,
            activation_function="gelu_new", bos_token_id=0, eos_token_id=0,
            attn_implementation="eager"))
        build("tiny-gpt2", model, tok, seed=1, dtype=torch.float32, shard=None)

    def neox():
        tok = make_tokenizer(bos=False)
        model = GPTNeoXForCausalLM(GPTNeoXConfig(
            vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128, rotary_pct=0.5, max_position_embeddings=64, hidden_act="gelu",
            use_parallel_residual=True, tie_word_embeddings=False, attn_implementation="eager"))
        build("tiny-neox", model, tok, seed=2, dtype=torch.float16, shard=None)

    def llama():
        tok = make_tokenizer(bos=True)
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64, rms_norm_eps=1e-6,
            tie_word_embeddings=False, bos_token_id=tok.token_to_id("<s>"), attn_implementation="eager"))
        build("tiny-llama", model, tok, seed=3, dtype=torch.bfloat16, shard="40KB")

    def llama3():
        # head_dim 8: wavelengths 6.3 (between original/high = 4 and original/low = 16: smoothed), 167, 4.4e3 and
        # 1.2e5 (beyond 16: divided by factor).
        tok = make_tokenizer(bos=True)
        model = LlamaForCausalLM(small(LlamaConfig, tok, rope_parameters={
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 16}))
        build("tiny-llama3", model, tok, seed=4, dtype=torch.float32, shard=None)

    def qwen2():
        tok = make_tokenizer(bos=True)
        model = Qwen2ForCausalLM(small(Qwen2Config, tok, max_position_embeddings=8, rope_parameters={
            "rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}))
        build("tiny-qwen2", model, tok, seed=5, dtype=torch.float32, shard=None)

    def qwen3():
        tok = make_tokenizer(bos=True)
        model = Qwen3ForCausalLM(small(Qwen3Config, tok, head_dim=16, tie_word_embeddings=True))
        build("tiny-qwen3", model, tok, seed=6, dtype=torch.float32, shard=None)

    def mistral():
        tok = make_tokenizer(bos=True)
        model = MistralForCausalLM(small(MistralConfig, tok, sliding_window=4))
        build("tiny-mistral", model, tok, seed=7, dtype=torch.float32, shard=None)

    def phi3():
        tok = make_tokenizer(bos=True)
        model = Phi3ForCausalLM(small(Phi3Config, tok, rope_parameters={
            "rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}))
        build("tiny-phi3", model, tok, seed=8, dtype=torch.float32, shard=None)

    def gemma2():
        tok = make_tokenizer(bos=True)
        model = Gemma2ForCausalLM(small(
            Gemma2Config, tok, head_dim=16, query_pre_attn_scalar=12, sliding_window=4,
            attn_logit_softcapping=5.0, final_logit_softcapping=8.0, hidden_activation="gelu_pytorch_tanh",
            tie_word_embeddings=True))
        build("tiny-gemma2", model, tok, seed=9, dtype=torch.bfloat16, shard=None)

    def gemma3():
        tok = make_tokenizer(bos=True)
        model = Gemma3ForCausalLM(small(
            Gemma3TextConfig, tok, head_dim=16, query_pre_attn_scalar=16, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], hidden_activation="gelu_pytorch_tanh",
            tie_word_embeddings=True, rope_parameters={
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 8.0}}))
        build("tiny-gemma3", model, tok, seed=10, dtype=torch.float32, shard=None)

    def olmo2():
        tok = make_tokenizer(bos=True)
        model = Olmo2ForCausalLM(small(Olmo2Config, tok))
        build("tiny-olmo2", model, tok, seed=11, dtype=torch.float32, shard=None)

    return {"tiny-gpt2": gpt2, "tiny-neox": neox, "tiny-llama": llama, "tiny-llama3": llama3,
            "tiny-qwen2": qwen2, "tiny-qwen3": qwen3, "tiny-mistral": mistral, "tiny-phi3": phi3,
            "tiny-gemma2": gemma2, "tiny-gemma3": gemma3, "tiny-olmo2": olmo2}


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    every = builders()
    names = sys.argv[1:] or list(every)
    unknown = [n for n in names if n not in every]
    if unknown:
        sys.exit(f"unknown checkpoint {unknown}; known are {list(every)}")
    for name in names:
        every[name]()


if __name__ == "__main__":
    main()
