# mig-replay recipes. `just` is optional: every recipe is a plain cargo command (see README).

default:
    @just --list

# The main job: the whole comparison, report in reports/bench-all/.
bench-all:
    cargo run --release -- bench-all

# One replay of a small shipped trace, with its per-query output.
quickstart:
    cargo run --release -- run --trace traces/quickstart.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 2 --policy paris+elsa --sla-ms 60 --out reports/quickstart

# The CI matrix and the regression gate against the committed baseline.
gate:
    cargo run --release -- sweep --config experiments/ci.toml --out reports/ci
    cargo run --release -- compare experiments/baselines/ci reports/ci

# The timings docs/performance.md quotes (cold builds, bench-all, the tests), with the machine they were measured on: several minutes.
timings:
    bash benches/timings.sh

# The tests (what CI runs).
test:
    cargo test

# fmt + clippy, as CI checks them.
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# The LLM replay against the two shipped REAL vLLM runs (Llama-3.1-8B, Qwen3-32B on RTX PRO 6000): TTFT, TPOT and E2E beside the real run's and LLMServingSim's; exit 1 if a target is missed.
validate-llm:
    cargo run --release -- validate-llm traces/sources/llmservingsim/RTXPRO6000/Llama-3.1-8B traces/sources/llmservingsim/RTXPRO6000/Qwen3-32B --profiles profiles/llm.toml --require

# LLM replay speed: each shipped 300-request vLLM run end to end, and one million generated Azure-conversation-like requests on 8 A100-80GB replicas (Llama-3.1-8B, BLIS's step model): wall time, peak RSS, steps/s and simulated tokens/s.
bench-llm:
    cargo build --release
    mkdir -p reports/bench-llm
    /usr/bin/time -f "300 requests, Llama-3.1-8B (1 x RTX PRO 6000): wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace traces/vllm-llama-3.1-8b.parquet --profiles profiles/llm.toml --gpu RTXPRO6000 --gpus 1 --policy fcfs --param llm.max_num_seqs=128 --param llm.max_num_batched_tokens=2048 --out reports/bench-llm/llama
    /usr/bin/time -f "300 requests, Qwen3-32B (2 x RTX PRO 6000, tp 2): wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace traces/vllm-qwen3-32b.parquet --profiles profiles/llm.toml --gpu RTXPRO6000 --gpus 2 --policy fcfs --param llm.max_num_seqs=128 --param llm.max_num_batched_tokens=2048 --out reports/bench-llm/qwen
    ./target/release/mig-replay trace gen --llm --rate 60 --queries 1000000 --model llama-3.1-8b-instruct --seed 1 --out reports/bench-llm/azure-like-1m.parquet
    /usr/bin/time -f "1M requests on 8 x A100-80GB: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-llm/azure-like-1m.parquet --profiles profiles/llm.toml --gpu A100-80GB --gpus 8 --policy fcfs --out reports/bench-llm/1m

# The independent Python reference of the LLM replica (benches/reference_llm.py, standard library only): its hand-computed cases and tests, and that the fixtures under tests/fixtures/llm/ are its output.
reference-llm:
    python3 -m unittest discover -s benches -p 'test_reference_llm.py'

