"""Measures what a sweep over replicas costs on this machine, for docs/scaling.md and tools/simulate_scaling.py:
a 300-job AtP sweep of the bundled model through the Python client's sharder over 1 and 3 local replicas (jobs per
second and the client's CPU seconds per job), the clean-cache hit rate of 200 jobs over 20 clean prompts with
affinity and without, and the client's cost of decoding effect blocks per MB. Writes docs/scaling/local.json.

Usage: .venv/bin/python research/src/main/python/measure_scaling.py   (after ./patchbay test or mvn install)
"""
import json
import os
import pathlib
import random
import time

from bundled_server import REPO, serve

import patchbay
from patchbay.client import _sweep_event
from patchbay.v1 import patchbay_pb2

OUT = REPO / "docs" / "scaling" / "local.json"


def jobs(n: int, prompts: int, seed: int):
    rng = random.Random(seed)
    clean = [[rng.randrange(1, 96) for _ in range(12)] for _ in range(prompts)]
    return [(f"job{i}", dict(model="patchbay-tiny", method="atp", nodes="heads",
                             pairs=patchbay.Pair(clean[i % prompts], list(reversed(clean[i % prompts])),
                                                 answer=[3], wrong=[5])))
            for i in range(n)]


def timed_sweep(addresses, job_list, affinity):
    sharder = patchbay.Replicas(addresses, affinity=affinity)
    wall, cpu = time.perf_counter(), time.process_time()
    done = sum(isinstance(e, patchbay.Summary) for _, e in sharder.sweep(job_list))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert done == len(job_list)
    return {"jobs": done, "seconds": wall, "jobs_per_second": done / wall, "client_cpu_seconds_per_job": cpu / done,
            "cache_hits": sharder.stats.cache_hits, "cache_misses": sharder.stats.cache_misses,
            "hit_rate": sharder.stats.hit_rate}


def decode_cost_per_mb():
    """Client CPU seconds to turn one MB of float32 effects (one SweepEvent) into numpy."""
    values = [0.5] * (1 << 18)  # 1 MiB of float32
    event = patchbay_pb2.SweepEvent(job_id="j", attribute=patchbay_pb2.AttributeEvent(
        block=patchbay_pb2.EffectBlock(kind=patchbay_pb2.NEURON, values=values, shape=[len(values)])))
    wire = event.SerializeToString()
    start = time.process_time()
    for _ in range(20):
        _sweep_event(patchbay_pb2.SweepEvent.FromString(wire))
    return (time.process_time() - start) / 20


def main():
    servers = [serve(models=("patchbay-tiny",)) for _ in range(3)]
    try:
        addresses = [address for _, address in servers]
        timed_sweep(addresses, jobs(30, 30, 0), affinity=False)  # warm-up: JIT on every replica
        result = {
            "machine": f"{os.cpu_count()} cores; the replicas and the client share them",
            "sweep_300_jobs": {
                "1 replica": timed_sweep(addresses[:1], jobs(300, 300, 1), affinity=False),
                "3 replicas": timed_sweep(addresses, jobs(300, 300, 2), affinity=False),
            },
            "affinity_200_jobs_20_prompts": {
                "on": timed_sweep(addresses, jobs(200, 20, 3), affinity=True),
                "off": timed_sweep(addresses, jobs(200, 20, 4), affinity=False),
            },
            "client_decode_cpu_seconds_per_mb": decode_cost_per_mb(),
        }
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
