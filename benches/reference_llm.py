#!/usr/bin/env python3
"""An independent pure-Python reference of mig-replay's LLM replica: step time, vLLM rules, routers.

Written from the shared contract (docs/llm.md, sections 2 to 5) and vLLM 0.19's v1 scheduler in
synchronous mode, not from the Rust engine, so that the two can check each other request by
request. Everything is integer nanoseconds except the step-time formula, which is evaluated in
IEEE doubles in the contract's exact operation order and rounded once per step.

The rules, in the order they are applied (contract section 3):
  * A request whose context at its last step, prompt + output - 1 tokens, needs more than the
    replica's N KV blocks is refused at arrival, before routing: it has no instance, takes no
    round-robin turn, and is never scheduled.
  * A step starts when the replica is idle and has work (at an arrival, or at the end of its
    previous step). Running requests, in admission order, each take min(prompt + emitted -
    computed, budget) tokens; blocks are allocated for what the step computes; when blocks run
    out the most recently admitted running request is preempted (recompute: blocks freed,
    computed tokens reset, pushed to the FRONT of the waiting queue), and a request that has to
    preempt itself is not scheduled and ends the running pass.
  * Only in a step without preemption, waiting requests are admitted first come first served
    while budget > 0 and fewer than max_num_seqs run, each only if the free blocks hold its
    WHOLE prompt plus emitted tokens (vLLM's scheduler_reserve_full_isl); admission stops at the
    first that does not fit.
  * At the step's end each scheduled request adds its tokens; one that has computed its whole
    prompt plus emitted tokens emits a token (the first one sets first_token_ns; a partial
    prefill chunk emits nothing); one that has emitted all its output tokens finishes and frees
    its blocks before the next step is scheduled.
  * At one instant: every step end first (each replica schedules its next step at once), then
    the arrivals in trace order are routed, then each idle replica that received one starts.
  * Routers: round-robin (arrival i -> replica i mod R), least-tokens (fewest outstanding tokens
    prompt + emitted - computed over its unfinished requests; ties lowest index), most-free-kv
    (most free blocks; ties lowest index).

Usage:
  python3 benches/reference_llm.py TRACE --profile P.toml [--model M] [--gpu G]
      [--max-num-seqs S] [--max-num-batched-tokens B] [--block-size BS] [--kv-blocks N]
      [--gpu-memory-utilization U] [--replicas R] [--router round-robin|least-tokens|most-free-kv]
      [--out OUT.csv] [--check queries.parquet|queries.csv]
  python3 benches/reference_llm.py --gen N --seed S [--model M] [--mean-gap-us G] [--out F.csv|F.parquet]
  python3 benches/reference_llm.py --hand-cases tests/fixtures/llm/hand_cases.json

TRACE: Parquet (needs pyarrow), CSV or JSON (a list of objects) with arrival_us, model,
prompt_tokens, output_tokens and an optional id (default: the row index in the file). Rows are
sorted stably by arrival, as mig-replay loads traces.
The profile is one [[profile]] row of the contract's LLM profile TOML (Python 3.11's tomllib);
flags override its max_num_seqs, max_num_batched_tokens, block_size and kv_blocks.
Output (CSV, stdout unless --out): id, arrival_ns, prompt_tokens, output_tokens,
first_token_ns, finish_ns, preemptions, instance, refused (empty times when refused), by id.
--check compares every request's first_token_ns, finish_ns, preemptions, instance and refused
with mig-replay's queries (Parquet or CSV, contract section 5), prints the first mismatch and
exits 1 on any. --gen writes a reproducible workload (integer arithmetic only: the same bytes
on every machine and Python version) loaded enough, with the fixture profile
tests/fixtures/llm/ref_profile.toml, that requests are preempted and a few are refused.
Bad input: a message naming the file, row and column or key, exit 2.
"""

import argparse
import bisect
import collections
import csv
import json
import math
import sys

