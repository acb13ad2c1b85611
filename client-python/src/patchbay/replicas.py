"""Sweeps over many Patchbay replicas: one Sweep stream per replica, jobs with the same clean prompt sent to the
same replica (so its cache of clean activations serves them), and no job lost or delivered twice when a replica
dies or drains.

Plain calls need none of this: ``Client("dns:///patchbay:50051")`` (or ``"ipv4:10.0.0.1:50051,10.0.0.2:50051"``)
already spreads them round-robin over the replicas that report SERVING, with gRPC's own balancing and health
checking. A sweep is one long stream, which a balancer would pin to one replica; this sharder keeps one per
replica instead.
"""

from __future__ import annotations

import hashlib
import queue
import socket
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .client import Client, PatchbayError, _sweep_event, _sweep_job
from .events import Summary
from .v1 import patchbay_pb2

#: Jobs in flight on one replica at a time: enough to keep its device batching, few enough that a lost replica
#: has little to redo.
DEFAULT_WINDOW = 4


@dataclass
class ReplicaStats:
    """What one replica did in a sweep."""

    address: str
    jobs: int = 0
    resubmitted_from: int = 0
    alive: bool = True
    serving: bool = True


@dataclass
class SweepStats:
    """A sharded sweep's counters: jobs per replica, jobs moved off a failed replica, clean-cache use."""

    replicas: list[ReplicaStats] = field(default_factory=list)
    resubmitted: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else 0.0


def resolve(target: str | Sequence[str]) -> list[str]:
    """The replicas' "host:port" addresses: a list as given, or a ``dns:///name:port`` (or ``name:port``) name's
    every address, as a Kubernetes headless service resolves to one per pod."""
    if not isinstance(target, str):
        addresses = list(target)
        if not addresses:
            raise ValueError("replicas: at least one host:port")
        return addresses
    name = target.removeprefix("dns:///")
    host, sep, port = name.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"replicas: {target!r} is not host:port or dns:///host:port")
    infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    seen: list[str] = []
    for family, _, _, _, address in infos:
        text = f"[{address[0]}]:{port}" if family == socket.AF_INET6 else f"{address[0]}:{port}"
        if text not in seen:
            seen.append(text)
    return seen


def affinity_key(job: dict) -> bytes:
    """What decides a job's replica: its pairs' clean prompts (text or token ids), as the server's cache keys; a
    generation's prompts."""
    sweep = _sweep_job("", job)
    request = getattr(sweep, sweep.WhichOneof("request"))
    if hasattr(request, "pairs"):
        return b"".join(pair.clean.SerializeToString(deterministic=True) for pair in request.pairs)
    return b"".join(prompt.SerializeToString(deterministic=True) for prompt in request.prompts)


class _Replica:
    """One replica: its channel, its Sweep stream fed from a queue, and a watch on its health."""

    def __init__(self, address: str, events: queue.Queue, client_options: dict):
        self.stats = ReplicaStats(address)
        self.in_flight: dict[str, tuple[dict, bytes]] = {}
        self.client = Client(address, **client_options)
        self._requests: queue.Queue = queue.Queue()
        self._events = events
        self._stream = None
        self._finished = False
        for work in (self._read, self._watch_health):
            threading.Thread(target=work, daemon=True).start()

    def usable(self) -> bool:
        return self.stats.alive and self.stats.serving and not self._finished

    def send(self, job_id: str, job: dict, key: bytes) -> None:
        self.in_flight[job_id] = (job, key)
        self.stats.jobs += 1
        self._requests.put(_sweep_job(job_id, job))

    def finish(self) -> None:
        """Half-closes the stream: the replica ends it once its jobs are done, and gets no job after this."""
        self._finished = True
        self._requests.put(None)

    def close(self) -> None:
        self.finish()
        if self._stream is not None:
            self._stream.cancel()
        self.client.close()

    def _outgoing(self) -> Iterator[patchbay_pb2.SweepRequest]:
        while (request := self._requests.get()) is not None:
            yield request

    def _read(self) -> None:
        try:
            stream = self.client._stub.Sweep(self._outgoing(), metadata=self.client._metadata)
            self._stream = stream
            for event in stream:
                self._events.put((self, "event", event))
            self._events.put((self, "ended", None))
        except grpc.RpcError as e:
            self._events.put((self, "failed", PatchbayError.of(e)))

    def _watch_health(self) -> None:
        stub = health_pb2_grpc.HealthStub(self.client._channel)
        try:
            for reply in stub.Watch(health_pb2.HealthCheckRequest(service="")):
                serving = reply.status == health_pb2.HealthCheckResponse.SERVING
                self._events.put((self, "health", serving))
        except grpc.RpcError as e:
            # A server without the health service is taken as serving; a lost watch means a lost replica.
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                self._events.put((self, "health", False))


