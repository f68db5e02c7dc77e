#!/usr/bin/env bash
# Rebuild profiles/llm.toml from the sources in this folder: one `profile import` per row, in
# this order. Usage: bash profiles/sources/llm/rebuild.sh [OUT] (default profiles/llm.toml);
# MIG_REPLAY names the binary (default: cargo run --release --). tests/llm_profiles.rs runs it
# and checks that it writes the committed file byte for byte.
set -euo pipefail
OUT=${1:-profiles/llm.toml}
MR=${MIG_REPLAY:-cargo run --quiet --release --}
L=profiles/sources/llm
LSS="MIT, casys-kaist/LLMServingSim@5daddb2"
BLIS="Apache-2.0, inference-sim/inference-sim@b563c44"
rm -f "$OUT"
# RTX PRO 6000 Blackwell (96 GiB per GPU, as LLMServingSim's cluster config of the runs says).
$MR profile import llmservingsim $L/llmservingsim/RTXPRO6000/Llama-3.1-8B/profile \
  --model-config $L/llmservingsim/model-configs/Llama-3.1-8B.json --tp 1 \
  --gpu-memory-gib 96 --attribution "$LSS" --out "$OUT"
# Qwen3-32B at TP 2: the tables hold no communication; the all-reduce follows the link of
# LLMServingSim's cluster config for this run (link_bw 16 GB/s, link_latency 20000 ns).
$MR profile import llmservingsim $L/llmservingsim/RTXPRO6000/Qwen3-32B/profile \
  --model-config $L/llmservingsim/model-configs/Qwen3-32B.json --tp 2 \
  --gpu-memory-gib 96 --allreduce-latency-us 20 --allreduce-gbps 16 \
  --attribution "$LSS" --out "$OUT"
# BLIS: every tp-1 entry of A100-80GB and H100 whose model has a config.json.
for gm in A100-80GB:llama-3.1-8b-instruct A100-80GB:qwen2.5-7b-instruct \
  H100-80GB:llama-3.1-8b-instruct H100-80GB:qwen2.5-7b-instruct H100-80GB:qwen3-14b; do
  $MR profile import blis $L/blis/defaults-b563c44.yaml --gpu "${gm%%:*}" --model "${gm#*:}" \
    --tp 1 --attribution "$BLIS" --out "$OUT"
done
