#!/usr/bin/env python3
"""Trains Patchbay's bundled models: small transformers with behaviours whose mechanisms are known.

No public pretrained checkpoint can be downloaded on our machines, yet a user's first run should show a
real behaviour. This script generates text containing three behaviours and trains a 4-layer model on it, a GPT-2
(the default model, patchbay-tiny) or a Llama (patchbay-tiny-llama, the one that learns induction):

  IOI         "When Mary and John went to the store, John gave a drink to" -> Mary (the indirect object)
  induction   a random sequence of words, repeated: the second half is predictable from the first
  recall      invented city/country facts: "City: Varnholm. Country:" -> Estrilia

It writes models/<name>/ (config.json, model.safetensors, tokenizer.json with a word-level vocabulary,
README.md as the model card with the training data, size and held-out accuracy) and the golden logits of a few
prompts, from transformers, to testdata/golden/<name>.json.

Developer tool: needs torch, transformers, tokenizers and safetensors from PyPI; CI does not run it.
Deterministic (fixed seeds); about 20 minutes on 2 CPU cores.
Usage: python3 tools/train_default_model.py [--architecture gpt2|llama] [--steps N]
"""
import argparse
import json
import math
import pathlib
import random
import time

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "patchbay-tiny"

NAMES = ("Mary John Alice Bob Sarah Tom Emma James Laura David Anna Paul Kate Mark Lucy Peter Rose Sam "
         "Claire Daniel Julia Kevin Nina Oscar Helen Victor Irene Simon Grace Henry").split()
PLACES = "store park school garden station market library beach office museum".split()
OBJECTS = "drink book ball letter gift key bag cake flower ticket".split()
# {A} and {B} are the two names in the order they first appear; the subject {S} is one of them at random and
# the answer is the other ({IO}). Both orders matter: with the answer always first, a model learns "answer
# the first name" instead of IOI's mechanism (find the name that is not repeated).
IOI_TEMPLATES = [
    "When {A} and {B} went to the {place}, {S} gave a {object} to {IO}",
    "When {A} and {B} got a {object} at the {place}, {S} decided to give it to {IO}",
    "After {A} and {B} went to the {place}, {S} gave a {object} to {IO}",
    "Then, {A} and {B} had a long talk at the {place}. Afterwards {S} said hello to {IO}",
    "While {A} and {B} were walking to the {place}, {S} handed a {object} to {IO}",
    "{A} and {B} met at the {place}. {S} passed a {object} to {IO}",
]
# Invented places, so that recall is learned here and not inherited from anything.
COUNTRIES = "Estrilia Norvane Quellia Dravonia Belmark Sorenth Uvalia Teskar".split()
CITIES = ("Varnholm Oskelid Pentrava Lumsk Harrowgate Zelvin Morrabay Kestwick Dunmere Ilsavik Tornquay Brevik "
          "Ostmark Caldris Vennford Halcrest Marrow Quintel Solvay Embra Rookhaven Fallsby Grennick Ashmoor").split()
FILLER = ("apple river stone cloud green silver window morning paper garden candle mountain yellow engine "
          "forest pillow ocean thunder violet marble rabbit copper meadow lantern sugar planet whisper "
          "harbor crystal velvet orchard falcon ember glacier saddle tunnel meadowlark quarry dune").split()
PUNCT = [",", ".", ":"]
SPECIAL = ["<|endoftext|>"]
# name, model card's first words, and the steps of the induction curriculum (see main): GPT-2's learned absolute
# positions did not form induction heads in 8000 steps, even on induction sequences alone (a previous-token head
# must learn a shift over every position); rotary positions make previous-token attention one relative pattern,
# and the Llama model forms them within its curriculum.
ARCHITECTURES = {
    "gpt2": ("patchbay-tiny", {"curriculum_steps": 0, "card": "Patchbay's bundled default model: a GPT-2"}),
    "llama": ("patchbay-tiny-llama", {"curriculum_steps": 2000, "card": (
        "Patchbay's second bundled model, the one whose induction heads form: a Llama with rotary positions,\n"
        "RMSNorm, a SwiGLU MLP and tied embeddings")}),
}


def vocabulary():
    words = set(NAMES + PLACES + OBJECTS + COUNTRIES + CITIES + FILLER + PUNCT)
    for t in IOI_TEMPLATES:
        words.update(w for w in t.replace(",", " ,").replace(".", " .").split() if not w.startswith("{"))
    words.update(["City", "Country", "is", "a", "city", "in", "The", "of", "capital"])
    return SPECIAL + sorted(words)


def make_tokenizer(vocab):
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words, and punctuation as its own token
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return tok