ROUTERS = ("round-robin", "least-tokens", "most-free-kv")
MAX_TOKENS = 1 << 20
STEP_KEYS = ("c0", "p0", "p1", "p2", "p3", "d0", "d1", "d2", "m0", "m1", "m2", "s0", "s1", "skew")


class InputError(Exception):
    """Bad input: reported as one line, exit 2."""


def ceil_div(a, b):
    return -(-a // b)


# ---------------------------------------------------------------- step time (contract section 2)


class StepModel:
    """The step-time model of one profile row, microseconds, evaluated as the contract says."""

    def __init__(self, table, where="step"):
        for k in table:
            if k not in STEP_KEYS and k != "dense":
                raise InputError(f"{where}: unknown key '{k}'")
        self.coef = {}
        for k in STEP_KEYS:
            v = table.get(k, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"{where}: key '{k}' must be a finite number, got {v!r}")
            self.coef[k] = float(v)
        dense = table.get("dense", [])
        xs, ys = [], []
        for i, pt in enumerate(dense):
            if not isinstance(pt, (list, tuple)) or len(pt) != 2:
                raise InputError(f"{where}: dense[{i}] must be a pair [tokens, us]")
            x, y = float(pt[0]), float(pt[1])
            if xs and x <= xs[-1]:
                raise InputError(f"{where}: dense[{i}]: token counts must be increasing")
            xs.append(x)
            ys.append(y)
        self.xs, self.ys = xs, ys

    def dense(self, t):
        xs, ys = self.xs, self.ys
        if not xs:
            return 0.0
        t = float(t)
        if t <= xs[0]:
            return ys[0]
        last = len(xs) - 1
        if t >= xs[last]:
            if last == 0:
                return ys[0]
            return ys[last] + (t - xs[last]) * (ys[last] - ys[last - 1]) / (xs[last] - xs[last - 1])
        m = bisect.bisect_right(xs, t) - 1  # xs[m] <= t < xs[m + 1]
        return ys[m] + (t - xs[m]) * (ys[m + 1] - ys[m]) / (xs[m + 1] - xs[m])

    def ns(self, chunks, decodes):
        """chunks: [(n, k)] prefill chunks in schedule order; decodes: [k] contexts before."""
        c = self.coef
        n_p = len(chunks)
        d = len(decodes)
        p = sum(n for n, _ in chunks)
        q = sum(n * (2 * k + n) for n, k in chunks)
        kp = sum(k for _, k in chunks)
        kk = sum(k + 1 for k in decodes)
        kmax = max((k + 1 for k in decodes), default=0)
        t = p + d
        s = n_p + d
        us = c["c0"]
        us += self.dense(t)
        us += c["p0"] * n_p
        us += c["p1"] * p
        us += c["p2"] * q
        us += c["p3"] * kp
        us += c["d0"] if d > 0 else 0.0
        us += c["d1"] * d
        us += c["d2"] * kk
        if n_p > 0 and d > 0:  # a mixed step
            us += c["m0"]
            us += c["m1"] * d
            us += c["m2"] * kk
        if d >= 2:  # decodes of unequal contexts: the skew correction
            per_k = c["d2"] + c["m2"] if n_p > 0 else c["d2"]
            us += c["skew"] * per_k * (d * kmax - kk)
        us += c["s0"]
        us += c["s1"] * s
        return max(1, math.floor(us * 1000.0 + 0.5))


# ---------------------------------------------------------------- the replica (contract section 3)


class Request:
    __slots__ = (
        "id", "arrival_ns", "p", "o", "c", "e", "h",
        "preemptions", "first", "finish", "instance", "refused",
    )

    def __init__(self, rid, arrival_ns, prompt, output):
        self.id = rid
        self.arrival_ns = arrival_ns
        self.p = prompt
        self.o = output
        self.c = 0  # tokens whose KV is in cache
        self.e = 0  # tokens emitted
        self.h = 0  # KV blocks held
        self.preemptions = 0
        self.first = None
        self.finish = None
        self.instance = None
        self.refused = False


class Replica:
    def __init__(self, index, params, step):
        self.index = index
        self.B = params["max_num_batched_tokens"]
        self.S = params["max_num_seqs"]
        self.bs = params["block_size"]
        self.N = params["kv_blocks"]
        self.step = step
        self.free = self.N
        self.running = []  # admission order
        self.waiting = collections.deque()
        self.end = None  # end of the step in progress; None when idle
        self.scheduled = []
        self.steps = 0
        self.self_preemptions = 0  # a running request that had to preempt itself

    def refuses(self, r):
        return ceil_div(r.p + r.o - 1, self.bs) > self.N

    def outstanding_tokens(self):
        tot = 0
        for r in self.running:
            tot += r.p + r.e - r.c
        for r in self.waiting:
            tot += r.p + r.e - r.c
        return tot

    def start(self, t):
        """Schedule a step at t (section 3, steps 1-4); the replica is idle if nothing fits."""
        bs = self.bs
        budget = self.B
        preempted = False
        sched = []
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            n = min(r.p + r.e - r.c, budget)
            need = ceil_div(r.c + n, bs) - r.h
            self_preempted = False
            while self.free < need:
                v = running.pop()
                self.free += v.h
                v.h = 0
                v.c = 0
                v.preemptions += 1
                self.waiting.appendleft(v)
                preempted = True
                if v is r:
                    self_preempted = True
                    self.self_preemptions += 1
                    break
            if self_preempted:
                break
            r.h += need
            self.free -= need
            budget -= n
            sched.append((r, n, r.c))
            i += 1
        if not preempted:
            while self.waiting and budget > 0 and len(running) < self.S:
                r = self.waiting[0]
                if self.free < ceil_div(r.p + r.e, bs):
                    break
                self.waiting.popleft()
                n = min(r.p + r.e - r.c, budget)
                need = ceil_div(n, bs)
                r.h = need
                self.free -= need
                budget -= n
                running.append(r)
                sched.append((r, n, 0))
        assert 0 <= self.free <= self.N, "KV blocks over capacity"
        if not sched:
            self.end = None
            self.scheduled = []
            return
        chunks, decodes = [], []
        for r, n, cb in sched:
            if cb == r.p + r.e - 1 and r.e >= 1 and n == 1:
                decodes.append(cb)
            else:
                chunks.append((n, cb))
        self.scheduled = sched
        self.end = t + self.step.ns(chunks, decodes)
        self.steps += 1

    def finish_step(self, t):
        """Section 3, step 5: the step that started before ends at t."""
        for r, n, _ in self.scheduled:
            r.c += n
            if r.c == r.p + r.e:
                r.e += 1
                if r.e == 1:
                    r.first = t
                if r.e == r.o:
                    r.finish = t
                    self.free += r.h
                    r.h = 0
                    self.running.remove(r)
        self.scheduled = []
        self.end = None


def route(router, replicas, routed_before):
    if router == "round-robin":
        return routed_before % len(replicas)
    if router == "least-tokens":
        best, best_v = 0, None
        for k, rep in enumerate(replicas):
            v = rep.outstanding_tokens()
            if best_v is None or v < best_v:
                best, best_v = k, v
        return best
    if router == "most-free-kv":
        best, best_v = 0, None
        for k, rep in enumerate(replicas):
            if best_v is None or rep.free > best_v:
                best, best_v = k, rep.free
        return best
    raise InputError(f"unknown router '{router}' (known: {', '.join(ROUTERS)})")


def simulate(requests, step, params, replicas=1, router="round-robin"):
    """Replay `requests` (Request objects, any order) and fill in their results. Returns stats."""
    if router not in ROUTERS:
        raise InputError(f"unknown router '{router}' (known: {', '.join(ROUTERS)})")
    reqs = sorted(requests, key=lambda r: r.arrival_ns)  # stable, as mig-replay sorts traces
    reps = [Replica(k, params, step) for k in range(replicas)]
    ai = 0
    routed = 0  # requests routed so far (round robin's turn)
    n = len(reqs)
    while True:
        t_arr = reqs[ai].arrival_ns if ai < n else None
        t_end = None
        for rep in reps:
            if rep.end is not None and (t_end is None or rep.end < t_end):
                t_end = rep.end
        if t_arr is None and t_end is None:
            break
        if t_end is not None and (t_arr is None or t_end <= t_arr):
            t = t_end
            # Every step end at t first; each replica schedules its next step at t at once.
            for rep in reps:
                if rep.end == t:
                    rep.finish_step(t)
                    rep.start(t)
        else:
            t = t_arr
        # Then the arrivals at t, routed in trace order; then idle replicas that got one start.
        got = []
        while ai < n and reqs[ai].arrival_ns == t:
            r = reqs[ai]
            ai += 1
            if all(rep.refuses(r) for rep in reps):
                r.refused = True  # never routed: no instance, round robin's turn not taken
                continue
            k = route(router, reps, routed)
            routed += 1
            rep = reps[k]
            r.instance = k
            rep.waiting.append(r)
            if k not in got:
                got.append(k)
        for k in sorted(got):
            if reps[k].end is None:
                reps[k].start(t)
    for rep in reps:
        assert not rep.running and not rep.waiting and rep.free == rep.N, "work left at the end"
    return {
        "steps": sum(rep.steps for rep in reps),
        "self_preemptions": sum(rep.self_preemptions for rep in reps),
    }


# ---------------------------------------------------------------- inputs


def load_profile(path, model=None, gpu=None):
    try:
        import tomllib
    except ImportError as exc:  # Python < 3.11
        raise InputError(f"{path}: reading TOML needs Python 3.11+ (tomllib)") from exc
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from exc
    rows = doc.get("profile")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path}: no [[profile]] row")
    pick = [
        (i, r) for i, r in enumerate(rows)
        if (model is None or r.get("model") == model) and (gpu is None or r.get("gpu") == gpu)
    ]
    if len(pick) != 1:
        raise InputError(
            f"{path}: {len(pick)} [[profile]] rows match model={model} gpu={gpu}; "
            "name one with --model/--gpu"
        )
    i, row = pick[0]
    where = f"{path}: [[profile]] #{i + 1}"
    if "step" not in row or not isinstance(row["step"], dict):
        raise InputError(f"{where}: missing key 'step' (the [profile.step] table)")
    return row, StepModel(row["step"], f"{where}.step"), where


