//! One model replica stepping as vLLM's v1 scheduler does (synchronous mode): a token budget
//! per step, `max_num_seqs`, chunked prefill with decodes riding along, KV blocks allocated as
//! tokens are computed, preemption by recompute of the most recently admitted request, and
//! first-come-first-served admission only in steps without a preemption. `docs/llm.md` states
//! each rule with the line of vLLM 0.19 it follows.
//!
//! The replica owns its queues; the requests' token state lives in [`Requests`], shared by all
//! replicas of a replay and indexed by the request's position in the sorted trace.

use super::step::StepContent;
use crate::error::{Error, Result};
use std::collections::VecDeque;

/// `Requests::first` / `finish` of a request that has not reached it (or was refused).
pub const NONE: u64 = u64::MAX;

/// Every request's token state, one entry per request (structure of arrays).
pub struct Requests {
    /// Prompt tokens.
    pub p: Vec<u32>,
    /// Output tokens (known to the engine, which must know when a request ends; routers that
    /// are not oracles never read it).
    pub o: Vec<u32>,
    /// Tokens whose KV is computed (prompt and emitted tokens; reset to 0 by a preemption).
    pub c: Vec<u32>,
    /// Output tokens emitted so far (kept across a preemption).
    pub e: Vec<u32>,
    /// KV blocks held.
    pub h: Vec<u32>,
    /// Times preempted.
    pub preemptions: Vec<u32>,
    /// When the first token was emitted ([`NONE`]: not yet, or refused).
    pub first: Vec<u64>,
    /// When the last token was emitted ([`NONE`]: not yet, or refused).
    pub finish: Vec<u64>,
    /// When the previous token was emitted (inter-token gaps).
    pub last_token: Vec<u64>,
}

impl Requests {
    pub fn new(prompt: &[u32], output: &[u32]) -> Requests {
        let n = prompt.len();
        Requests {
            p: prompt.to_vec(),
            o: output.to_vec(),
            c: vec![0; n],
            e: vec![0; n],
            h: vec![0; n],
            preemptions: vec![0; n],
            first: vec![NONE; n],
            finish: vec![NONE; n],
            last_token: vec![NONE; n],
        }
    }
}

/// The engine settings of a replica (vLLM's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Tokens computed per step at most (`max_num_batched_tokens`).
    pub max_num_batched_tokens: u32,
    /// Requests running at once at most (`max_num_seqs`).
    pub max_num_seqs: u32,
    /// Tokens per KV block (`block_size`).
    pub block_size: u32,
    /// Usable KV blocks.
    pub kv_blocks: u32,
}

impl Limits {
    /// Blocks that hold `tokens` tokens.
    #[inline(always)]
    pub fn blocks(&self, tokens: u32) -> u32 {
        tokens.div_ceil(self.block_size)
    }

    /// Whether a request of prompt `p` and output `o` can ever complete: its context at its
    /// last step, `p + o - 1` tokens, fits the cache.
    pub fn can_serve(&self, p: u32, o: u32) -> bool {
        self.blocks(p + o - 1) <= self.kv_blocks
    }
}

/// Something a step did, for the inter-token statistics: tokens emitted at the step's end
/// whose previous token came at the step's start (`steady`, one gap of the step's length
/// each), and the other gaps one by one.
#[derive(Debug, Default)]
pub struct Emitted {
    pub steady: u64,
    pub gaps: Vec<u64>,
}

/// One replica: its queues, its free blocks, the step it runs.
pub struct Replica {
    pub limits: Limits,
    /// Free KV blocks.
    pub free: u32,
    /// Waiting requests, the head first (preempted requests are put back at the head).
    waiting: VecDeque<u32>,
    /// Running requests in admission order (the last is the first preempted).
    running: Vec<u32>,
    /// The step in flight: (request, tokens, tokens computed before).
    step: Vec<(u32, u32, u32)>,
    /// When the step in flight started.
    step_start: u64,
    /// Outstanding tokens: the sum over unfinished requests of prompt + emitted - computed
    /// (what `least-tokens` routing reads).
    pub outstanding: u64,
    /// Unfinished requests routed here.
    pub requests: u32,
    /// Steps run, tokens computed, preemptions.
    pub steps: u64,
    pub tokens: u64,
    pub preemptions: u64,
    /// Most blocks in use at once, and the integral of blocks in use over time (block-ns).
    pub peak_blocks: u32,
    pub block_ns: u128,
    /// Time a step was running.
    pub busy_ns: u64,
}

impl Replica {
    pub fn new(limits: Limits) -> Replica {
        Replica {
            limits,
            free: limits.kv_blocks,
            waiting: VecDeque::new(),
            running: Vec::new(),
            step: Vec::new(),
            step_start: 0,
            outstanding: 0,
            requests: 0,
            steps: 0,
            tokens: 0,
            preemptions: 0,
            peak_blocks: 0,
            block_ns: 0,
            busy_ns: 0,
        }
    }

