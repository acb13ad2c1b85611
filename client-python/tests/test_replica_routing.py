"""The sharder's routing without a server: targets, affinity keys, and rendezvous hashing's stability."""
import pytest

import patchbay
from patchbay.replicas import _weight, affinity_key, resolve


def test_targets_resolve_to_every_address():
    assert resolve(["10.0.0.1:1", "10.0.0.2:2"]) == ["10.0.0.1:1", "10.0.0.2:2"]
    assert resolve("dns:///localhost:50051") == ["127.0.0.1:50051"] or "[::1]:50051" in resolve("localhost:50051")
    for bad in ("nohost", "dns:///x:port", []):
        with pytest.raises(ValueError, match="replicas"):
            resolve(bad)


def test_jobs_with_one_clean_prompt_share_a_key():
    def job(clean, noise):
        return dict(model="m", pairs=patchbay.Pair(clean, noise, answer=[1], wrong=[2]), method="atp")

    assert affinity_key(job([1, 2, 3], [4, 5, 6])) == affinity_key(job([1, 2, 3], [7, 8, 9]))
    assert affinity_key(job([1, 2, 3], [4, 5, 6])) != affinity_key(job([1, 2, 4], [4, 5, 6]))


def test_losing_a_replica_moves_only_its_own_keys():
    replicas = [f"10.0.0.{i}:50051" for i in range(5)]
    keys = [bytes([k, k // 7]) for k in range(200)]

    def owner(key, among):
        return max(among, key=lambda r: _weight(r, key))

    before = {k: owner(k, replicas) for k in keys}
    after = {k: owner(k, replicas[1:]) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert moved and all(before[k] == replicas[0] for k in moved)
    assert all(sum(v == r for v in before.values()) > 15 for r in replicas), "keys spread over every replica"