def int_key(row, key, where, lo=None):
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"{where}: key '{key}' must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise InputError(f"{where}: key '{key}' must be >= {lo}, got {v}")
    return v


def kv_blocks_from_memory(row, bs, util, where):
    """N = floor((tp * gpu_memory_gib * 2^30 * util - weights - activation) / (bs * kv)), f64."""
    for key in ("gpu_memory_gib", "weights_bytes", "kv_bytes_per_token"):
        if key not in row:
            raise InputError(f"{where}: kv_blocks is 0 and key '{key}' is missing")
    kv = row["kv_bytes_per_token"]
    if not isinstance(kv, (int, float)) or kv <= 0:
        raise InputError(f"{where}: key 'kv_bytes_per_token' must be > 0, got {kv!r}")
    tp = float(row.get("tp", 1))
    mem = tp * float(row["gpu_memory_gib"]) * 1073741824.0 * util
    mem = mem - float(row["weights_bytes"]) - float(row.get("activation_bytes", 0))
    return math.floor(mem / (float(bs) * float(kv)))


def params_from(row, where, a):
    p = {}
    for key, flag in (
        ("max_num_seqs", a.max_num_seqs),
        ("max_num_batched_tokens", a.max_num_batched_tokens),
        ("block_size", a.block_size),
    ):
        p[key] = flag if flag is not None else int_key(row, key, where, 1)
        if p[key] < 1:
            raise InputError(f"--{key.replace('_', '-')} must be >= 1, got {p[key]}")
    n = a.kv_blocks if a.kv_blocks is not None else int_key(row, "kv_blocks", where, 0)
    if n == 0:
        n = kv_blocks_from_memory(row, p["block_size"], a.gpu_memory_utilization, where)
    if n < 1:
        raise InputError(f"{where}: the model does not fit: {n} KV blocks")
    p["kv_blocks"] = n
    return p


