#!/bin/bash
# End-to-end test of the Slurm deployment on a one-node cluster on this machine (real daemons,
# nothing mocked): install slurm-wlm and munge if missing, start munged, slurmctld and slurmd
# with everything in a temporary folder, submit experiments/ci.toml as 4 shards through
# submit.sh, wait for the merge, compare the merged report with an unsharded run of the same
# config, print the jobs' timeline, and stop only the daemons this script started (by pid).
#
#   deploy/slurm/test-local.sh [BINARY]     (default: target/debug/mig-replay, built if missing)
#
# Needs root (the daemons run as root). Exit 0: identical reports; 1: a difference or a failed
# job; 77: Slurm cannot be installed here (CI reports it as skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${1:-target/debug/mig-replay}
CONFIG=experiments/ci.toml
SHARDS=4

if [ "$(id -u)" != 0 ]; then echo "slurm test: needs root; skipped"; exit 77; fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "== installing slurm-wlm and munge"
  if ! (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge) >/tmp/slurm-apt.log 2>&1; then
    tail -5 /tmp/slurm-apt.log
    echo "slurm test: slurm-wlm/munge not installable here; skipped"
    exit 77
  fi
fi
[ -x "$BIN" ] || cargo build
BIN=$(realpath "$BIN")

T=$(mktemp -d /tmp/mig-replay-slurm.XXXXXX)
started=()
cleanup() {
  local pids=()
  for pidfile in "${started[@]}"; do
    if [ -s "$pidfile" ]; then pids+=("$(cat "$pidfile")"); fi
  done
  [ ${#pids[@]} = 0 ] && return
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.1
  done
}
trap cleanup EXIT

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))
mkdir -p "$T/spool" "$T/state"
cat > "$T/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$HOST
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmUser=root
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmdSpoolDir=$T/spool
StateSaveLocation=$T/state
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MinJobAge=3600
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf

echo "== starting munged, slurmctld, slurmd (state in $T)"
if ! pgrep -x munged >/dev/null; then
  [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge:munge /run/munge
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$T/munged.pid"
  started+=("$T/munged.pid")
fi
slurmctld -f "$SLURM_CONF"; started+=("$T/slurmctld.pid")
slurmd -f "$SLURM_CONF"; started+=("$T/slurmd.pid")
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo

echo "== unsharded sweep of $CONFIG"
t0=$(date +%s.%N)
"$BIN" sweep --config "$CONFIG" --out "$T/whole" >"$T/whole.log"
t1=$(date +%s.%N)

echo "== sharded through Slurm: submit.sh $CONFIG $SHARDS"
MIG_REPLAY=$BIN deploy/slurm/submit.sh "$CONFIG" "$SHARDS" "$T/sharded"
read -r peaks loads merge < "$T/sharded/jobs"
for _ in $(seq 1800); do
  squeue -h -j "$peaks,$loads,$merge" 2>/dev/null | grep -q . || break
  sleep 1
done
t2=$(date +%s.%N)

echo "== timeline (job, state, submit, start, end)"
for j in "$peaks" "$loads" "$merge"; do
  scontrol -o show job "$j" | tr ' ' '\n' | awk -F= '
    $1=="JobId"{id=$2} $1=="ArrayTaskId"{task="_"$2} $1=="JobName"{name=$2} $1=="JobState"{st=$2}
    $1=="SubmitTime"{subm=$2} $1=="StartTime"{start=$2}
    $1=="EndTime"{print name, id task, st, subm, start, $2; task=""}'
done | sort -k5 | tee "$T/timeline.txt"
printf 'wall: unsharded %.1f s, 4 shards through Slurm (submit to merge done) %.1f s\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"

fail=0
if ! grep -q "COMPLETED" <(scontrol -o show job "$merge"); then
  echo "merge job did not complete:"; cat "$T/sharded/logs/merge.out" || true
  for f in "$T"/sharded/logs/*.out; do echo "-- $f"; tail -5 "$f"; done
  exit 1
fi
for f in results.parquet peaks.parquet summary.json; do
  if cmp -s "$T/whole/$f" "$T/sharded/$f"; then
    echo "identical: $f"
  else
    echo "DIFFERENT: $f"; fail=1
  fi
done
[ $fail = 0 ] && echo "slurm test ok: the merged 4-shard report equals the unsharded one"
exit $fail
