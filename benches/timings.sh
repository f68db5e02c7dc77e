#!/usr/bin/env bash
# The timings docs/performance.md quotes, measured on this machine: a cold release build (in its
# own target folder), the main command (`bench-all`), a cold test build and the test run. Prints
# them with the machine they were measured on, and writes the same to reports/timings.txt.
# Takes several minutes (two cold builds). Run: `just timings` or `bash benches/timings.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports
out=reports/timings.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
secs() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f", b - a }'; }
{
  echo "measured $(date -u +%Y-%m-%d) on $(uname -m), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(rustc --version)"
  t=$(secs); cargo build --release --locked --quiet --target-dir "$tmp/release"
  echo "cold release build (cargo build --release --locked): $(since "$t") s"
  t=$(secs); "$tmp/release/release/mig-replay" bench-all --out "$tmp/bench-all" > "$tmp/bench-all.log"
  echo "bench-all (the main command, built): $(since "$t") s; $(tail -1 "$tmp/bench-all.log" | cut -d';' -f1)"
  t=$(secs); cargo test --locked --no-run --quiet --target-dir "$tmp/debug" 2> /dev/null
  echo "cold test build (cargo test --no-run): $(since "$t") s"
  t=$(secs); cargo test --locked --quiet --target-dir "$tmp/debug" > "$tmp/test.log" 2>&1
  echo "test run (cargo test, built): $(since "$t") s, $(grep -o '[0-9]* passed' "$tmp/test.log" | awk '{n += $1} END {print n}') tests"
} | tee "$out"