def _check_tokens(v, path, col, row_no):
    if v is None or isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"{path}: row {row_no}, column '{col}': an integer is required, got {v!r}")
    if v < 1 or v > MAX_TOKENS:
        raise InputError(f"{path}: row {row_no}, column '{col}': {v} is outside 1..{MAX_TOKENS}")
    return v


def _int_cell(v, path, col, row_no):
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            raise InputError(f"{path}: row {row_no}, column '{col}': not an integer: {v!r}") from None
    return v


def load_trace(path, model=None):
    """Returns [Request] in file order (row numbers from 0, ids default to the row index)."""
    need = ("arrival_us", "model", "prompt_tokens", "output_tokens")
    if path.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise InputError(f"{path}: reading Parquet needs pyarrow; give a CSV instead") from exc
        names = pq.read_schema(path).names
        cols = [c for c in need + ("id",) if c in names]
        data = pq.read_table(path, columns=cols).to_pydict()
        nrows = len(data["arrival_us"]) if "arrival_us" in data else 0
        rows = [{c: data[c][i] for c in cols} for i in range(nrows)]
        have = set(names)
    elif path.endswith(".json"):
        with open(path) as f:
            rows = json.load(f)
        if isinstance(rows, dict):
            rows = rows.get("requests", [])
        have = set(rows[0]) if rows else set(need)
    else:
        with open(path, newline="") as f:
            rd = csv.DictReader(f)
            rows = list(rd)
            have = set(rd.fieldnames or [])
    for c in need:
        if c not in have:
            raise InputError(f"{path}: missing column '{c}'")
    out = []
    for i, row in enumerate(rows):
        arr = _int_cell(row.get("arrival_us"), path, "arrival_us", i)
        if isinstance(arr, bool) or not isinstance(arr, int) or arr < 0:
            raise InputError(f"{path}: row {i}, column 'arrival_us': {arr!r} is not an integer >= 0")
        p = _check_tokens(_int_cell(row.get("prompt_tokens"), path, "prompt_tokens", i), path, "prompt_tokens", i)
        o = _check_tokens(_int_cell(row.get("output_tokens"), path, "output_tokens", i), path, "output_tokens", i)
        m = row.get("model")
        if model is not None and m != model:
            raise InputError(f"{path}: row {i}, column 'model': '{m}' is not the profile's model '{model}'")
        rid = _int_cell(row.get("id", i), path, "id", i) if row.get("id") not in (None, "") else i
        out.append(Request(rid, arr * 1000, p, o))
    return out


