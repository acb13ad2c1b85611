"""How a 100,000-pair sweep would scale over N = 1..64 GPU replicas: a bottleneck model fed with measured figures.

Each replica's device runs one job at a time (merging does not change its throughput much at one pair per job); the
client (one Python process with the sharder) spends CPU on every job and on every MB it decodes; the client's network
link carries every result; the clean-side cache saves part of a job wherever the replica has seen its clean prompt.
Throughput at N is the least of N replicas' rate (with the cache's hit rate at N), the client's rate and the link's;
the table says which limit binds. Measured inputs (the defaults; each is a flag):
  - device seconds per job on one H200 (docs/gpu.md, bench --device cuda, GPT-2-small shape, 64 tokens, fp32):
    AtP* over attention and neuron nodes per position 0.4216 s, AtP 0.0906 s, one clean forward 0.0422 s;
  - the server's per-request overhead over in-process: 11% (README, bench --section service);
  - the client's CPU per job and per decoded MB, and the hit rates (docs/scaling/local.json, measure_scaling.py).
Not modelled: batching several pairs per job (faster per pair on a GPU), replicas of unequal speed, failures.

Usage: python3 tools/simulate_scaling.py [--local docs/scaling/local.json] > docs/scaling/simulation.md
"""

import argparse
import json
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
# GPT-2 small: 12 layers, 12 heads (q, k, v, z each) and 3,072 neurons a layer, 64 positions, 4 bytes an effect.
ATP_STAR_PER_POSITION_BYTES = 12 * (12 * 4 + 3072) * 64 * 4


def workloads(args):
    """(name, device seconds on a miss, on a hit, result bytes per job)."""
    clean_side = args.atp - args.forward  # AtP's clean forward and backward, which a cached clean side saves
    return [
        # GradDrop needs the live graph of its clean run: AtP* gains nothing from the clean-side cache.
        ("AtP*, every node per position returned", args.atp_star, args.atp_star, ATP_STAR_PER_POSITION_BYTES),
        ("AtP over a distribution, sums returned", args.atp, args.atp - clean_side, 12 * (12 * 4 + 3072) * 4),
    ]


def miss_rate(replicas: int, jobs_per_prompt: int, affinity: bool) -> float:
    """Clean-side computations per job: once per prompt with affinity; without, once per replica a prompt's jobs
    land on (jobs spread evenly at random: N (1 - (1 - 1/N)^k) replicas of N for k jobs)."""
    if affinity:
        return 1 / jobs_per_prompt
    k = jobs_per_prompt
    return replicas * (1 - (1 - 1 / replicas) ** k) / k


def table(args, local):
    client_per_job = local["sweep_300_jobs"]["3 replicas"]["client_cpu_seconds_per_job"]
    per_mb = local["client_decode_cpu_seconds_per_mb"]
    lines = []
    for name, miss, hit, result_bytes in workloads(args):
        mb = result_bytes / 2**20
        client_rate = 1 / (client_per_job + mb * per_mb)
        link_rate = args.link_gbit * 1e9 / 8 / result_bytes
        lines += [f"### {name} ({mb:.2f} MB a job)", "",
                  "| replicas | pairs/s with affinity | limit | pairs/s without | limit | hours for 100,000 (affinity) |",
                  "| ---: | ---: | --- | ---: | --- | ---: |"]
        one = None
        for n in (1, 2, 4, 8, 16, 32, 64):
            row = [str(n)]
            for affinity in (True, False):
                device = hit + miss_rate(n, args.jobs_per_prompt, affinity) * (miss - hit)
                replica_rate = n / (device * (1 + args.overhead))
                rate, limit = min((replica_rate, "replicas"), (client_rate, "client CPU"), (link_rate, "client link"))
                if affinity:
                    one = one or rate
                    efficiency = rate / (one * n)
                    row += [f"{rate:,.1f}", f"{limit} ({efficiency:.0%} of linear)"]
                    hours = 100_000 / rate / 3600
                else:
                    row += [f"{rate:,.1f}", limit]
            row.append(f"{hours:.2f}")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", default=str(REPO / "docs" / "scaling" / "local.json"))
    parser.add_argument("--atp-star", type=float, default=0.4216, help="device seconds of one AtP* job")
    parser.add_argument("--atp", type=float, default=0.0906, help="device seconds of one AtP job")
    parser.add_argument("--forward", type=float, default=0.0422, help="device seconds of one forward")
    parser.add_argument("--overhead", type=float, default=0.11, help="server time over in-process, a fraction")
    parser.add_argument("--link-gbit", type=float, default=10.0, help="the client's network, Gbit/s")
    parser.add_argument("--jobs-per-prompt", type=int, default=20, help="jobs sharing one clean prompt")
    args = parser.parse_args()
    local = json.loads(pathlib.Path(args.local).read_text())
    print(table(args, local))


if __name__ == "__main__":
    main()
