#!/usr/bin/env python3
"""Hand-computed cases for the LLM replica rules, and tests of benches/reference_llm.py.

Run: python3 -m unittest discover -s benches -p 'test_reference_llm.py'
 (or: cd benches && python3 -m unittest test_reference_llm)

The cases below are written out by hand, each with its arithmetic, from the contract (docs/llm.md
sections 2-4); the reference must reproduce every number. The same cases are in
tests/fixtures/llm/hand_cases.json for the Rust engine's test (a test here checks that the JSON
file holds exactly these cases; `python3 benches/test_reference_llm.py --write-fixture`
rewrites it after a deliberate change).

Step model of every hand case, microseconds: c0 = 1000, p1 = 1 per prefill token, d1 = 10 per
decode, every other term 0:  step_us = 1000 + P + 10 * D  (P prefill tokens, D decodes), so a
step of one 16-token chunk is 1016 us = 1,016,000 ns and a step of one decode 1010 us.
"""

import copy
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import reference_llm as ref  # noqa: E402

FIXDIR = os.path.join(ROOT, "tests", "fixtures", "llm")
FIXTURE = os.path.join(FIXDIR, "hand_cases.json")
REF_PROFILE = os.path.join(FIXDIR, "ref_profile.toml")
# The generated cross-check for the Rust engine: one workload, replayed under these
# configurations; tests/fixtures/llm/generated.json lists them with their expected outputs.
GEN_N, GEN_SEED, GEN_GAP_US = 3000, 1, 9000
GEN_WORKLOAD = "gen-s1-3000.csv"
GEN_RUNS = [  # (profile row's gpu, replicas, router)
    ("REFGPU", 1, "round-robin"),
    ("REFGPU", 2, "least-tokens"),
    ("REFGPU-INT", 3, "most-free-kv"),
]
SLIM = ("id", "first_token_ns", "finish_ns", "preemptions", "instance", "refused")
SCRIPT = os.path.join(HERE, "reference_llm.py")

STEP = {
    "c0": 1000.0, "dense": [], "p0": 0.0, "p1": 1.0, "p2": 0.0,
    "d0": 0.0, "d1": 10.0, "d2": 0.0, "s0": 0.0, "s1": 0.0,
}


def params(max_num_seqs=256, max_num_batched_tokens=64, block_size=16, kv_blocks=100,
           replicas=1, router="round-robin"):
    return {
        "max_num_seqs": max_num_seqs, "max_num_batched_tokens": max_num_batched_tokens,
        "block_size": block_size, "kv_blocks": kv_blocks, "replicas": replicas, "router": router,
    }


def req(i, arrival_us, prompt, output):
    return {"id": i, "arrival_us": arrival_us, "model": "hand", "prompt_tokens": prompt,
            "output_tokens": output}


def exp(i, first, finish, preemptions=0, instance=0, refused=False):
    return {"id": i, "first_token_ns": first, "finish_ns": finish, "preemptions": preemptions,
            "instance": instance, "refused": refused}


