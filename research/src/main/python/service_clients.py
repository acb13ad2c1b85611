"""Python clients against a running Patchbay server, for `./patchbay bench --section service`.

Times AtP requests over every attention and neuron node per position (about 2.4 million effects per response on
the GPT-2-small shape) as a researcher sends them: one after another, from several threads at once, and as one
sweep; each response is read to its end and its top 10 nodes are named, as a notebook would. Prints one JSON
object. Every phase uses fresh random prompts, so no phase is served from another's clean cache.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from patchbay import Client, Pair
from patchbay.events import Summary


def pairs(seed: int, count: int, tokens: int, vocab: int) -> list[Pair]:
    rng = random.Random(seed)
    return [Pair(clean=[rng.randrange(vocab) for _ in range(tokens)],
                 noise=[rng.randrange(vocab) for _ in range(tokens)], answer=[100], wrong=[200])
            for _ in range(count)]


def one_request(client: Client, model: str, p: Pair) -> tuple[float, int]:
    """Client CPU seconds spent on the response (reading, decoding, top 10 named) and the number of effects."""
    attribution = client.attribute(model, p, method="atp", nodes="all")
    cpu = time.thread_time()
    attribution.collect()
    effects = sum(block.values.size for block in attribution.effects())
    attribution.top(10)
    return time.thread_time() - cpu, effects


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    out: dict[str, float] = {}
    with Client(args.target, timeout=None) as client:
        one_request(client, args.model, pairs(0, 1, args.tokens, args.vocab)[0])  # warm-up

        start = time.perf_counter()
        handling = [one_request(client, args.model, p)
                    for p in pairs(1, args.requests, args.tokens, args.vocab)]
        out["one_after_another_s"] = time.perf_counter() - start
        cpu = sorted(h[0] for h in handling)
        out["client_cpu_per_response_s"] = cpu[len(cpu) // 2]
        out["effects_per_response"] = handling[0][1]

        batch = pairs(2, args.requests, args.tokens, args.vocab)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(lambda p: one_request(client, args.model, p), batch))
        out["concurrent_s"] = time.perf_counter() - start

        jobs = [(str(i), dict(model=args.model, pairs=p, method="atp", nodes="all"))
                for i, p in enumerate(pairs(3, args.requests, args.tokens, args.vocab))]
        start = time.perf_counter()
        finished = sum(1 for _, event in client.sweep(jobs) if isinstance(event, Summary))
        out["sweep_s"] = time.perf_counter() - start
        if finished != args.requests:
            sys.exit(f"the sweep finished {finished} of {args.requests} jobs")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
