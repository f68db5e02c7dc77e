#!/usr/bin/env python3
"""A pure-Python reference for `mig-replay run --policy fcfs`: speed side by side, and exactness.

FCFS on G whole GPUs with one central FIFO queue is the classic G/G/c first-come-first-served
recursion: queries start in arrival order, each at max(its arrival, the earliest time a GPU is
free), and occupy that GPU for their service time. Which GPU breaks a tie does not change any
start or finish time, so this loop (a heap of GPU free times) computes exactly the start and
finish of every query that mig-replay's event loop computes.

The service time is the profile's latency for (model, slice, batch) with mig-replay's documented
rule (linear between profiled batches, linear extrapolation above the largest with the slope
clamped at >= 0, the smallest batch's latency below it), in integer nanoseconds:
max(1, round-half-away(ms * 1e6)). Arrivals are whole microseconds, as in the trace file.

Usage:
  python3 benches/reference_fcfs.py TRACE PROFILES --gpu A100-80GB --gpus 8 [--slice 7g.80gb]
      [--check OUT/queries.parquet]

Prints the time spent reading and simulating; with --check, compares every query's start and
finish with mig-replay's queries.parquet to the nanosecond and exits 1 on any difference.
Needs pyarrow (pip install pyarrow) to read Parquet; the simulation itself is the standard
library only.
"""

import argparse
import bisect
import heapq
import sys
import time

import pyarrow.parquet as pq


def round_half_away(x):
    i = int(x)
    return i + 1 if x - i >= 0.5 else i


def latency_ms(batches, lat, b):
    """mig-replay's Series::latency_ms, operation for operation (same float results)."""
    i = bisect.bisect_left(batches, b)
    if i < len(batches) and batches[i] == b:
        return lat[i]
    if i == 0:
        return lat[0]
    n = len(batches)
    if i == n:
        if n == 1:
            return lat[0] * b / batches[0]
        slope = max((lat[n - 1] - lat[n - 2]) / (batches[n - 1] - batches[n - 2]), 0.0)
        return lat[n - 1] + slope * (b - batches[n - 1])
    b0, b1 = batches[i - 1], batches[i]
    w = (b - b0) / (b1 - b0)
    return lat[i - 1] + w * (lat[i] - lat[i - 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("profiles")
    ap.add_argument("--gpu", required=True)
    ap.add_argument("--gpus", type=int, required=True)
    ap.add_argument("--slice", default=None, help="the whole-GPU slice (default: the 7g one)")
    ap.add_argument("--check", default=None, help="mig-replay's queries.parquet to compare")
    a = ap.parse_args()

    t0 = time.perf_counter()
    tr = pq.read_table(a.trace, columns=["arrival_us", "model", "batch"]).to_pydict()
    arrival = tr["arrival_us"]
    model = tr["model"]
    batch = tr["batch"]
    # Stable sort by arrival, as mig-replay loads traces.
    order = sorted(range(len(arrival)), key=arrival.__getitem__)
    pr = pq.read_table(a.profiles).to_pydict()
    series = {}
    for g, s, m, b, ms in zip(pr["gpu"], pr["slice"], pr["model"], pr["batch"], pr["latency_ms"]):
        if g == a.gpu and (s == a.slice or (a.slice is None and s.startswith("7g"))):
            series.setdefault(m, []).append((b, ms))
    svc_cache = {}

    def service_ns(m, b):
        key = (m, b)
        v = svc_cache.get(key)
        if v is None:
            pts = sorted(series[m])
            ms = latency_ms([p[0] for p in pts], [p[1] for p in pts], b)
            v = max(1, round_half_away(ms * 1e6))
            svc_cache[key] = v
        return v

    t1 = time.perf_counter()
    # The simulation: a heap of GPU free times, queries in arrival order.
    free = [0] * a.gpus
    start = [0] * len(order)
    finish = [0] * len(order)
    for k, q in enumerate(order):
        arr = arrival[q] * 1000
        f = heapq.heappop(free)
        s = arr if arr > f else f
        e = s + service_ns(model[q], batch[q])
        heapq.heappush(free, e)
        start[k] = s
        finish[k] = e
    t2 = time.perf_counter()
    n = len(order)
    print(
        f"python reference fcfs: {n} queries on {a.gpus} GPUs: read {t1 - t0:.3f} s, "
        f"simulate {t2 - t1:.3f} s ({n / (t2 - t1):,.0f} queries/s), total {t2 - t0:.3f} s"
    )
    if a.check:
        out = pq.read_table(a.check, columns=["start_us", "finish_us"]).to_pydict()
        bad = 0
        for k, (s_us, f_us) in enumerate(zip(out["start_us"], out["finish_us"])):
            if round(s_us * 1000) != start[k] or round(f_us * 1000) != finish[k]:
                if bad < 5:
                    print(
                        f"row {k}: mig-replay start/finish {s_us}/{f_us} us, "
                        f"reference {start[k] / 1e3}/{finish[k] / 1e3} us"
                    )
                bad += 1
        if len(out["finish_us"]) != n:
            print(f"row count differs: {len(out['finish_us'])} vs {n}")
            bad += 1
        if bad:
            print(f"{bad} rows differ")
            sys.exit(1)
        print(f"all {n} start and finish times equal mig-replay's to the nanosecond")


if __name__ == "__main__":
    main()