CASES = [
    # (a) One request alone, prompt 40 > budget 16: three prefill chunks, then a decode per token.
    #   arrival 5 us = 5,000 ns; B = 16, bs = 16, N = 100.
    #   step 1 at      5,000: chunk 16 (k 0)   1000+16 = 1016 us -> ends 1,021,000  (c 16)
    #   step 2 at  1,021,000: chunk 16 (k 16)  1016 us          -> ends 2,037,000  (c 32)
    #   step 3 at  2,037,000: chunk  8 (k 32)  1008 us          -> ends 3,045,000  (c 40 = p:
    #                                                   token 1: first_token = 3,045,000)
    #   step 4: decode (k 40) 1010 us -> 4,055,000 (token 2); step 5: decode -> 5,065,000 (token 3
    #   = o: finish). TTFT = 3,040,000 ns = the three chunk steps; then one step per token.
    {
        "name": "a_one_request_chunked_prefill",
        "description": "one request alone: TTFT = its 3 chunked prefill steps (40 tokens, budget 16), "
                       "then one decode step per further token",
        "profile": STEP,
        "params": params(max_num_batched_tokens=16),
        "requests": [req(0, 5, 40, 3)],
        "expected": [exp(0, 3_045_000, 5_065_000)],
    },
    # (b) Two requests sharing steps. B = 32, N = 100.
    #   r0 (0 us, p 20, o 4); r1 (1500 us, p 10, o 2), arriving during r0's second step.
    #   step 1 at 0: r0 chunk 20: 1020 us -> 1,020,000; r0 token 1 (first 1,020,000)
    #   step 2 at 1,020,000: r0 decode: 1010 us -> 2,030,000; r0 token 2.  (r1 arrives at
    #     1,500,000 while the replica is busy: it waits for the next step)
    #   step 3 at 2,030,000: r0 decode + r1 chunk 10 (admitted, rides along):
    #     1000 + 10 + 10 = 1020 us -> 3,050,000; r0 token 3; r1 token 1 (first 3,050,000)
    #   step 4 at 3,050,000: r0 decode + r1 decode: 1000 + 20 = 1020 us -> 4,070,000;
    #     r0 token 4 = o, r1 token 2 = o: both finish at 4,070,000.
    {
        "name": "b_two_requests_share_steps",
        "description": "the second request arrives during the first's decode; its prefill rides "
                       "with the first's decode",
        "profile": STEP,
        "params": params(max_num_batched_tokens=32),
        "requests": [req(0, 0, 20, 4), req(1, 1500, 10, 2)],
        "expected": [exp(0, 1_020_000, 4_070_000), exp(1, 3_050_000, 4_070_000)],
    },
    # (c) A preemption. N = 4 blocks of 16, B = 64.
    #   r0 (0, p 30, o 10): last context 39 tokens = 3 blocks; r1 (0, p 20, o 10): 29 = 2 blocks.
    #   step 1 at 0: admit r0 (free 4 >= ceil(30/16) = 2: n 30, h 2, free 2), admit r1 (free
    #     2 >= 2: n 20, h 2, free 0): P 50: 1050 us -> 1,050,000: both token 1 (first 1,050,000).
    #   step 2: decodes (c 30->31, 20->21, no new block): 1020 us -> 2,070,000 (token 2)
    #   step 3: decodes (31->32, 21->22):                 1020 us -> 3,090,000 (token 3)
    #   step 4 at 3,090,000: r0 computes its 33rd token: ceil(33/16) - 2 = 1 block, free 0:
    #     preempt the last admitted, r1 (free 2, c 0, preemptions 1, front of waiting); no
    #     admission in this step. r0 decode alone: 1010 us -> 4,100,000 (r0 token 4).
    #   steps 5..10: r0 decodes alone (r1 needs ceil((20 + 3)/16) = 2 blocks, free is 1):
    #     tokens 5..10 at 5,110,000 .. 10,160,000: r0 finishes at 10,160,000, frees 3 blocks.
    #   step 11 at 10,160,000: r1 readmitted, recomputes prompt + 3 emitted = 23 tokens:
    #     1023 us -> 11,183,000: token 4 (its first token time is kept: 1,050,000).
    #   steps 12..17: 6 decodes x 1,010,000 -> tokens 5..10, finish 17,243,000.
    {
        "name": "c_preemption_by_recompute",
        "description": "few KV blocks: the most recently admitted request is preempted, then "
                       "recomputes its prompt and emitted tokens; its first token time is kept",
        "profile": STEP,
        "params": params(kv_blocks=4),
        "requests": [req(0, 0, 30, 10), req(1, 0, 20, 10)],
        "expected": [exp(0, 1_050_000, 10_160_000), exp(1, 1_050_000, 17_243_000, preemptions=1)],
    },
    # (d) A refused request. N = 4 blocks of 16 = 64 tokens, B = 64.
    #   r0 (0, p 60, o 6): last context 60 + 6 - 1 = 65 tokens = 5 blocks > 4: refused before
    #     routing (no instance, no times).
    #   r1 (0, p 60, o 5): 64 tokens = 4 blocks: exactly fits.
    #   step 1 at 0: r1 chunk 60 (h 4): 1060 us -> 1,060,000 (first); decodes with contexts
    #     60..63 (ceil(64/16) = 4 blocks, no new one): 4 x 1010 us -> 5,100,000 (finish).
    {
        "name": "d_refused_request",
        "description": "a request whose last context needs more than N blocks is refused; one "
                       "that needs exactly N is served",
        "profile": STEP,
        "params": params(kv_blocks=4),
        "requests": [req(0, 0, 60, 6), req(1, 0, 60, 5)],
        "expected": [exp(0, None, None, instance=None, refused=True), exp(1, 1_060_000, 5_100_000)],
    },
    # (e) max_num_seqs = 2 caps the running set. B = 64, N = 100; r0, r1, r2 all (0, p 10, o 3).
    #   step 1 at 0: admit r0, r1 (r2 waits: 2 running): P 20: 1020 us -> 1,020,000 (first)
    #   steps 2, 3: two decodes, 1020 us each -> 2,040,000, 3,060,000: r0, r1 finish.
    #   step 4 at 3,060,000: r2 chunk 10: 1010 us -> 4,070,000 (first);
    #   decodes -> 5,080,000, 6,090,000 (finish).
    {
        "name": "e_max_num_seqs_cap",
        "description": "max_num_seqs = 2: the third request waits until a running one finishes",
        "profile": STEP,
        "params": params(max_num_seqs=2),
        "requests": [req(0, 0, 10, 3), req(1, 0, 10, 3), req(2, 0, 10, 3)],
        "expected": [exp(0, 1_020_000, 3_060_000), exp(1, 1_020_000, 3_060_000),
                     exp(2, 4_070_000, 6_090_000)],
    },
    # (f) Admission stops at the first waiting request whose WHOLE prompt does not fit the free
    #   blocks (vLLM scheduler_reserve_full_isl), even when its first chunk would fit and a later
    #   request would fit. N = 6, B = 32. r0 (0, p 40, o 6), r1 (0, p 50, o 2), r2 (0, p 8, o 2).
    #   step 1 at 0: admit r0 (free 6 >= ceil(40/16) = 3): chunk 32, h 2, free 4, budget 0:
    #     1032 us -> 1,032,000.
    #   step 2: r0 chunk 8 (k 32): ceil(40/16) - 2 = 1 block: h 3, free 3, budget 24.
    #     r1 needs ceil(50/16) = 4 > 3: admission stops (its 24-token chunk would need only 2
    #     blocks, and r2 would need 1). 1008 us -> 2,040,000: r0 first token.
    #   steps 3..7: r0 decodes (contexts 40..44, still 3 blocks; r1 still blocked):
    #     5 x 1010 us -> 7,090,000: r0 finishes, frees 3 (free 6).
    #   step 8 at 7,090,000: admit r1: chunk 32, h 2, free 4, budget 0: 1032 us -> 8,122,000
    #   step 9: r1 chunk 18 (k 32): ceil(50/16) - 2 = 2 blocks, free 2, budget 14; admit r2
    #     (free 2 >= 1): chunk 8, free 1. P 26: 1026 us -> 9,148,000: r1 and r2 first token.
    #   step 10: two decodes: 1020 us -> 10,168,000: both finish.
    {
        "name": "f_admission_stops_at_first_unfit",
        "description": "admission needs blocks for the whole prompt and stops at the first "
                       "waiting request that does not fit (no skipping ahead)",
        "profile": STEP,
        "params": params(max_num_batched_tokens=32, kv_blocks=6),
        "requests": [req(0, 0, 40, 6), req(1, 0, 50, 2), req(2, 0, 8, 2)],
        "expected": [exp(0, 2_040_000, 7_090_000), exp(1, 9_148_000, 10_168_000),
                     exp(2, 9_148_000, 10_168_000)],
    },
    # (g) An arrival at the very instant a step ends comes after it: the step scheduled at that
    #   instant does not include it. B = 64, N = 100. r0 (0, p 10, o 3), r1 (1010 us, p 10, o 2).
    #   step 1 at 0: r0 chunk 10: 1010 us -> 1,010,000 (r0 first).
    #   at 1,010,000: the step end first: step 2 is scheduled at once with r0's decode alone
    #     (1010 us -> 2,020,000); then r1 arrives and waits.
    #   step 3 at 2,020,000: r0 decode + r1 chunk 10: 1000 + 10 + 10 = 1020 us -> 3,040,000:
    #     r0 finishes, r1 first token. step 4: r1 decode: 1010 us -> 4,050,000 (finish).
    #   (Were the arrival seen first, r1 would ride in step 2 and get its first token at
    #   2,030,000.)
    {
        "name": "g_arrival_at_step_end_comes_after",
        "description": "a request arriving exactly when a step ends is not in the step "
                       "scheduled at that instant",
        "profile": STEP,
        "params": params(),
        "requests": [req(0, 0, 10, 3), req(1, 1010, 10, 2)],
        "expected": [exp(0, 1_010_000, 3_040_000), exp(1, 3_040_000, 4_050_000)],
    },
    # (h) least-tokens over 2 replicas. B = 256, N = 100. r0 (0, p 100, o 2), r1 (0, p 10, o 2),
    #   r2 (0, p 5, o 2), all at 0, routed in trace order before any replica starts:
    #   r0: outstanding [0, 0] -> replica 0; r1: [100, 0] -> 1; r2: [100, 10] -> 1.
    #   replica 0: chunk 100: 1100 us -> 1,100,000 (first); decode 1010 us -> 2,110,000.
    #   replica 1: chunks 10 + 5: 1015 us -> 1,015,000 (both first); 2 decodes 1020 us ->
    #     2,035,000 (both finish).
    {
        "name": "h_least_tokens_router",
        "description": "least-tokens: outstanding prompt tokens of the requests already routed "
                       "at the same instant count",
        "profile": STEP,
        "params": params(max_num_batched_tokens=256, replicas=2, router="least-tokens"),
        "requests": [req(0, 0, 100, 2), req(1, 0, 10, 2), req(2, 0, 5, 2)],
        "expected": [exp(0, 1_100_000, 2_110_000, instance=0),
                     exp(1, 1_015_000, 2_035_000, instance=1),
                     exp(2, 1_015_000, 2_035_000, instance=1)],
    },
    # (i) round-robin, the same requests: r0 -> 0, r1 -> 1, r2 -> 0.
    #   replica 0: chunks 100 + 5: 1105 us -> 1,105,000 (r0, r2 first); 2 decodes 1020 us ->
    #     2,125,000. replica 1: chunk 10: 1010 us -> 1,010,000; decode -> 2,020,000.
    {
        "name": "i_round_robin_router",
        "description": "round-robin: arrival i goes to replica i mod R",
        "profile": STEP,
        "params": params(max_num_batched_tokens=256, replicas=2, router="round-robin"),
        "requests": [req(0, 0, 100, 2), req(1, 0, 10, 2), req(2, 0, 5, 2)],
        "expected": [exp(0, 1_105_000, 2_125_000, instance=0),
                     exp(1, 1_010_000, 2_020_000, instance=1),
                     exp(2, 1_105_000, 2_125_000, instance=0)],
    },
    # (j) most-free-kv over 2 replicas, N = 100, B = 256.
    #   r0 (0, p 100, o 3): free [100, 100] -> 0; replica 0 starts: 7 blocks (free 93);
    #     chunk 100: 1100 us -> 1,100,000 (first); decodes -> 2,110,000, 3,120,000 (finish).
    #   r1 (500 us, p 10, o 2): free [93, 100] -> 1; replica 1 starts: 1 block (free 99);
    #     chunk 10: 1010 us -> 1,510,000 (first).
    #   r2 (600 us, p 5, o 2) and r3 (600 us, p 20, o 2): free [93, 99] -> 1 both (r2 waiting
    #     holds no block yet when r3 is routed).
    #   replica 1 at 1,510,000: r1 decode + r2 chunk 5 + r3 chunk 20: 1000 + 25 + 10 = 1035 us
    #     -> 2,545,000: r1 finishes, r2 and r3 first; 2 decodes 1020 us -> 3,565,000 (finish).
    {
        "name": "j_most_free_kv_router",
        "description": "most-free-kv: free blocks at the arrival instant; waiting requests hold none",
        "profile": STEP,
        "params": params(max_num_batched_tokens=256, replicas=2, router="most-free-kv"),
        "requests": [req(0, 0, 100, 3), req(1, 500, 10, 2), req(2, 600, 5, 2),
                     req(3, 600, 20, 2)],
        "expected": [exp(0, 1_100_000, 3_120_000, instance=0),
                     exp(1, 1_510_000, 2_545_000, instance=1),
                     exp(2, 2_545_000, 3_565_000, instance=1),
                     exp(3, 2_545_000, 3_565_000, instance=1)],
    },
    # (k) A request that has to preempt itself, and the last token of a chunked recompute
    #   counted as a decode. B = 16, N = 3. r0 (0, p 8, o 12), r1 (0, p 8, o 20).
    #   step 1 at 0: admit r0 (chunk 8, h 1, free 2, budget 8), r1 (chunk 8, h 1, free 1,
    #     budget 0): P 16: 1016 us -> 1,016,000: both first token (c 8, e 1).
    #   steps 2..9: two decodes each (contexts 8..15, one block each): 8 x 1020 us ->
    #     9,176,000 (c 16, e 9).
    #   step 10 at 9,176,000: r0 computes its 17th token: 1 new block, free 1 -> 0. r1 needs one
    #     too, free 0: the last running request is r1 itself: preempted (preemptions 1, c 0, its
    #     block freed: free 1), not scheduled, and no admission in this step. r0 decode alone:
    #     1010 us -> 10,186,000 (e 10).
    #   steps 11, 12: r0 decodes alone (r1 needs ceil((8 + 9)/16) = 2 blocks, free 1):
    #     -> 11,196,000, 12,206,000: r0 token 12 = o: finishes, frees 2 (free 3).
    #   step 13 at 12,206,000: r1 readmitted (2 <= 3 free): recompute of 8 + 9 = 17 tokens,
    #     budget 16: chunk 16 (k 0, 1 block): 1016 us -> 13,222,000 (c 16, no token).
    #   step 14: the remaining 1 token with k = 16 = p + e - 1, e >= 1: a DECODE (1010 us, not a
    #     1001 us prefill chunk), 1 new block -> 14,232,000: token 10.
    #   steps 15..24: 10 decodes x 1010 us -> 24,332,000: token 20 = o: finish.
    {
        "name": "k_self_preemption_and_recompute_tail_as_decode",
        "description": "a running request that needs a block when it is the last running one "
                       "preempts itself; the 1-token tail of its chunked recompute is a decode",
        "profile": STEP,
        "params": params(max_num_batched_tokens=16, kv_blocks=3),
        "requests": [req(0, 0, 8, 12), req(1, 0, 8, 20)],
        "expected": [exp(0, 1_016_000, 12_206_000),
                     exp(1, 1_016_000, 24_332_000, preemptions=1)],
    },
    # (l) A preempted request goes to the FRONT of the waiting queue, ahead of one that waited
    #   longer (and head-of-line blocks it). N = 3, B = 64.
    #   r0 (0, p 16, o 3), r1 (0, p 20, o 3), r2 (1 us, p 10, o 2).
    #   step 1 at 0: admit r0 (1 block, free 2), r1 (ceil(20/16) = 2, free 0): P 36: 1036 us ->
    #     1,036,000: r0, r1 first token. r2 arrived at 1,000 ns: waiting (free 0).
    #   step 2 at 1,036,000: r0's 17th token needs a block, free 0: preempt r1 (free 2,
    #     waiting [r1, r2]); r0 takes 1 (free 1). r0 decode alone: 1010 us -> 2,046,000.
    #   step 3: r0 decode; admission: r1 first needs ceil((20 + 1)/16) = 2 > 1: stop (r2, which
    #     needs 1, is not admitted). 1010 us -> 3,056,000: r0 finishes (free 3).
    #   step 4 at 3,056,000: admit r1 (recompute 21 tokens, 2 blocks, free 1), then r2 (10
    #     tokens, 1 block, free 0): P 31: 1031 us -> 4,087,000: r1 token 2, r2 first token.
    #   step 5: r1 decode + r2 decode: 1020 us -> 5,107,000: both finish.
    #   (With the victim at the BACK of the queue, r2 would be admitted in step 3.)
    {
        "name": "l_preempted_request_goes_to_the_front",
        "description": "a preempted request is pushed to the front of the waiting queue and "
                       "blocks a later-arrived one that would fit",
        "profile": STEP,
        "params": params(kv_blocks=3),
        "requests": [req(0, 0, 16, 3), req(1, 0, 20, 3), req(2, 1, 10, 2)],
        "expected": [exp(0, 1_036_000, 3_056_000),
                     exp(1, 1_036_000, 5_107_000, preemptions=1),
                     exp(2, 4_087_000, 5_107_000)],
    },
    # (m) The victim is the most recently admitted running request (the tail of the running
    #   list), not the one after the request that needs a block. N = 3, B = 64.
    #   r0 (0, p 16, o 3), r1 (0, p 4, o 3), r2 (0, p 4, o 2).
    #   step 1 at 0: admit all three, one block each (free 0): P 24: 1024 us -> 1,024,000:
    #     all first token (c 16, 4, 4).
    #   step 2: r0's 17th token needs a block, free 0: preempt the tail r2 (free 1), r0 takes it
    #     (free 0); r1 (context 4 -> 5) needs none. 2 decodes: 1020 us -> 2,044,000.
    #   step 3: r0, r1 decode (r2 needs ceil((4 + 1)/16) = 1 block, free 0): 1020 us ->
    #     3,064,000: r0 and r1 finish (free 3).
    #   step 4 at 3,064,000: r2 recomputes its 4 + 1 = 5 tokens in one chunk: 1005 us ->
    #     4,069,000: token 2 = o: finish (first token kept at 1,024,000).
    {
        "name": "m_victim_is_the_last_admitted",
        "description": "preemption takes the most recently admitted running request",
        "profile": STEP,
        "params": params(kv_blocks=3),
        "requests": [req(0, 0, 16, 3), req(1, 0, 4, 3), req(2, 0, 4, 2)],
        "expected": [exp(0, 1_024_000, 3_064_000),
                     exp(1, 1_024_000, 3_064_000),
                     exp(2, 1_024_000, 4_069_000, preemptions=1)],
    },
]


