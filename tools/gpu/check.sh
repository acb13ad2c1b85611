#!/usr/bin/env bash
# The GPU check, in one go on a machine with an NVIDIA GPU, a CUDA build of PyTorch for python3, g++ and no Java:
# builds DJL's JNI against that PyTorch, runs Patchbay on cuda and on the same machine's CPU, compares logits and
# AtP* effects, measures fp16 and bf16 against fp32 on the GPU, and benchmarks (the GPT-2 shape beside plain
# PyTorch, the 1B Llama shape, and edge attribution); the report goes to $OUT (default gpu-report/).
# PARTS="parity" (or "bench", "service", "narrow", "llama", "edges", "generation", "memory", any of them) runs a part
# alone, for calls with a time limit.
#
# It needs the folder that tools/gpu/make-carry.sh prepares (default gpu-carry/, or PATCHBAY_GPU_CARRY): a Java
# runtime and the jar without CPU natives (bundle.tar.xz), the bundled model, DJL's native sources and JNI headers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
carry=${PATCHBAY_GPU_CARRY:-$root/gpu-carry}
out=${OUT:-$root/gpu-report}
mkdir -p "$out"
work=$(mktemp -d)
start=$(date +%s)
tar -xJf "$carry/bundle.tar.xz" -C "$work"
java="$work/rt0/bin/java"
jar="$work/stored.jar"

