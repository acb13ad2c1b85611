#!/usr/bin/env python3
"""Where a JVM's threads spent their time, from Flight Recorder samples printed by `jfr print --json`: the share of
samples in native code against Java code, and the top frames of each. The GPU check runs it on the narrow bench
to say whether the host's time goes to libtorch calls (kernel launches, copies, waits) or to Java around them.

Usage: jfr_top.py NATIVE_SAMPLES.json EXECUTION_SAMPLES.json
"""
import collections
import json
import sys


def top_frames(path: str) -> collections.Counter:
    with open(path) as f:
        events = json.load(f)["recording"]["events"]
    frames: collections.Counter = collections.Counter()
    for event in events:
        stack = event["values"].get("stackTrace") or {}
        calls = stack.get("frames") or []
        # Only Patchbay's work: not the threads that wait (the benchmark waiting for the Python reference, gRPC).
        if calls and any(c["method"]["type"]["name"].startswith("dev/patchbay/") for c in calls):
            method = calls[0]["method"]
            frames[method["type"]["name"] + "." + method["name"]] += 1
    return frames


def main() -> None:
    native, java = top_frames(sys.argv[1]), top_frames(sys.argv[2])
    total = sum(native.values()) + sum(java.values())
    if total == 0:
        print("Flight Recorder: no samples")
        return
    print(f"host threads doing Patchbay's work, {total} samples: {100 * sum(native.values()) / total:.0f}% in native calls,"
          f" {100 * sum(java.values()) / total:.0f}% in Java")
    for label, frames in (("native", native), ("Java", java)):
        for name, count in frames.most_common(8):
            print(f"  {label:6s} {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