# ---------------------------------------------------------------- outputs and --check

OUT_COLS = ("id", "arrival_ns", "prompt_tokens", "output_tokens", "first_token_ns", "finish_ns",
            "preemptions", "instance", "refused")


def result_rows(reqs):
    rows = []
    for r in sorted(reqs, key=lambda r: r.id):
        rows.append({
            "id": r.id, "arrival_ns": r.arrival_ns, "prompt_tokens": r.p, "output_tokens": r.o,
            "first_token_ns": r.first, "finish_ns": r.finish, "preemptions": r.preemptions,
            "instance": r.instance, "refused": r.refused,
        })
    return rows


def write_csv(rows, f):
    w = csv.writer(f, lineterminator="\n")
    w.writerow(OUT_COLS)
    for r in rows:
        w.writerow([
            "" if r[c] is None else ("true" if r[c] is True else "false" if r[c] is False else r[c])
            for c in OUT_COLS
        ])


def _norm(v):
    if v is None or v == "":
        return None
    if isinstance(v, str):
        if v in ("true", "false"):
            return v == "true"
        return int(v)
    if isinstance(v, float):
        return int(v) if v.is_integer() else v
    return v


def check(reqs, path):
    """Compare with mig-replay's per-request output; returns the number of mismatching requests."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq
        data = pq.read_table(path).to_pydict()
    else:
        with open(path, newline="") as f:
            rd = csv.DictReader(f)
            data = {c: [] for c in rd.fieldnames or []}
            for row in rd:
                for c in data:
                    data[c].append(row[c])
    for c in ("id", "first_token_ns", "finish_ns", "preemptions", "instance"):
        if c not in data:
            raise InputError(f"{path}: missing column '{c}'")
    cols = ["first_token_ns", "finish_ns", "preemptions", "instance"]
    if "refused" in data:
        cols.append("refused")
    theirs = {}
    for i, rid in enumerate(data["id"]):
        theirs[_norm(rid)] = {c: _norm(data[c][i]) for c in cols}
    ours = {r["id"]: r for r in result_rows(reqs)}
    bad = 0
    first = None
    for rid, r in ours.items():
        t = theirs.get(rid)
        if t is None:
            bad += 1
            first = first or f"request {rid}: missing from {path}"
            continue
        for c in cols:
            if t[c] != r[c]:
                bad += 1
                first = first or (
                    f"request {rid} (arrival {r['arrival_ns']} ns, prompt {r['prompt_tokens']}, "
                    f"output {r['output_tokens']}): {c} = {t[c]} in {path}, reference {r[c]}"
                )
                break
    extra = [rid for rid in theirs if rid not in ours]
    if extra:
        bad += len(extra)
        first = first or f"request {extra[0]}: in {path} but not in the trace"
    if first:
        print(f"first mismatch: {first}")
    return bad


# ---------------------------------------------------------------- --gen: a reproducible workload


class SplitMix64:
    """Integer-only generator: the same numbers on every machine and Python version."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n  # the bias (n << 2^64) does not matter for a workload

    def log_uniform(self, lo_pow2, hi_pow2):
        """An integer whose binary length is uniform: [2^k, 2^(k+1)) for k in [lo, hi)."""
        k = lo_pow2 + self.below(hi_pow2 - lo_pow2)
        return (1 << k) + self.below(1 << k)