# Event-loop benchmark (cargo bench), end-to-end `run` on 1M queries (3 policies in memory, and fcfs streamed), wall time and peak RSS, the Python reference side by side (the 100M-query run is `just bench-100m`, 5 GB of disk; memory per query `just bench-stream`; a billion queries `just bench-1b`).
bench-core:
    cargo bench --bench core
    cargo build --release
    mkdir -p reports/bench-core
    # 1M resnet50 queries at 1000 q/s: about 76% load on 8 A100-80GB under fcfs.
    ./target/release/mig-replay trace gen --rate 1000 --queries 1000000 --model resnet50 --batch-mu 1.5 --batch-sigma 0.8 --max-batch 64 --seed 1 --out reports/bench-core/trace-1m.parquet
    rm -rf reports/bench-core/fcfs reports/bench-core/homogeneous-1g reports/bench-core/paris-elsa
    /usr/bin/time -f "1M fcfs: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-core/trace-1m.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --policy fcfs --in-memory --out reports/bench-core/fcfs
    /usr/bin/time -f "1M homogeneous 1g: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-core/trace-1m.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --policy homogeneous --slice 1g.10gb --in-memory --out reports/bench-core/homogeneous-1g
    /usr/bin/time -f "1M paris+elsa: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-core/trace-1m.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --policy paris+elsa --in-memory --out reports/bench-core/paris-elsa
    rm -rf reports/bench-core/fcfs-stream
    /usr/bin/time -f "1M fcfs --stream: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-core/trace-1m.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --policy fcfs --stream --quiet --out reports/bench-core/fcfs-stream
    cmp reports/bench-core/fcfs/queries.parquet reports/bench-core/fcfs-stream/queries.parquet && cmp reports/bench-core/fcfs/summary.json reports/bench-core/fcfs-stream/summary.json && echo "1M fcfs: --stream wrote the same bytes"
    # The pure-Python FCFS reference on the same trace (needs pyarrow; skipped without it).
    if python3 -c "import pyarrow" 2>/dev/null; then /usr/bin/time -f "Python reference, 1M fcfs: wall %e s, peak RSS %M KB" python3 benches/reference_fcfs.py reports/bench-core/trace-1m.parquet profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --check reports/bench-core/fcfs/queries.parquet; else echo "no pyarrow: the Python reference is skipped (pip install pyarrow)"; fi
    # peak (latency-bounded throughput) of one policy on a 100k-query trace.
    /usr/bin/time -f "peak paris+elsa on 100k queries: wall %e s" ./target/release/mig-replay peak --trace traces/paper-resnet50.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --policy paris+elsa --sla-ms 53.61

# The fuzz harness (tests/fuzz/): 100,000 seeded, structure-aware mutated inputs through every reader and command, in a release build (about 5 minutes); `cargo test` runs a 600-input slice. FUZZ_SEED, FUZZ_ONLY=target, FUZZ_CASE=i replay one input.
fuzz inputs="100000" seed="1":
    FUZZ_INPUTS={{inputs}} FUZZ_SEED={{seed}} cargo test --release --test fuzz

# The reconfigurable server: static vs periodic/threshold/oracle repartitioners at reconfiguration costs 0-60 s on time-varying traces, five seeds each drawing the traces anew (minutes: 657 s measured on a busy 2-core VM).
bench-reconfig:
    cargo run --release -- sweep --config experiments/reconfig.toml --out reports/reconfig

# The paper workloads on 8 GPUs of each kind (A100-80GB measured; H100, H200, A30 modeled): fcfs vs paris+elsa.
bench-gpu-kinds:
    cargo build --release
    for k in a100-80gb h100-80gb h200-141gb a30-24gb; do ./target/release/mig-replay sweep --config experiments/gpu-kinds/$k.toml --out reports/gpu-kinds/$k; done

# Capacity planning: GPUs needed per policy and GPU kind for the three paper traces at their shipped rates (plan.json and gpus-needed.png under reports/plan/). Each plan exits 1 because no A30 count can meet these SLAs ('-': the recipe goes on).
plan-paper:
    cargo build --release
    -./target/release/mig-replay plan --trace traces/paper-resnet50.parquet --profiles profiles/a100-80gb.parquet --profiles profiles/h100-80gb.parquet --profiles profiles/a30-24gb.parquet --gpu A100-80GB --gpu H100-80GB --gpu A30-24GB --policy fcfs --policy paris+fifo --policy paris+elsa --sla-ms 53.61 --out reports/plan/paper-resnet50
    -./target/release/mig-replay plan --trace traces/paper-bert-base.parquet --profiles profiles/a100-80gb.parquet --profiles profiles/h100-80gb.parquet --profiles profiles/a30-24gb.parquet --gpu A100-80GB --gpu H100-80GB --gpu A30-24GB --policy fcfs --policy paris+fifo --policy paris+elsa --sla-ms 120.26 --out reports/plan/paper-bert-base
    -./target/release/mig-replay plan --trace traces/paper-mobilenet-v2.parquet --profiles profiles/a100-80gb.parquet --profiles profiles/h100-80gb.parquet --profiles profiles/a30-24gb.parquet --gpu A100-80GB --gpu H100-80GB --gpu A30-24GB --policy fcfs --policy paris+fifo --policy paris+elsa --sla-ms 26.525 --out reports/plan/paper-mobilenet-v2

