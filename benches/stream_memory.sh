#!/usr/bin/env bash
# Marginal memory per query of `run --in-memory` and `run --stream`: fcfs on 800 A100-80GB at
# 100,000 q/s (a stable load, about 76%), 10M and 100M queries, queries.parquet written.
# Prints wall time and peak RSS of each run and the marginal bytes per query between the two
# sizes, and checks both modes wrote the same bytes. Needs about 5 GB of disk under
# reports/bench-stream (removed as it goes) and 4.5 GB of memory (the in-memory 100M run).
set -euo pipefail
B=./target/release/mig-replay
D=reports/bench-stream
mkdir -p "$D"
declare -A rss
for n in 10000000 100000000; do
  "$B" trace gen --rate 100000 --queries "$n" --model resnet50 --batch-mu 1.5 --batch-sigma 0.8 \
    --max-batch 64 --seed 1 --stream --out "$D/trace.parquet" > /dev/null
  for mode in memory stream; do
    flag="--in-memory"
    [ "$mode" = stream ] && flag="--stream"
    rm -rf "$D/$mode"
    /usr/bin/time -f "%e %M" -o "$D/time.txt" "$B" run --trace "$D/trace.parquet" \
      --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 800 --policy fcfs \
      --quiet $flag --out "$D/$mode"
    read -r wall kb < "$D/time.txt"
    size=$(stat -c %s "$D/$mode/queries.parquet")
    rss[$mode-$n]=$kb
    printf '%-7s %11d queries: wall %7.2f s, peak RSS %8.1f MB, queries.parquet %6.2f GB\n' \
      "$mode" "$n" "$wall" "$(echo "$kb / 1024" | bc -l)" "$(echo "$size / 10^9" | bc -l)"
  done
  cmp "$D/memory/queries.parquet" "$D/stream/queries.parquet"
  cmp "$D/memory/summary.json" "$D/stream/summary.json"
  echo "$n queries: queries.parquet and summary.json identical in memory and streamed"
  rm -rf "$D/memory" "$D/stream"
done
for mode in memory stream; do
  printf 'marginal peak RSS, %-6s: %6.2f bytes/query (10M -> 100M)\n' "$mode" \
    "$(echo "(${rss[$mode-100000000]} - ${rss[$mode-10000000]}) * 1024 / 90000000" | bc -l)"
done
rm -f "$D/trace.parquet" "$D/time.txt"