    /// When the step in flight (or the last one) started.
    #[inline]
    pub fn step_start(&self) -> u64 {
        self.step_start
    }

    /// Whether a step is in flight.
    #[inline]
    pub fn busy(&self) -> bool {
        !self.step.is_empty()
    }

    /// A request routed here joins the waiting queue's tail.
    pub fn enqueue(&mut self, r: u32, q: &Requests) {
        self.waiting.push_back(r);
        self.outstanding += u64::from(q.p[r as usize]);
        self.requests += 1;
    }

    /// Schedule a step at `now` (the replica is idle): what it computes, per vLLM's rules.
    /// `None`: nothing to run (the replica stays idle).
    pub fn schedule(&mut self, q: &mut Requests, now: u64) -> Result<Option<StepContent>> {
        debug_assert!(self.step.is_empty());
        let lim = self.limits;
        let mut budget = lim.max_num_batched_tokens;
        let mut preempted = false;
        let mut content = StepContent::default();
        // 1. Running requests, in admission order.
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let r = self.running[i] as usize;
            let n = (q.p[r] + q.e[r] - q.c[r]).min(budget);
            let need = lim.blocks(q.c[r] + n) - q.h[r];
            let mut itself = false;
            while self.free < need {
                let v = self.running.pop().expect("r itself is running") as usize;
                self.free += q.h[v];
                self.outstanding += u64::from(q.c[v]);
                q.h[v] = 0;
                q.c[v] = 0;
                q.preemptions[v] += 1;
                self.preemptions += 1;
                self.waiting.push_front(v as u32);
                preempted = true;
                if v == r {
                    itself = true;
                    break;
                }
            }
            if itself {
                break;
            }
            q.h[r] += need;
            self.free -= need;
            budget -= n;
            self.take(&mut content, q, r, n);
            i += 1;
        }
        // 2. Waiting requests, first come first served, only without a preemption.
        if !preempted {
            while budget > 0 && (self.running.len() as u32) < lim.max_num_seqs {
                let Some(&r) = self.waiting.front() else {
                    break;
                };
                let r = r as usize;
                debug_assert_eq!(q.c[r], 0);
                if self.free < lim.blocks(q.p[r] + q.e[r]) {
                    break;
                }
                self.waiting.pop_front();
                self.running.push(r as u32);
                let n = (q.p[r] + q.e[r]).min(budget);
                let need = lim.blocks(n);
                q.h[r] = need;
                self.free -= need;
                budget -= n;
                self.take(&mut content, q, r, n);
            }
        }
        if self.step.is_empty() {
            if !self.running.is_empty() || !self.waiting.is_empty() {
                return Err(Error::Internal(format!(
                    "a replica with {} running and {} waiting requests scheduled nothing at {now} ns",
                    self.running.len(),
                    self.waiting.len()
                )));
            }
            return Ok(None);
        }
        self.step_start = now;
        let used = lim.kv_blocks - self.free;
        self.peak_blocks = self.peak_blocks.max(used);
        Ok(Some(content))
    }

    /// Put request `r`'s `n` tokens into the step and its content.
    #[inline(always)]
    fn take(&mut self, content: &mut StepContent, q: &Requests, r: usize, n: u32) {
        let c = q.c[r];
        let e = q.e[r];
        if e >= 1 && n == 1 && c == q.p[r] + e - 1 {
            content.add_decode(u64::from(c));
        } else {
            content.add_prefill(u64::from(n), u64::from(c));
        }
        self.step.push((r as u32, n, c));
    }

    /// The step in flight ends at `t`: tokens computed, tokens emitted, requests finished.
    pub fn end_step(&mut self, q: &mut Requests, t: u64, out: &mut Emitted) {
        let used = u128::from(self.limits.kv_blocks - self.free);
        self.block_ns += used * u128::from(t - self.step_start);
        self.busy_ns += t - self.step_start;
        self.steps += 1;
        let mut finished = false;
        for &(r, n, _) in &self.step {
            let r = r as usize;
            q.c[r] += n;
            self.tokens += u64::from(n);
            self.outstanding -= u64::from(n);
            if q.c[r] != q.p[r] + q.e[r] {
                continue; // a partial prefill chunk emits nothing
            }
            q.e[r] += 1;
            if q.e[r] == 1 {
                q.first[r] = t;
            } else if q.last_token[r] == self.step_start {
                out.steady += 1;
            } else {
                out.gaps.push(t - q.last_token[r]);
            }
            q.last_token[r] = t;
            if q.e[r] == q.o[r] {
                q.finish[r] = t;
                self.free += q.h[r];
                q.h[r] = 0;
                self.requests -= 1;
                finished = true;
            } else {
                self.outstanding += 1;
            }
        }
        self.step.clear();
        if finished {
            self.running.retain(|&r| q.finish[r as usize] == NONE);
        }
    }

    /// Running and waiting requests (for the invariants at the end).
    pub fn pending(&self) -> usize {
        self.running.len() + self.waiting.len()
    }
}