def fixture_doc():
    return {
        "about": "Hand-computed cases of the LLM replica rules (docs/llm.md); the arithmetic of "
                 "each is in benches/test_reference_llm.py. Times in ns; arrival_us in us. "
                 "Step model in us: c0 + dense(T) + p0*chunks + p1*P + p2*Q + d0 + d1*D + "
                 "d2*K + s0 + s1*S. Rewrite with: python3 benches/test_reference_llm.py "
                 "--write-fixture",
        "cases": CASES,
    }


def generated_fixtures():
    """{file name: bytes} of the generated cross-check: the workload, each run's expected
    results (by the reference) and the manifest generated.json."""
    rows = ref.gen_rows(GEN_N, GEN_SEED, "Llama-3.1-8B", GEN_GAP_US)
    buf = io.StringIO()
    ref.write_gen(rows, None, buf)
    files = {GEN_WORKLOAD: buf.getvalue()}
    runs = []
    for gpu, replicas, router in GEN_RUNS:
        _, step, prm = load_ref_profile(gpu)
        reqs = [ref.Request(i, r["arrival_us"] * 1000, r["prompt_tokens"], r["output_tokens"])
                for i, r in enumerate(rows)]
        stats = ref.simulate(reqs, step, prm, replicas, router)
        res = ref.result_rows(reqs)
        name = f"gen-s1-3000.{gpu}.r{replicas}.{router}.expected.csv"
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(SLIM)
        for r in res:
            w.writerow(["" if r[c] is None else str(r[c]).lower() for c in SLIM])
        files[name] = out.getvalue()
        runs.append({
            "profile": "ref_profile.toml", "gpu": gpu, "model": "Llama-3.1-8B",
            "max_num_seqs": prm["max_num_seqs"],
            "max_num_batched_tokens": prm["max_num_batched_tokens"],
            "block_size": prm["block_size"], "kv_blocks": prm["kv_blocks"],
            "replicas": replicas, "router": router, "expected": name,
            "steps": stats["steps"], "preemptions": sum(r["preemptions"] for r in res),
            "self_preemptions": stats["self_preemptions"],
            "refused": sum(r["refused"] for r in res),
        })
    manifest = {
        "about": "Generated cross-check of the LLM replica (docs/llm.md): the workload "
                 f"{GEN_WORKLOAD} (python3 benches/reference_llm.py --gen {GEN_N} --seed "
                 f"{GEN_SEED}) replayed under each run's parameters; 'expected' holds every "
                 "request's results by benches/reference_llm.py (ids = row index of the "
                 "workload). Rewrite with: python3 benches/test_reference_llm.py --write-fixture",
        "workload": GEN_WORKLOAD,
        "runs": runs,
    }
    files["generated.json"] = json.dumps(manifest, indent=1) + "\n"
    return files


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          input=stdin)