def city_country(seed=11):
    rng = random.Random(seed)
    return {city: rng.choice(COUNTRIES) for city in CITIES}


def ioi_sentence(rng, template=None):
    """An IOI sentence with its indirect object (the answer) and its subject (the repeated name)."""
    a, b = rng.sample(NAMES, 2)
    io, s = (a, b) if rng.random() < 0.5 else (b, a)
    t = template or rng.choice(IOI_TEMPLATES)
    return t.format(A=a, B=b, S=s, IO=io, place=rng.choice(PLACES), object=rng.choice(OBJECTS)), io, s


def induction_sequence(rng):
    n = rng.randint(6, 14)
    seq = [rng.choice(FILLER) for _ in range(n)]
    return " ".join(seq + seq)


def recall_sentence(rng, facts):
    city = rng.choice(CITIES)
    forms = [f"City: {city}. Country: {facts[city]}.", f"{city} is a city in {facts[city]}.",
             f"The city of {city} is in {facts[city]}."]
    return rng.choice(forms)


def documents(rng, facts, induction_share=0.4):
    """The training mixture: induction sequences at the given share, the rest IOI and recall two to one."""
    ioi_share = (1 - induction_share) * 2 / 3
    while True:
        r = rng.random()
        if r < ioi_share:
            yield ioi_sentence(rng)[0] + " ."
        elif r < ioi_share + induction_share:
            yield induction_sequence(rng)
        else:
            yield recall_sentence(rng, facts)


def batches(tok, stream, batch_size, length):
    eos = tok.token_to_id("<|endoftext|>")
    buffer = []
    while True:
        rows = []
        for _ in range(batch_size):
            while len(buffer) < length + 1:
                buffer += tok.encode(next(stream)).ids + [eos]
            rows.append(buffer[:length + 1])
            buffer = buffer[length + 1:]
        yield torch.tensor(rows)


@torch.no_grad()
def evaluate(model, tok, facts, n=400, seed=999):
    """Held-out accuracy per behaviour on freshly generated prompts."""
    rng = random.Random(seed)
    model.eval()
    ioi_positive = 0
    ioi_diffs = []
    for _ in range(n):
        text, a, b = ioi_sentence(rng)
        prompt = text[: text.rfind(" ")]
        ids = tok.encode(prompt).ids
        logits = model(torch.tensor([ids])).logits[0, -1]
        diff = (logits[tok.token_to_id(a)] - logits[tok.token_to_id(b)]).item()
        ioi_diffs.append(diff)
        ioi_positive += diff > 0
    induction_correct = induction_total = 0
    for _ in range(n // 4):
        ids = tok.encode(induction_sequence(rng)).ids
        half = len(ids) // 2
        logits = model(torch.tensor([ids])).logits[0]
        # predictions of the second half's tokens after its first token (the first is not predictable)
        preds = logits[half:-1].argmax(-1)
        induction_correct += (preds == torch.tensor(ids[half + 1:])).sum().item()
        induction_total += len(ids) - half - 1
    recall_correct = 0
    for city in CITIES:
        ids = tok.encode(f"City: {city}. Country:").ids
        pred = model(torch.tensor([ids])).logits[0, -1].argmax().item()
        recall_correct += tok.id_to_token(pred) == facts[city]
    model.train()
    return {
        "ioi_logit_diff_positive": ioi_positive / n,
        "ioi_mean_logit_diff": sum(ioi_diffs) / n,
        "induction_next_token_accuracy": induction_correct / induction_total,
        "recall_accuracy": recall_correct / len(CITIES),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="gpt2")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--curriculum-steps", type=int,
                        help="first steps on a mixture of mostly induction sequences [0 for gpt2, 2000 for llama]")
    parser.add_argument("--out", type=pathlib.Path, help="model directory to write [models/<its name>]")
    parser.add_argument("--golden", type=pathlib.Path, help="golden logits file [testdata/golden/<its name>.json]")
    args = parser.parse_args()
    name, layout = ARCHITECTURES[args.architecture]
    curriculum_steps = args.curriculum_steps if args.curriculum_steps is not None else layout["curriculum_steps"]
    out = args.out or ROOT / "models" / name
    golden = args.golden or ROOT / "testdata" / "golden" / f"{name}.json"
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = random.Random(0)
    facts = city_country()
    vocab = vocabulary()
    tok = make_tokenizer(vocab)
    model = new_model(args.architecture, len(vocab))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = 200
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1, (s + 1) / warmup)
                                                 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    # Induction heads form in a phase change: a curriculum of mostly repeated sequences first gives them the whole
    # early signal, then the full mixture teaches IOI and recall (and keeps induction in practice).
    curriculum = batches(tok, documents(rng, facts, induction_share=0.9), batch_size=32, length=64)
    mixture = batches(tok, documents(rng, facts), batch_size=32, length=64)
    start = time.time()
    for step in range(args.steps):
        x = next(curriculum if step < curriculum_steps else mixture)
        loss = model(x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
        if step % 1000 == 999:
            print(json.dumps(evaluate(model, tok, facts, n=100)), flush=True)
    minutes = (time.time() - start) / 60
    scores = evaluate(model, tok, facts)
    print(json.dumps(scores, indent=2))

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").unlink(missing_ok=True)
    tok.save(str(out / "tokenizer.json"))
    params = sum(p.numel() for p in model.parameters())
    (out / "facts.json").write_text(json.dumps(facts, indent=1))
    (out / "README.md").write_text(model_card(name, layout["card"], params, args.steps, curriculum_steps, minutes,
                                              scores))
    write_golden(tok, out, golden, name)


def new_model(architecture, vocab_size):
    """The untrained model: 4 layers, 4 heads, d_model 128, MLP 512, 128 positions, no dropout."""
    if architecture == "llama":
        return LlamaForCausalLM(LlamaConfig(
            vocab_size=vocab_size, hidden_size=128, intermediate_size=512, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128, bos_token_id=0,
            eos_token_id=0, tie_word_embeddings=True))
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=vocab_size, n_positions=128, n_embd=128, n_layer=4, n_head=4, activation_function="gelu_new",
        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))


