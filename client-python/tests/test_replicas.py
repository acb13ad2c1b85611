"""Sweeps over three server processes on loopback ports (issue 19): every job answered exactly once, clean prompts
kept on one replica, and no job lost when a replica is killed (SIGKILL) or drains (SIGTERM) mid-sweep."""
import collections
import random
import signal

import pytest
from conftest import launch_server, listening_address, stop_server

import patchbay

pytestmark = pytest.mark.server

def prompts(seed: int) -> list[list[int]]:
    """20 distinct clean prompts of 8 tokens for tiny-gpt2 (random ids; a seed per test, so caches start cold)."""
    rng = random.Random(seed)
    return [[rng.randrange(1, 96) for _ in range(8)] for _ in range(20)]


def jobs(n: int, seed: int = 0):
    clean = prompts(seed)
    return [(f"job{i}", dict(model="tiny-gpt2", method="atp", nodes="heads",
                             pairs=patchbay.Pair(clean[i % 20], list(reversed(clean[i % 20])), answer=[3], wrong=[5])))
            for i in range(n)]


def start_three():
    """Three servers of tiny-gpt2, started together."""
    processes = [launch_server(["--drain-seconds", "30"], models=("tiny-gpt2",)) for _ in range(3)]
    try:
        return [(process, listening_address(process)) for process in processes]
    except BaseException:
        for process in processes:
            stop_server(process)
        raise


@pytest.fixture(scope="module")
def replicas():
    """Three servers for the module; the last test drains one and kills another."""
    servers = start_three()
    yield servers
    for process, _ in servers:
        stop_server(process)


def collect(sweep):
    """Each job's events, and the order in which jobs finished."""
    events, order = collections.defaultdict(list), []
    for job_id, event in sweep:
        if not events[job_id]:
            order.append(job_id)
        events[job_id].append(event)
    return events, order


def assert_each_job_once(events, order, n):
    assert sorted(order) == sorted(f"job{i}" for i in range(n)), "every job answered, none twice"
    for job_id, got in events.items():
        kinds = [type(e).__name__ for e in got]
        assert kinds[0] == "Accepted" and kinds[-1] == "Summary" and kinds.count("Summary") == 1, (job_id, kinds)


def test_a_sweep_of_300_jobs_is_answered_once_each_and_spread_over_the_replicas(replicas):
    sharder = patchbay.Replicas([address for _, address in replicas], affinity=False)
    events, order = collect(sharder.sweep(jobs(300)))
    assert_each_job_once(events, order, 300)
    # Without affinity a job goes to the replica with the fewest in flight: the faster ones take more.
    assert all(r.jobs > 0 for r in sharder.stats.replicas), sharder.stats.replicas
    assert sum(r.jobs for r in sharder.stats.replicas) == 300
    assert sharder.stats.resubmitted == 0


def test_a_plain_client_spreads_its_calls_over_every_address_of_its_target(replicas):
    """gRPC's own round_robin (the client's service config) over a target that resolves to three addresses."""
    addresses = [address for _, address in replicas]

    def finished(address):
        with patchbay.Client(address) as c:
            return c.metrics().calls_by_status["OK"]

    before = [finished(a) for a in addresses]
    with patchbay.Client("ipv4:" + ",".join(addresses)) as client:
        for _ in range(30):
            client.tokenize("tiny-gpt2", "When Mary and John")
    # Less the metrics call that read the count before.
    served = [finished(a) - b - 1 for a, b in zip(addresses, before, strict=True)]
    assert sum(served) == 30 and min(served) >= 5, served


def test_affinity_does_each_clean_forward_once_per_replica_set(replicas):
    addresses = [address for _, address in replicas]
    on = patchbay.Replicas(addresses, affinity=True)
    events, order = collect(on.sweep(jobs(200, seed=1)))
    assert_each_job_once(events, order, 200)
    # 20 distinct clean prompts: at most 20 clean-side computations over all three replicas.
    assert on.stats.cache_misses <= 20 and on.stats.cache_hits >= 180, on.stats
    assert sum(r.jobs > 0 for r in on.stats.replicas) >= 2, "the prompts are spread over the replicas"
    # A sweep of the same shape over 20 other prompts without affinity: each prompt's clean forward is done on
    # every replica its jobs land on.
    off = patchbay.Replicas(addresses, affinity=False)
    events, order = collect(off.sweep(jobs(200, seed=2)))
    assert_each_job_once(events, order, 200)
    assert off.stats.cache_misses > on.stats.cache_misses, (on.stats, off.stats)
    print(f"clean-cache hit rate over 200 jobs of 20 prompts on 3 replicas: {on.stats.hit_rate:.3f} with affinity "
          f"({on.stats.cache_misses} misses), {off.stats.hit_rate:.3f} without ({off.stats.cache_misses} misses)")


def test_replicas_drained_and_killed_mid_sweep_lose_no_job(replicas):
    """One replica drains (SIGTERM) after 60 jobs, another is killed (SIGKILL) after 150: the third finishes the
    sweep, every job answered once and none failed; the draining one gets no new work once it says so. Last in the
    module: it ends two of its servers."""
    (draining, _), (victim, _), _ = replicas
    sharder = patchbay.Replicas([address for _, address in replicas], affinity=True)
    events, order = collections.defaultdict(list), []
    jobs_when_drained = 0
    for job_id, event in sharder.sweep(jobs(300, seed=5)):
        if not events[job_id]:
            order.append(job_id)
            if len(order) == 60:
                draining.send_signal(signal.SIGTERM)
                jobs_when_drained = sharder.stats.replicas[0].jobs
            if len(order) == 150:
                victim.send_signal(signal.SIGKILL)
        events[job_id].append(event)
    assert_each_job_once(events, order, 300)
    assert not any(isinstance(e, patchbay.PatchbayError) for got in events.values() for e in got)
    drained, killed, survivor = sharder.stats.replicas
    assert not drained.serving and not killed.alive and survivor.alive, sharder.stats.replicas
    # Jobs sent before the health watch reported NOT_SERVING may still have reached the draining replica.
    assert drained.jobs <= jobs_when_drained + 2 * patchbay.replicas.DEFAULT_WINDOW, sharder.stats.replicas
    assert sum(r.jobs for r in sharder.stats.replicas) == 300 + sharder.stats.resubmitted
    # A JVM ended by SIGTERM exits with 143 once its shutdown hook (the drain) has run.
    assert draining.wait(timeout=60) in (0, 143)