# PARIS's exact packing from 8 to 100,000 GPUs: worst time, nodes, proofs, and what the local search alone misses.
bench-packing:
    cargo bench --bench packing

# Needs `pip install pyarrow`.
# The pure-Python FCFS reference side by side with `run` on bench-core's 1M trace, checking every start and finish to the ns.
bench-reference:
    cargo build --release
    mkdir -p reports/bench-core
    ./target/release/mig-replay trace gen --rate 1000 --queries 1000000 --model resnet50 --batch-mu 1.5 --batch-sigma 0.8 --max-batch 64 --seed 1 --out reports/bench-core/trace-1m.parquet
    rm -rf reports/bench-core/fcfs
    /usr/bin/time -f "mig-replay run, 1M fcfs: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-core/trace-1m.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --policy fcfs --out reports/bench-core/fcfs
    python3 benches/reference_fcfs.py reports/bench-core/trace-1m.parquet profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --check reports/bench-core/fcfs/queries.parquet

# Streamed replay: peak RSS of `run` and `run --stream` at 10M and 100M queries (fcfs, 800 A100-80GB, 100k q/s, queries.parquet written), the marginal bytes per query, and a byte comparison of both modes' outputs (about 5 GB of disk, 3 minutes).
bench-stream:
    cargo build --release
    bash benches/stream_memory.sh

# One billion queries streamed: fcfs on 800 A100-80GB at 100k q/s (a stable load). The trace is 1.6 GB; queries.parquet 22 GB and 16 GB of spill while it runs (about 45 GB of disk, 10 minutes).
bench-1b:
    cargo build --release
    mkdir -p reports/bench-1b
    /usr/bin/time -f "trace gen 1B (streamed): wall %e s, peak RSS %M KB" ./target/release/mig-replay trace gen --rate 100000 --queries 1000000000 --model resnet50 --batch-mu 1.5 --batch-sigma 0.8 --max-batch 64 --seed 1 --stream --out reports/bench-1b/trace.parquet
    rm -rf reports/bench-1b/fcfs
    /usr/bin/time -f "run --stream 1B fcfs: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-1b/trace.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 800 --policy fcfs --stream --out reports/bench-1b/fcfs
    ls -l reports/bench-1b/fcfs

# 100M queries (100,000 q/s on 800 A100-80GB under fcfs): about 5 GB of disk, a minute of wall time.
bench-100m:
    cargo build --release
    mkdir -p reports/bench-core
    ./target/release/mig-replay trace gen --rate 100000 --queries 100000000 --model resnet50 --batch-mu 1.5 --batch-sigma 0.8 --max-batch 64 --seed 1 --out reports/bench-core/trace-100m.parquet
    rm -rf reports/bench-core/fcfs-100m
    /usr/bin/time -f "100M fcfs: wall %e s, peak RSS %M KB" ./target/release/mig-replay run --trace reports/bench-core/trace-100m.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 800 --policy fcfs --in-memory --out reports/bench-core/fcfs-100m
    rm -f reports/bench-core/trace-100m.parquet

# Rebuild profiles/llm.toml (LLM profiles) from profiles/sources/llm/: the `profile import` commands are in the script; tests/llm_profiles.rs checks that it gives the committed file.
llm-profiles:
    cargo build --release
    MIG_REPLAY=./target/release/mig-replay bash profiles/sources/llm/rebuild.sh profiles/llm.toml