def gen_rows(n, seed, model, mean_gap_us):
    """Bursty arrivals (1 in 8 at the same microsecond as the previous one, else a gap uniform in
    [0, 2 * mean_gap_us)), prompts 1..8191 tokens and outputs 1..1023 tokens with log-uniform
    lengths, 1 in 64 prompts long (4096..8191: with ref_profile.toml's 320 blocks of 16 tokens,
    5120 tokens, some of them are refused)."""
    rng = SplitMix64(seed)
    t = 0
    rows = []
    for i in range(n):
        if i > 0:
            t += 0 if rng.below(8) == 0 else rng.below(2 * mean_gap_us)
        if rng.below(64) == 0:
            p = 4096 + rng.below(4096)
        else:
            p = rng.log_uniform(0, 11)  # 1 .. 4095
        o = rng.log_uniform(0, 10)  # 1 .. 1023
        rows.append({"arrival_us": t, "model": model, "prompt_tokens": p, "output_tokens": o})
    return rows


def write_gen(rows, out, f=None):
    if out and out.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq
        tab = pa.table({
            "arrival_us": pa.array([r["arrival_us"] for r in rows], pa.int64()),
            "model": pa.array([r["model"] for r in rows], pa.string()),
            "batch": pa.array([1] * len(rows), pa.int32()),
            "prompt_tokens": pa.array([r["prompt_tokens"] for r in rows], pa.int32()),
            "output_tokens": pa.array([r["output_tokens"] for r in rows], pa.int32()),
        })
        pq.write_table(tab, out)
        return
    if f is None:
        f = open(out, "w", newline="") if out else sys.stdout
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["arrival_us", "model", "prompt_tokens", "output_tokens"])
    for r in rows:
        w.writerow([r["arrival_us"], r["model"], r["prompt_tokens"], r["output_tokens"]])
    if out:
        f.close()


# ---------------------------------------------------------------- hand cases