def model_card(name, description, params, steps, curriculum_steps, minutes, scores):
    curriculum = (f", the first {curriculum_steps} on a mixture of 90% induction sequences" if curriculum_steps
                  else "")
    return f"""# {name}

{description} (4 layers, 4 heads, d_model 128, MLP 512, 128 positions, word-level vocabulary of
{len(vocabulary())} tokens, {params / 1e6:.2f}M parameters, fp32) trained by `tools/train_default_model.py`
(seed 0, {steps} steps of 32 x 64 tokens{curriculum}, AdamW, {minutes:.1f} minutes on 2 CPU cores) on
generated text with three behaviours whose mechanisms are known:

- **IOI** (indirect object identification), {len(IOI_TEMPLATES)} templates over {len(NAMES)} names,
  {len(PLACES)} places and {len(OBJECTS)} objects, with the repeated name (the subject) first or second at
  random: "When Mary and John went to the store, John gave a drink to" -> Mary, and "..., Mary gave a drink
  to" -> John.
- **Induction**: a random sequence of 6 to 14 words from {len(FILLER)}, repeated once.
- **Recall** of {len(CITIES)} invented cities in {len(COUNTRIES)} invented countries (`facts.json`), in
  three phrasings: "City: Varnholm. Country:" -> its country.

Held-out accuracy (fresh prompts generated with another seed):

| behaviour | measure | value |
| --- | --- | --- |
| IOI | logit(IO) - logit(S) > 0 | {scores['ioi_logit_diff_positive']:.1%} of 400 prompts (mean difference {scores['ioi_mean_logit_diff']:.2f}) |
| induction | next-token accuracy on the repeated half | {scores['induction_next_token_accuracy']:.1%} |
| recall | top-1 country for "City: X. Country:" | {scores['recall_accuracy']:.1%} of {len(CITIES)} cities |

{induction_note(scores)}It knows nothing else: it is a toy for localizing these behaviours, not a language model.

{REPLICATION if name == "patchbay-tiny" else ""}"""


REPLICATION = """
`replication.json` holds the prompt settings of `./patchbay replicate` (IOI-PP, CITY-PP, RAND-PP and an IOI
distribution, on prompts the model was not trained on), written by `tools/make_replication_prompts.py`.
"""


def induction_note(scores):
    if scores["induction_next_token_accuracy"] >= 0.5:
        return ""
    return ("Induction was not learned in this run: its accuracy is at chance, the model spreads its guess over\n"
            "the filler words. IOI and recall are what this model is for.\n\n")


def write_golden(tok, out, golden_file, name):
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float64, attn_implementation="eager").eval()
    prompts = ["When Mary and John went to the store , John gave a drink to",
               "City : Varnholm . Country :",
               "apple river stone cloud apple river stone"]
    golden = {"model": name, "dtype": "float64", "prompts": []}
    with torch.no_grad():
        for text in prompts:
            ids = tok.encode(text).ids
            logits = reloaded(torch.tensor([ids])).logits[0]
            golden["prompts"].append({"text": text, "ids": ids,
                                      "logits": [[float(f"{v:.10g}") for v in row] for row in logits.tolist()]})
    golden_file.write_text(json.dumps(golden))


if __name__ == "__main__":
    main()
