#!/bin/bash
# Submit a sweep to Slurm as N shards: an array job for the peak searches, an array job for the
# offered loads that starts when every peak shard succeeded, then the merge, chained with
# --dependency=afterok. Prints the three job ids; the report lands in OUT.
#
#   deploy/slurm/submit.sh CONFIG N [OUT]
#
# Environment: MIG_REPLAY (the binary; default `mig-replay` on PATH), SBATCH_ARGS (extra sbatch
# options for every job, e.g. "--partition=cpu --cpus-per-task=8 --time=02:00:00").
# Run it from the directory the config's relative paths (profiles, traces) are relative to;
# OUT must be on a filesystem every node sees.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG N [OUT]" >&2
  exit 2
fi
CONFIG=$1
SHARDS=$2
OUT=${3:-reports/$(basename "$CONFIG" .toml)-sharded}
case $SHARDS in '' | *[!0-9]* | 0) echo "N must be a positive integer, got '$SHARDS'" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
MIG_REPLAY=${MIG_REPLAY:-mig-replay}
export CONFIG OUT SHARDS MIG_REPLAY
mkdir -p "$OUT/logs"
# shellcheck disable=SC2206
extra=(${SBATCH_ARGS:-})
submit() { sbatch --parsable --export=ALL --chdir="$PWD" "${extra[@]}" "$@" | cut -d';' -f1; }
last=$((SHARDS - 1))
peaks=$(submit --array=0-$last --output="$OUT/logs/peaks-%a.out" "$HERE/peaks.sbatch")
loads=$(submit --array=0-$last --dependency=afterok:$peaks --output="$OUT/logs/loads-%a.out" "$HERE/loads.sbatch")
merge=$(submit --dependency=afterok:$loads --output="$OUT/logs/merge.out" "$HERE/merge.sbatch")
echo "$peaks $loads $merge" > "$OUT/jobs"
echo "submitted: peaks array $peaks (0-$last), loads array $loads, merge $merge; report in $OUT"