class Replicas:
    """Many Patchbay replicas behind one sweep:

        replicas = Replicas(["10.0.0.1:50051", "10.0.0.2:50051"])   # or "dns:///patchbay:50051"
        for job_id, event in replicas.sweep(jobs):
            ...
        print(replicas.stats.hit_rate)

    ``sweep`` takes and yields what ``Client.sweep`` does, with each job's events together, once the job is done.
    affinity: send jobs with the same clean prompts to the same replica (rendezvous hashing over the replicas in
    service, so losing one moves only its jobs), one such job at a time so the second finds the first's clean
    activations cached; False spreads jobs over the least busy replicas. A replica whose stream fails (it died) or
    whose health turns NOT_SERVING (it drains) gets no new job; the jobs it had not finished are sent to the
    others. credentials and token: as for ``Client``."""

    def __init__(self, replicas: str | Sequence[str], *, affinity: bool = True, window: int = DEFAULT_WINDOW,
                 credentials: grpc.ChannelCredentials | None = None, token: str | None = None):
        if window < 1:
            raise ValueError(f"window: at least 1 job in flight per replica, got {window}")
        self._addresses = resolve(replicas)
        self._affinity = affinity
        self._window = window
        self._options = {"credentials": credentials, "token": token}
        self.stats = SweepStats()

    def sweep(self, jobs: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, object]]:
        events: queue.Queue = queue.Queue()
        replicas = [_Replica(a, events, self._options) for a in self._addresses]
        self.stats = SweepStats(replicas=[r.stats for r in replicas])
        pending: deque[tuple[str, dict, bytes]] = deque()
        ids: set[str] = set()
        for job_id, job in jobs:
            if job_id in ids:
                raise ValueError(f"jobs: job id {job_id!r} appears twice")
            ids.add(job_id)
            pending.append((job_id, job, affinity_key(job) if self._affinity else b""))
        buffered: dict[str, list] = {}
        busy_keys: set[bytes] = set()
        done: set[str] = set()
        try:
            while len(done) < len(ids):
                self._dispatch(replicas, pending, busy_keys)
                if not any(r.stats.alive for r in replicas):
                    raise PatchbayError(grpc.StatusCode.UNAVAILABLE,
                                        f"no replica left in service; {len(ids) - len(done)} jobs unfinished")
                replica, kind, payload = events.get()
                if kind == "event":
                    yield from self._on_event(replica, payload, buffered, busy_keys, done, pending)
                elif kind == "health":
                    replica.stats.serving = payload
                    if not payload and not replica.in_flight:
                        replica.finish()
                elif replica.stats.alive:  # its stream ended or failed: whatever it had not finished moves on
                    replica.stats.alive = False
                    self._requeue(replica, buffered, busy_keys, pending)
        finally:
            for r in replicas:
                r.close()

    def _dispatch(self, replicas: list[_Replica], pending: deque, busy_keys: set[bytes]) -> None:
        usable = [r for r in replicas if r.usable()]
        if not usable:
            return
        skipped: list[tuple[str, dict, bytes]] = []
        # Bounded look-ahead past jobs that must wait (their replica full, or their clean prompt in flight).
        look = 0
        while pending and look < 4096 and any(len(r.in_flight) < self._window for r in usable):
            job_id, job, key = pending.popleft()
            look += 1
            if self._affinity:
                target = max(usable, key=lambda r: _weight(r.stats.address, key))
                if key in busy_keys or len(target.in_flight) >= self._window:
                    skipped.append((job_id, job, key))
                    continue
                busy_keys.add(key)
            else:
                target = min(usable, key=lambda r: len(r.in_flight))
            target.send(job_id, job, key)
        pending.extendleft(reversed(skipped))

    def _on_event(self, replica: _Replica, event, buffered: dict, busy_keys: set[bytes], done: set[str],
                  pending: deque) -> Iterator[tuple[str, object]]:
        job_id, converted = _sweep_event(event)
        if job_id in done or job_id not in replica.in_flight:
            return  # a late event of a job already moved elsewhere
        if isinstance(converted, PatchbayError) and converted.code == grpc.StatusCode.UNAVAILABLE:
            # The replica is shutting down: the job runs again elsewhere.
            job, key = replica.in_flight.pop(job_id)
            buffered.pop(job_id, None)
            busy_keys.discard(key)
            pending.appendleft((job_id, job, key))
            self.stats.resubmitted += 1
            replica.stats.resubmitted_from += 1
            return
        buffered.setdefault(job_id, []).append(converted)
        final = isinstance(converted, PatchbayError) or event.attribute.WhichOneof("event") == "summary"
        if not final:
            return
        _, key = replica.in_flight.pop(job_id)
        busy_keys.discard(key)
        done.add(job_id)
        if isinstance(converted, Summary):
            self.stats.cache_hits += converted.cache_hits
            self.stats.cache_misses += converted.cache_misses
        if not replica.stats.serving and not replica.in_flight:
            replica.finish()
        for e in buffered.pop(job_id):
            yield job_id, e

    def _requeue(self, replica: _Replica, buffered: dict, busy_keys: set[bytes], pending: deque) -> None:
        for job_id, (job, key) in reversed(list(replica.in_flight.items())):
            buffered.pop(job_id, None)
            busy_keys.discard(key)
            pending.appendleft((job_id, job, key))
            self.stats.resubmitted += 1
            replica.stats.resubmitted_from += 1
        replica.in_flight.clear()



def _weight(address: str, key: bytes) -> int:
    """Rendezvous (highest random weight) hashing: each key goes to the replica with the highest weight."""
    return int.from_bytes(hashlib.blake2b(address.encode() + b"\0" + key, digest_size=8).digest(), "big")