class HandCases(unittest.TestCase):
    def test_each_hand_case(self):
        for case in CASES:
            with self.subTest(case=case["name"]):
                got = {r["id"]: r for r in ref.run_case(case)}
                self.assertEqual(len(got), len(case["expected"]))
                for e in case["expected"]:
                    g = {k: got[e["id"]][k] for k in e}
                    self.assertEqual(g, e, f"request {e['id']}")

    def test_fixture_holds_exactly_these_cases(self):
        with open(FIXTURE) as f:
            self.assertEqual(json.load(f), json.loads(json.dumps(fixture_doc())))

    def test_cli_checks_the_fixture(self):
        p = run_cli("--hand-cases", FIXTURE)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("0 mismatches", p.stdout)

    def test_a_wrong_expectation_is_caught(self):
        doc = copy.deepcopy(fixture_doc())
        doc["cases"][2]["expected"][1]["finish_ns"] += 1
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "cases.json")
            with open(path, "w") as f:
                json.dump(doc, f)
            p = run_cli("--hand-cases", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("c_preemption_by_recompute: request 1: finish_ns = 17243000, "
                      "expected 17243001", p.stdout)


class GeneratedFixtures(unittest.TestCase):
    def test_generated_fixtures_are_the_references_output(self):
        for name, text in generated_fixtures().items():
            with self.subTest(file=name):
                with open(os.path.join(FIXDIR, name)) as f:
                    self.assertEqual(f.read(), text)

    def test_the_cli_writes_the_same_workload(self):
        p = run_cli("--gen", str(GEN_N), "--seed", str(GEN_SEED))
        with open(os.path.join(FIXDIR, GEN_WORKLOAD)) as f:
            self.assertEqual(p.stdout, f.read())


class StepTime(unittest.TestCase):
    def test_every_term_in_order(self):
        # chunks (n, k) = (10, 5), (3, 0); decodes with k = 7, 20.
        # P = 13, Np = 2, D = 2, T = 15, S = 4, Q = 10*(2*5+10) + 3*(0+3) = 209, K = 8 + 21 = 29.
        # us = 100 + dense(15) = 100 + 150 (halfway 10..20) = 250; + 2*2 = 254; + 0.5*13 = 260.5;
        # + 0.25*209 = 312.75; + 3 = 315.75; + 4*2 = 323.75; + 0.5*29 = 338.25; + 1 = 339.25;
        # + 0.25*4 = 340.25 us = 340,250 ns.
        m = ref.StepModel({"c0": 100, "dense": [[10, 100.0], [20, 200.0]], "p0": 2, "p1": 0.5,
                           "p2": 0.25, "d0": 3, "d1": 4, "d2": 0.5, "s0": 1, "s1": 0.25})
        self.assertEqual(m.ns([(10, 5), (3, 0)], [7, 20]), 340_250)
        # d0 only when there is a decode. One chunk (10, 5) alone: T = P = 10, Q = 10*20 = 200,
        # S = 1: 100 + dense(10) = 100 -> 200; + 2*1 = 202; + 0.5*10 = 207; + 0.25*200 = 257;
        # + 0 (no decode) + 0 + 0; + 1 = 258; + 0.25*1 = 258.25 us.
        self.assertEqual(m.ns([(10, 5)], []), 258_250)

    def test_dense_table(self):
        m = ref.StepModel({"dense": [[10, 100.0], [20, 200.0], [40, 240.0]]})
        self.assertEqual(m.dense(1), 100.0)  # below the first point: y0
        self.assertEqual(m.dense(10), 100.0)
        self.assertEqual(m.dense(15), 150.0)  # 100 + 5 * 100 / 10
        self.assertEqual(m.dense(20), 200.0)
        self.assertEqual(m.dense(30), 220.0)  # 200 + 10 * 40 / 20
        self.assertEqual(m.dense(60), 280.0)  # beyond: 240 + 20 * 40 / 20
        self.assertEqual(ref.StepModel({"dense": [[8, 50.0]]}).dense(100), 50.0)
        self.assertEqual(ref.StepModel({}).dense(100), 0.0)

    def test_rounding_and_floor_of_one_ns(self):
        self.assertEqual(ref.StepModel({"c0": 0.25}).ns([], [1]), 250)
        self.assertEqual(ref.StepModel({"c0": 0.0}).ns([], [1]), 1)  # at least 1 ns
        self.assertEqual(ref.StepModel({"c0": -5.0}).ns([], [1]), 1)
        # 0.0015 us: 1.5 ns + 0.5 = 2.0 -> 2 (half rounds up); 0.0014 us: 1.4 + 0.5 -> 1
        self.assertEqual(ref.StepModel({"c0": 0.0015}).ns([], [1]), 2)  # 1.5 + 0.5 -> 2
        self.assertEqual(ref.StepModel({"c0": 0.0014}).ns([], [1]), 1)


def load_ref_profile(gpu="REFGPU"):
    row, step, where = ref.load_profile(REF_PROFILE, gpu=gpu)

    class A:
        max_num_seqs = max_num_batched_tokens = block_size = kv_blocks = None
        gpu_memory_utilization = 0.9

    return row, step, ref.params_from(row, where, A)


class Generated(unittest.TestCase):
    """The generated workload: reproducible, loaded enough to preempt and refuse, and the run
    keeps the invariants stated in closed form (conservation, causality, the refusal rule)."""

    def test_gen_is_reproducible(self):
        a = run_cli("--gen", "200", "--seed", "7")
        b = run_cli("--gen", "200", "--seed", "7")
        c = run_cli("--gen", "200", "--seed", "8")
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(a.stdout, b.stdout)
        self.assertNotEqual(a.stdout, c.stdout)
        self.assertTrue(a.stdout.startswith("arrival_us,model,prompt_tokens,output_tokens\n"))
        self.assertEqual(a.stdout.count("\n"), 201)

    def test_generated_run_preempts_refuses_and_keeps_invariants(self):
        rows = ref.gen_rows(2000, 1, "Llama-3.1-8B", 9000)
        for gpu in ("REFGPU", "REFGPU-INT"):
            for replicas, router in ((1, "round-robin"), (2, "least-tokens"),
                                     (3, "most-free-kv")):
                with self.subTest(gpu=gpu, replicas=replicas, router=router):
                    _, step, prm = load_ref_profile(gpu)
                    reqs = [ref.Request(i, r["arrival_us"] * 1000, r["prompt_tokens"],
                                        r["output_tokens"]) for i, r in enumerate(rows)]
                    ref.simulate(reqs, step, prm, replicas, router)
                    n_blocks, bs = prm["kv_blocks"], prm["block_size"]
                    self.assertGreater(sum(r.preemptions for r in reqs), 100)
                    refused = [r for r in reqs if r.refused]
                    self.assertGreater(len(refused), 5)
                    for r in reqs:
                        too_long = (r.p + r.o - 1 + bs - 1) // bs > n_blocks
                        self.assertEqual(r.refused, too_long)
                        if r.refused:
                            self.assertIsNone(r.first)
                            self.assertIsNone(r.instance)
                            continue
                        self.assertTrue(0 <= r.instance < replicas)
                        self.assertEqual((r.e, r.h), (r.o, 0))
                        self.assertLess(r.arrival_ns, r.first)
                        self.assertLessEqual(r.first, r.finish)
                        if r.o == 1:
                            self.assertEqual(r.first, r.finish)
                    if router == "round-robin":
                        # The routed requests in arrival order take turns; refused ones take none.
                        order = [r for r in sorted(reqs, key=lambda r: r.arrival_ns)
                                 if not r.refused]
                        self.assertTrue(all(r.instance == i % replicas
                                            for i, r in enumerate(order)))


class Cli(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.TemporaryDirectory()
        self.trace = os.path.join(self.d.name, "w.csv")
        p = run_cli("--gen", "300", "--seed", "3", "--out", self.trace)
        self.assertEqual(p.returncode, 0, p.stderr)

    def tearDown(self):
        self.d.cleanup()

    def test_check_passes_on_its_own_output_and_names_the_first_mismatch(self):
        out = os.path.join(self.d.name, "ref.csv")
        args = [self.trace, "--profile", REF_PROFILE, "--gpu", "REFGPU", "--replicas", "2",
                "--router", "least-tokens"]
        p = run_cli(*args, "--out", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(*args, "--check", out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("all 300 requests equal", p.stdout)
        with open(out) as f:
            rows = list(csv.DictReader(f))
        victim = next(r for r in rows if r["refused"] == "false" and int(r["id"]) > 10)
        victim["finish_ns"] = str(int(victim["finish_ns"]) + 1)
        bad = os.path.join(self.d.name, "bad.csv")
        with open(bad, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        p = run_cli(*args, "--check", bad)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"first mismatch: request {victim['id']} ", p.stdout)
        self.assertIn("finish_ns", p.stdout)

    def test_parquet_trace_and_queries(self):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            self.skipTest("no pyarrow")
        pqt = os.path.join(self.d.name, "w.parquet")
        self.assertEqual(run_cli("--gen", "300", "--seed", "3", "--out", pqt).returncode, 0)
        args = ["--profile", REF_PROFILE, "--gpu", "REFGPU-INT", "--replicas", "2"]
        a = run_cli(self.trace, *args)
        b = run_cli(pqt, *args)
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(a.stdout, b.stdout)
        # A queries.parquet as the contract (section 5) writes it: nullable int64 times.
        rows = list(csv.DictReader(io.StringIO(a.stdout)))

        def ints(c):
            return pa.array([int(r[c]) if r[c] else None for r in rows], pa.int64())

        tab = pa.table({
            "id": ints("id"), "model": pa.array(["Llama-3.1-8B"] * len(rows)),
            "arrival_ns": ints("arrival_ns"), "first_token_ns": ints("first_token_ns"),
            "finish_ns": ints("finish_ns"), "prompt_tokens": ints("prompt_tokens"),
            "output_tokens": ints("output_tokens"), "preemptions": ints("preemptions"),
            "instance": ints("instance"),
            "refused": pa.array([r["refused"] == "true" for r in rows]),
        })
        q = os.path.join(self.d.name, "queries.parquet")
        pq.write_table(tab, q)
        p = run_cli(pqt, *args, "--check", q)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = run_cli(pqt, "--profile", REF_PROFILE, "--gpu", "REFGPU-INT", "--check", q)
        self.assertEqual(p.returncode, 1)  # one replica: other times and instances
        self.assertIn("first mismatch: request", p.stdout)

    def test_bad_input_names_file_row_and_column(self):
        bad = os.path.join(self.d.name, "bad.csv")
        with open(bad, "w") as f:
            f.write("arrival_us,model,prompt_tokens,output_tokens\n0,Llama-3.1-8B,5,3\n"
                    "10,Llama-3.1-8B,0,3\n")
        p = run_cli(bad, "--profile", REF_PROFILE, "--gpu", "REFGPU")
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"{bad}: row 1, column 'prompt_tokens'", p.stderr)
        with open(bad, "w") as f:
            f.write("arrival_us,model,prompt_tokens,output_tokens\n0,Llama-3.1-8B,5,2000000\n")
        p = run_cli(bad, "--profile", REF_PROFILE, "--gpu", "REFGPU")
        self.assertEqual(p.returncode, 2)
        self.assertIn("row 0, column 'output_tokens': 2000000 is outside", p.stderr)
        p = run_cli(bad, "--profile", REF_PROFILE)  # two rows match
        self.assertEqual(p.returncode, 2)
        self.assertIn("2 [[profile]] rows match", p.stderr)

    def test_kv_blocks_from_memory(self):
        # ref_profile with kv_blocks 0: floor((1 * 48 GiB * 0.9 - 16,060,522,496) /
        # (16 * 131,072)) = floor((46,385,646,796.8 - 16,060,522,496) / 2,097,152)
        # = floor(30,325,124,300.8 / 2,097,152) = floor(14,460.15) = 14,460 blocks.
        row, _, _ = load_ref_profile()
        self.assertEqual(ref.kv_blocks_from_memory(row, 16, 0.9, "x"), 14_460)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-fixture"]:
        with open(FIXTURE, "w") as f:
            json.dump(fixture_doc(), f, indent=1)
            f.write("\n")
        print(f"wrote {FIXTURE}")
        for name, text in generated_fixtures().items():
            with open(os.path.join(FIXDIR, name), "w") as f:
                f.write(text)
            print(f"wrote {os.path.join(FIXDIR, name)}")
    else:
        unittest.main()