def run_case(case):
    """Run one case of tests/fixtures/llm/hand_cases.json; returns result rows by id."""
    step = StepModel(case["profile"], f"case {case['name']}: profile")
    prm = case["params"]
    params = {k: prm[k] for k in ("max_num_seqs", "max_num_batched_tokens", "block_size", "kv_blocks")}
    reqs = [
        Request(r["id"], r["arrival_us"] * 1000, r["prompt_tokens"], r["output_tokens"])
        for r in case["requests"]
    ]
    simulate(reqs, step, params, prm.get("replicas", 1), prm.get("router", "round-robin"))
    return result_rows(reqs)


def check_hand_cases(path):
    with open(path) as f:
        doc = json.load(f)
    bad = 0
    for case in doc["cases"]:
        got = {r["id"]: r for r in run_case(case)}
        for exp in case["expected"]:
            g = got[exp["id"]]
            for k, v in exp.items():
                if g[k] != v:
                    print(f"case {case['name']}: request {exp['id']}: {k} = {g[k]}, expected {v}")
                    bad += 1
    print(f"{len(doc['cases'])} hand cases, {bad} mismatches")
    return bad


# ---------------------------------------------------------------- CLI


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", nargs="?")
    ap.add_argument("--profile", help="LLM profile TOML (contract section 2)")
    ap.add_argument("--model", default=None, help="the profile row's model (and --gen's name)")
    ap.add_argument("--gpu", default=None, help="the profile row's gpu")
    ap.add_argument("--max-num-seqs", type=int, default=None)
    ap.add_argument("--max-num-batched-tokens", type=int, default=None)
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--kv-blocks", type=int, default=None, help="usable KV blocks (0: from memory)")
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--router", default="round-robin", choices=ROUTERS)
    ap.add_argument("--out", default=None)
    ap.add_argument("--check", default=None, help="mig-replay's queries.parquet (or .csv)")
    ap.add_argument("--gen", type=int, default=None, metavar="N", help="write a workload of N requests")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mean-gap-us", type=int, default=9000, help="--gen: mean gap between arrivals")
    ap.add_argument("--hand-cases", default=None, help="check the hand cases of this JSON file")
    a = ap.parse_args(argv)
    try:
        if a.hand_cases:
            return 1 if check_hand_cases(a.hand_cases) else 0
        if a.gen is not None:
            if a.gen < 0 or a.mean_gap_us < 1:
                raise InputError("--gen needs N >= 0 and --mean-gap-us >= 1")
            write_gen(gen_rows(a.gen, a.seed, a.model or "Llama-3.1-8B", a.mean_gap_us), a.out)
            return 0
        if not a.trace or not a.profile:
            raise InputError("give a TRACE and --profile (or --gen N, or --hand-cases F)")
        if a.replicas < 1:
            raise InputError(f"--replicas must be >= 1, got {a.replicas}")
        row, step, where = load_profile(a.profile, a.model, a.gpu)
        params = params_from(row, where, a)
        reqs = load_trace(a.trace, row.get("model"))
        stats = simulate(reqs, step, params, a.replicas, a.router)
        rows = result_rows(reqs)
        if a.out or not a.check:
            if a.out:
                with open(a.out, "w", newline="") as f:
                    write_csv(rows, f)
            else:
                write_csv(rows, sys.stdout)
        refused = sum(r["refused"] for r in rows)
        pre = sum(r["preemptions"] for r in rows)
        print(
            f"reference: {len(rows)} requests on {a.replicas} replica(s) ({a.router}), "
            f"{stats['steps']} steps, {pre} preemptions ({stats['self_preemptions']} of a request by "
            f"itself), {refused} refused, "
            f"N = {params['kv_blocks']} blocks",
            file=sys.stderr,
        )
        if a.check:
            bad = check(reqs, a.check)
            if bad:
                print(f"{bad} requests differ from {a.check}")
                return 1
            print(f"all {len(rows)} requests equal {a.check}'s to the nanosecond")
        return 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