read -r torch_dir torch_version cuda site < <(python3 -c '
import os, torch
print(os.path.dirname(torch.__file__), torch.__version__.split("+")[0], (torch.version.cuda or "none").replace(".", ""),
      os.path.dirname(os.path.dirname(torch.__file__)))')
if [ "$cuda" = none ]; then echo "python3's torch is a CPU build: nothing to check" >&2; exit 1; fi
flavor="cu${cuda}"
export DJL_CACHE_DIR="$work/djl-cache-gpu" # a cache of its own: DJL's tokenizer cache mixes CPU and GPU otherwise
lib="$DJL_CACHE_DIR/pytorch/${torch_version}-${flavor}-linux-x86_64/0.35.1-libdjl_torch.so"
bash "$here/build-jni.sh" "$carry/djl" "$carry/jni-include" "$lib" > "$out/build-jni.log" 2>&1 \
  || { tail -30 "$out/build-jni.log"; exit 1; }
echo "JNI built in $(( $(date +%s) - start )) s" | tee "$out/report.txt"
export PYTORCH_LIBRARY_PATH="$torch_dir/lib" PYTORCH_VERSION="$torch_version" PYTORCH_FLAVOR="$flavor"
# DJL uses the GPU only when JNA loads libcudart. pip's layout names it libcudart.so.N under nvidia/, and JNA
# tries the bare name libcudart.so first, which finds a system CUDA toolkit's runtime (another CUDA version, so
# DJL counts 0 GPUs): offer torch's own runtime under the bare name in a directory of its own.
cudart="$work/cudart"
mkdir -p "$cudart"
ln -s "$(find "$site/nvidia" -name 'libcudart.so*' | head -1)" "$cudart/libcudart.so"
run() { "$java" -Djna.library.path="$cudart" -Dai.djl.offline=true -jar "$jar" "$@"; }

# PARTS picks what runs (default all of them), so that the check can be split over calls with a time limit:
# parity (cuda against cpu, and fp16/bf16 against fp32), bench (the GPT-2 shape beside plain PyTorch), service (the
# same through gRPC), narrow (the
# per-op cost beside plain PyTorch's), llama (the 1B Llama shape), edges (EAP and AtP* on edges, cuda against cpu, and bench --section edges), generation (greedy
# generation with an intervention, cuda against cpu, and bench --section generation), memory (bench --section
# memory-sweep on cuda, each point's peak GPU memory sampled by nvidia-smi, beside the memory model's estimate; the
# node methods unless MEMORY_METHODS names others, e.g. 'EAP;edge' for the edge methods).
parts=" ${PARTS:-parity bench service narrow llama edges generation memory} "
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/report.txt"
if [[ "$parts" == *" parity "* ]]; then
  model="$carry/model"
  clean="When Mary and John went to the store, John gave a drink to"
  noise="When Mary and John went to the store, Mary gave a drink to"
  for device in cuda cpu; do
    run logits --model "$model" --text "$clean" --json --device "$device" > "$out/logits-$device.json"
    for dtype in fp32 fp64; do
      run attribute --model "$model" --clean "$clean" --noise "$noise" --answer " Mary" --wrong " John" \
        --method atp-star --nodes all --json --device "$device" --dtype "$dtype" > "$out/atp-star-$device-$dtype.json"
    done
  done
  # Half precision against fp32, on the GPU (bf16 runs only there): logits and each method over every node kind.
  for dtype in fp32 fp16 bf16; do
    run logits --model "$model" --text "$clean" --json --device cuda --dtype "$dtype" > "$out/logits-cuda-$dtype.json"
    for method in atp atp-star ap; do
      nodes=all
      [ "$method" = ap ] && nodes=attention  # one patched run per node: the attention nodes keep it to seconds
      run attribute --model "$model" --clean "$clean" --noise "$noise" --answer " Mary" --wrong " John" \
        --method "$method" --nodes "$nodes" --json --device cuda --dtype "$dtype" > "$out/$method-cuda-$dtype.json"
    done
  done
  python3 - "$out" <<'PY' | tee -a "$out/report.txt"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def load(name): return json.loads((out / name).read_text())
a, b = load("logits-cuda.json")["logits"], load("logits-cpu.json")["logits"]
print(f"logits, cuda vs cpu (fp32): max |diff| {max(abs(x - y) for x, y in zip(a, b)):.3g} over {len(a)}")
for dtype in ("fp32", "fp64"):
    g, c = load(f"atp-star-cuda-{dtype}.json")["effects"], load(f"atp-star-cpu-{dtype}.json")["effects"]
    print(f"AtP* ({dtype}), cuda vs cpu: {len(c)} effects, max |diff| {max(abs(g[k] - c[k]) for k in c):.3g},"
          f" largest |effect| {max(abs(v) for v in c.values()):.3g}")
def relative(ref, other):
    return max(abs(r - o) for r, o in zip(ref, other)) / max(abs(r) for r in ref)
for dtype in ("fp16", "bf16"):
    parts = [f"logits {relative(load('logits-cuda-fp32.json')['logits'], load(f'logits-cuda-{dtype}.json')['logits']):.2g}"]
    for method in ("atp", "atp-star", "ap"):
        ref, half = load(f"{method}-cuda-fp32.json")["effects"], load(f"{method}-cuda-{dtype}.json")["effects"]
        parts.append(f"{method} {relative([ref[k] for k in ref], [half[k] for k in ref]):.2g}")
    print(f"{dtype} vs fp32 on cuda (max error / max magnitude): " + ", ".join(parts))
PY
fi
if [[ "$parts" == *" bench "* ]]; then
  # The methods beside plain PyTorch + transformers on the same GPU (tools/torch_reference.py, run by python3),
  # with the GPU's utilisation sampled every second meanwhile.
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -l 1 > "$out/utilisation.txt" 2>/dev/null &
  sampler=$!
  PATCHBAY_REFERENCE_PYTHON=python3 timeout "${BENCH_SECONDS:-300}" "$java" -Djna.library.path="$cudart" -Dai.djl.offline=true \
    -Dpatchbay.home="$root" -jar "$jar" \
    bench --device cuda --section reference --repeats 3 --pairs 256 --out "$out/bench-cuda.json" \
    > "$out/bench-cuda.txt" 2>&1 \
    || echo "bench did not finish in ${BENCH_SECONDS:-300} s" >> "$out/report.txt"
  kill "$sampler" 2>/dev/null || true
  cat "$out/bench-cuda.txt" >> "$out/report.txt"
  awk '{ n++; sum += $1; if ($1 > max) max = $1 } END { if (n) printf "GPU utilisation during the bench: mean %.0f%%, max %d%% over %d s\n", sum / n, max, n }' \
    "$out/utilisation.txt" | tee -a "$out/report.txt"
fi
if [[ "$parts" == *" service "* ]]; then
  # Through gRPC on the GPU: AtP* served against in-process, concurrent clients, the clean cache, and a sweep of 64
  # single-pair jobs (every pair's per-position effects returned, 9.7 MB of protobuf each) on one Sweep stream
  # against the same in-process.
  # The Python client rows say "not measured" where python3 lacks grpcio.
  timeout "${SERVICE_SECONDS:-200}" "$java" -Djna.library.path="$cudart" -Dai.djl.offline=true \
    -Dpatchbay.home="$root" -jar "$jar" bench --device cuda --section service --repeats 3 --pairs 64 \
    --out "$out/bench-cuda-service.json" > "$out/bench-cuda-service.txt" 2>&1 \
    || echo "the service bench did not finish in ${SERVICE_SECONDS:-200} s" >> "$out/report.txt"
  cat "$out/bench-cuda-service.txt" >> "$out/report.txt"
fi
if [[ "$parts" == *" narrow "* ]]; then
  # GPT-2 small's ops at d_model 48 and 16 tokens, beside plain PyTorch on the same GPU: almost no arithmetic, so
  # both sides' times are the host's cost of issuing ops, with the ops each issues counted. Flight Recorder
  # samples where Patchbay's host threads spend that time (in which libtorch call, or in Java).
  PATCHBAY_REFERENCE_PYTHON=python3 timeout "${NARROW_SECONDS:-120}" "$java" -Djna.library.path="$cudart" \
    -Dai.djl.offline=true -Dpatchbay.home="$root" \
    -XX:StartFlightRecording=filename="$out/narrow.jfr",settings=profile -jar "$jar" \
    bench --device cuda --section reference --shape gpt2-narrow --tokens 16 --repeats 11 --pairs 64 \
    --out "$out/bench-cuda-narrow.json" > "$out/bench-cuda-narrow.txt" 2>&1 \
    || echo "the narrow bench did not finish in ${NARROW_SECONDS:-120} s" >> "$out/report.txt"
  cat "$out/bench-cuda-narrow.txt" >> "$out/report.txt"
  if [ -f "$out/narrow.jfr" ]; then
    for kind in NativeMethodSample ExecutionSample; do
      "$work/rt0/bin/jfr" print --json --events "jdk.$kind" "$out/narrow.jfr" > "$out/narrow-$kind.json" || true
    done
    python3 "$here/jfr_top.py" "$out/narrow-NativeMethodSample.json" "$out/narrow-ExecutionSample.json" \
      | tee -a "$out/report.txt" || true
  fi
fi
if [[ "$parts" == *" llama "* ]]; then
  # The 1B Llama shape (grouped-query attention, 512 heads) at 256 tokens; no plain PyTorch reference for it.
  timeout "${LLAMA_SECONDS:-200}" "$java" -Djna.library.path="$cudart" -Dai.djl.offline=true \
    -Dpatchbay.home="$root" -jar "$jar" bench --device cuda --section methods --shape llama-1b --tokens 256 \
    --repeats 3 --pairs 64 --out "$out/bench-cuda-llama.json" > "$out/bench-cuda-llama.txt" 2>&1 \
    || echo "the llama bench did not finish in ${LLAMA_SECONDS:-200} s" >> "$out/report.txt"
  cat "$out/bench-cuda-llama.txt" >> "$out/report.txt"
fi
if [[ "$parts" == *" edges "* ]]; then
  # Edge estimates on the GPU against the CPU (fp32), then the edge benchmark on the GPT-2-small shape.
  model="$carry/model"
  clean="When Mary and John went to the store, John gave a drink to"
  noise="When Mary and John went to the store, Mary gave a drink to"
  for device in cuda cpu; do
    for method in eap atp-star; do
      run attribute --edges --model "$model" --clean "$clean" --noise "$noise" --answer " Mary" --wrong " John" \
        --method "$method" --json --device "$device" > "$out/edges-$method-$device.json"
    done
  done
  python3 - "$out" <<'PY' | tee -a "$out/report.txt"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for method in ("eap", "atp-star"):
    g = json.loads((out / f"edges-{method}-cuda.json").read_text())["edges"]
    c = json.loads((out / f"edges-{method}-cpu.json").read_text())["edges"]
    print(f"{method} on edges, cuda vs cpu: {len(c)} edges, max |diff| {max(abs(g[k] - c[k]) for k in c):.3g},"
          f" largest |score| {max(abs(v) for v in c.values()):.3g}")
PY
  timeout "${EDGES_SECONDS:-200}" "$java" -Djna.library.path="$cudart" -Dai.djl.offline=true \
    -Dpatchbay.home="$root" -jar "$jar" bench --device cuda --section edges --repeats 3 \
    --out "$out/bench-cuda-edges.json" > "$out/bench-cuda-edges.txt" 2>&1 \
    || echo "the edge bench did not finish in ${EDGES_SECONDS:-200} s" >> "$out/report.txt"
  cat "$out/bench-cuda-edges.txt" >> "$out/report.txt"
fi
if [[ "$parts" == *" generation "* ]]; then
  # Greedy continuations with an intervention on the GPU against the CPU (the same tokens), then the generation
  # benchmark (decode with the KV cache against recompute, streams, intervention cost) on the GPT-2-small shape.
  model="$carry/model"
  for device in cuda cpu; do
    run generate --model "$model" --text "When Mary and John went to the store, John gave a drink to" \
      --max-new-tokens 8 --intervene "blocks.1.attn.hook_z[0] zero" --json --device "$device" \
      > "$out/generate-$device.json"
  done
  python3 - "$out" <<'PY' | tee -a "$out/report.txt"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
g, c = (json.loads((out / f"generate-{d}.json").read_text())["ids"] for d in ("cuda", "cpu"))
print(f"greedy generation with an intervention, cuda vs cpu: {'the same' if g == c else 'DIFFERENT'} tokens {g}")
PY
  timeout "${GENERATION_SECONDS:-200}" "$java" -Djna.library.path="$cudart" -Dai.djl.offline=true \
    -Dpatchbay.home="$root" -jar "$jar" bench --device cuda --section generation --repeats 3 \
    --out "$out/bench-cuda-generation.json" > "$out/bench-cuda-generation.txt" 2>&1 \
    || echo "the generation bench did not finish in ${GENERATION_SECONDS:-200} s" >> "$out/report.txt"
  cat "$out/bench-cuda-generation.txt" >> "$out/report.txt"
fi
if [[ "$parts" == *" memory "* ]]; then
  # Device memory, not the host's: nvidia-smi's used memory every 0.2 s, and each sweep point's line stamped as it
  # is printed; a point's peak is the largest sample since the point before it. PyTorch's caching allocator would
  # keep what a point freed and blur the next one's figure, so caching is off for this run.
  (while true; do echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)"
    sleep 0.2; done) > "$out/memory-samples.txt" &
  sampler=$!
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout "${MEMORY_SECONDS:-300}" "$java" -Djna.library.path="$cudart" \
    -Dai.djl.offline=true -Dpatchbay.home="$root" -jar "$jar" bench --device cuda --section memory-sweep \
    --tokens "${MEMORY_TOKENS:-8192}" --sweep-methods "${MEMORY_METHODS:-AtP}" --out "$out/bench-cuda-memory.json" 2>&1 \
    | while IFS= read -r line; do echo "$(date +%s.%N) $line"; done > "$out/bench-cuda-memory.txt" \
    || echo "the memory sweep did not finish in ${MEMORY_SECONDS:-300} s" >> "$out/report.txt"
  kill "$sampler" 2>/dev/null || true
  python3 - "$out" <<'PY' | tee -a "$out/report.txt"
import sys, pathlib
out = pathlib.Path(sys.argv[1])
samples = []
for line in (out / "memory-samples.txt").read_text().splitlines():
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        samples.append((float(parts[0]), int(parts[1])))
base = min((m for _, m in samples), default=0)
last = 0.0
for line in (out / "bench-cuda-memory.txt").read_text().splitlines():
    stamp, _, text = line.partition(" ")
    if "the memory model estimates" in text:  # the table at the end: measured beside estimated
        print("  " + text.strip())
    elif text.startswith("sweep: ") and text.endswith("GB above the model"):  # a point, as it was measured
        t = float(stamp)
        peak = max((m for s, m in samples if last <= s <= t), default=base)
        print(f"{text.split(': ', 1)[1].rsplit(':', 1)[0]}: GPU peak {(peak - base) * 1048576 / 1e9:.3f} GB above the idle"
              f" device (host figure: {text.rsplit(': ', 1)[1]})")
        last = t
PY
fi
echo "total $(( $(date +%s) - start )) s" | tee -a "$out/report.txt"

