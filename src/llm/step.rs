//! The step-time model of an LLM replica: how long one engine step takes, from what the step
//! contains (its prefill chunks and the context they attend to, its decodes and the KV they
//! read). One form holds both shipped sources: LLMServingSim's per-layer tables fit it
//! ([`crate::llm::fit`]), BLIS's coefficients are a special case (`c0 = b0`, `p1 = b1`,
//! `d1 = b2`).
//!
//! The evaluation order below is part of the contract (`docs/llm-profiles.md`): the Python
//! reference evaluates the same f64 operations in the same order, so that both agree to the
//! nanosecond.

use serde::{Deserialize, Serialize};

/// What one engine step contains, as the aggregates the step-time model reads. The engine
/// accumulates them as it schedules, without allocating: [`StepContent::clear`] at the start of
/// a step, then [`StepContent::add_prefill`] for each prefill chunk and
/// [`StepContent::add_decode`] for each decode, in schedule order (the sums are integers, so
/// the order does not change them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepContent {
    /// `Np`: prefill chunks in the step.
    pub np: u64,
    /// `P`: prefill tokens, the sum of the chunks' lengths `n`.
    pub p: u64,
    /// `Q`: the sum over chunks of `n * (2k + n)` (`k`: tokens already in cache before the
    /// chunk), proportional to the attention work of a causal chunk.
    pub q: u64,
    /// `Kp`: the sum over chunks of `k`, the cached context the chunks read.
    pub kp: u64,
    /// `D`: decodes in the step (requests computing one token with their prompt done).
    pub d: u64,
    /// `K`: the sum over decodes of `k + 1` (`k`: tokens in cache before the decode), the KV
    /// the decodes read, their own token included.
    pub k: u64,
    /// `Kmax`: the largest `k + 1` over the step's decodes (0 without decodes): with `D` and
    /// `K`, how skewed their contexts are (`D * Kmax - K`, 0 when all are equal).
    pub kmax: u64,
    /// `S`: scheduled requests, `np + d`.
    pub s: u64,
    /// `T`: tokens computed in the step, `p + d`.
    pub t: u64,
}

impl StepContent {
    /// An empty step.
    pub const EMPTY: StepContent = StepContent {
        np: 0,
        p: 0,
        q: 0,
        kp: 0,
        d: 0,
        k: 0,
        kmax: 0,
        s: 0,
        t: 0,
    };

    /// Empty it for the next step.
    pub fn clear(&mut self) {
        *self = Self::EMPTY;
    }

    /// A prefill chunk of `n` tokens after `k` tokens already in cache.
    pub fn add_prefill(&mut self, n: u64, k: u64) {
        self.np += 1;
        self.p += n;
        self.q += n * (2 * k + n);
        self.kp += k;
        self.s += 1;
        self.t += n;
    }

    /// A decode with `k` tokens in cache before it.
    pub fn add_decode(&mut self, k: u64) {
        self.d += 1;
        self.k += k + 1;
        self.kmax = self.kmax.max(k + 1);
        self.s += 1;
        self.t += 1;
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.s == 0
    }
}

/// The step-time model, in microseconds (`[profile.step]` of `profiles/llm.toml`). Every
/// coefficient defaults to 0, so a source fills only the terms it has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepModel {
    /// Per step.
    #[serde(default)]
    pub c0: f64,
    /// Piecewise-linear in `T` (tokens in the step): points `[x, y]`, `x` strictly increasing;
    /// empty = no dense term. Linear extrapolation beyond the last point, the first point's
    /// `y` below the first.
    #[serde(default)]
    pub dense: Vec<[f64; 2]>,
    /// Per prefill chunk.
    #[serde(default)]
    pub p0: f64,
    /// Per prefill token.
    #[serde(default)]
    pub p1: f64,
    /// Per unit of `Q` (sum over chunks of `n * (2k + n)`).
    #[serde(default)]
    pub p2: f64,
    /// Per unit of `Kp` (sum over chunks of the cached context `k` they read).
    #[serde(default)]
    pub p3: f64,
    /// Once if the step has any decode.
    #[serde(default)]
    pub d0: f64,
    /// Per decode.
    #[serde(default)]
    pub d1: f64,
    /// Per unit of `K` (sum over decodes of `k + 1`).
    #[serde(default)]
    pub d2: f64,
    /// Once more if the step has both a prefill chunk and a decode (a mixed step).
    #[serde(default)]
    pub m0: f64,
    /// Per decode more in a mixed step.
    #[serde(default)]
    pub m1: f64,
    /// Per unit of `K` more in a mixed step.
    #[serde(default)]
    pub m2: f64,
    /// Skew (dimensionless, LLMServingSim's `alpha`): a batch of decodes with unequal contexts
    /// is slower than a uniform batch of the same total KV (FlashAttention's varlen kernel pays
    /// tile padding and SM imbalance); the step pays `skew` times the gap between the decode
    /// attention at the longest context and at the mean, `(d2 [+ m2 in a mixed step]) * (D *
    /// Kmax - K)`.
    #[serde(default)]
    pub skew: f64,
    /// Once per step (lm_head, sampler).
    #[serde(default)]
    pub s0: f64,
    /// Per scheduled request.
    #[serde(default)]
    pub s1: f64,
}

impl StepModel {
    /// The dense term at `t` tokens (0 for an empty table), exactly as the contract writes it.
    pub fn dense_us(&self, t: u64) -> f64 {
        let pts = &self.dense;
        let Some(first) = pts.first() else {
            return 0.0;
        };
        let x = t as f64;
        let last = pts[pts.len() - 1];
        if x <= first[0] {
            return first[1];
        }
        if x >= last[0] {
            if pts.len() == 1 {
                return last[1];
            }
            let prev = pts[pts.len() - 2];
            return last[1] + (x - last[0]) * (last[1] - prev[1]) / (last[0] - prev[0]);
        }
        // The m with x_m <= x < x_{m+1}: first[0] < x < last[0], so 1 <= i <= len - 1.
        let i = pts.partition_point(|p| p[0] <= x);
        let (a, b) = (pts[i - 1], pts[i]);
        a[1] + (x - a[0]) * (b[1] - a[1]) / (b[0] - a[0])
    }

    /// The step's time in microseconds, before rounding (the contract's order).
    pub fn step_us(&self, c: &StepContent) -> f64 {
        let mut us = self.c0;
        us += self.dense_us(c.t);
        us += self.p0 * c.np as f64;
        us += self.p1 * c.p as f64;
        us += self.p2 * c.q as f64;
        us += self.p3 * c.kp as f64;
        us += if c.d > 0 { self.d0 } else { 0.0 };
        us += self.d1 * c.d as f64;
        us += self.d2 * c.k as f64;
        if c.np > 0 && c.d > 0 {
            us += self.m0;
            us += self.m1 * c.d as f64;
            us += self.m2 * c.k as f64;
        }
        if c.d >= 2 {
            let per_k = if c.np > 0 { self.d2 + self.m2 } else { self.d2 };
            us += self.skew * per_k * (c.d * c.kmax - c.k) as f64;
        }
        us += self.s0;
        us += self.s1 * c.s as f64;
        us
    }

    /// The step's time in integer nanoseconds: `floor(us * 1000 + 0.5)`, at least 1.
    pub fn step_ns(&self, c: &StepContent) -> u64 {
        let ns = (self.step_us(c) * 1000.0 + 0.5).floor();
        // `as` saturates (and maps NaN to 0); a loaded profile is finite and non-negative.
        (ns as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense3() -> StepModel {
        StepModel {
            dense: vec![[1.0, 100.0], [16.0, 130.0], [64.0, 226.0]],
            ..StepModel::default()
        }
    }

    #[test]
    fn dense_interpolates_inside_clamps_below_and_extrapolates_above() {
        let m = dense3();
        // Inside: 100 + (6 - 1) * 30 / 15 = 110; 130 + (40 - 16) * 96 / 48 = 178.
        assert_eq!(m.dense_us(6), 110.0);
        assert_eq!(m.dense_us(40), 178.0);
        // At the points.
        assert_eq!(m.dense_us(1), 100.0);
        assert_eq!(m.dense_us(16), 130.0);
        assert_eq!(m.dense_us(64), 226.0);
        // Below the first point: its value.
        assert_eq!(m.dense_us(0), 100.0);
        // Above: the last slope, 2 us per token: 226 + 36 * 2 = 298.
        assert_eq!(m.dense_us(100), 298.0);
        // One point: constant.
        let one = StepModel {
            dense: vec![[8.0, 50.0]],
            ..StepModel::default()
        };
        assert_eq!(one.dense_us(1), 50.0);
        assert_eq!(one.dense_us(1000), 50.0);
        assert_eq!(StepModel::default().dense_us(7), 0.0);
    }

    #[test]
    fn each_term_counts_what_the_contract_says() {
        // A prefill chunk of 100 after 20 cached, another of 50 after 0, three decodes at
        // contexts 9, 99, 999.
        let mut c = StepContent::default();
        c.add_prefill(100, 20);
        c.add_prefill(50, 0);
        for k in [9, 99, 999] {
            c.add_decode(k);
        }
        // By hand: Q = 100 * (40 + 100) + 50 * 50 = 16_500; K = 10 + 100 + 1000.
        assert_eq!(
            c,
            StepContent {
                np: 2,
                p: 150,
                q: 16_500,
                kp: 20,
                d: 3,
                k: 1110,
                kmax: 1000,
                s: 5,
                t: 153,
            }
        );
        let unit = |f: &dyn Fn(&mut StepModel)| {
            let mut m = StepModel::default();
            f(&mut m);
            m.step_us(&c)
        };
        assert_eq!(unit(&|m| m.c0 = 1.0), 1.0);
        assert_eq!(unit(&|m| m.p0 = 1.0), 2.0);
        assert_eq!(unit(&|m| m.p1 = 1.0), 150.0);
        assert_eq!(unit(&|m| m.p2 = 1.0), 16_500.0);
        assert_eq!(unit(&|m| m.p3 = 1.0), 20.0);
        assert_eq!(unit(&|m| m.d0 = 1.0), 1.0);
        assert_eq!(unit(&|m| m.d1 = 1.0), 3.0);
        assert_eq!(unit(&|m| m.d2 = 1.0), 1110.0);
        assert_eq!(unit(&|m| m.m0 = 1.0), 1.0);
        assert_eq!(unit(&|m| m.m1 = 1.0), 3.0);
        assert_eq!(unit(&|m| m.m2 = 1.0), 1110.0);
        assert_eq!(unit(&|m| m.s0 = 1.0), 1.0);
        assert_eq!(unit(&|m| m.s1 = 1.0), 5.0);
        assert_eq!(unit(&|m| m.dense = vec![[1.0, 0.0], [201.0, 100.0]]), 76.0);
    }

    #[test]
    fn mixed_terms_only_in_a_step_with_both_kinds_and_d0_only_with_decodes() {
        let m = StepModel {
            d0: 7.0,
            m0: 1000.0,
            m1: 100.0,
            m2: 10.0,
            ..StepModel::default()
        };
        let mut pre = StepContent::default();
        pre.add_prefill(16, 0);
        assert_eq!(m.step_us(&pre), 0.0);
        let mut dec = StepContent::default();
        dec.add_decode(4);
        assert_eq!(m.step_us(&dec), 7.0);
        let mut mix = pre;
        mix.add_decode(4);
        // 7 + 1000 + 100 * 1 + 10 * 5.
        assert_eq!(m.step_us(&mix), 1157.0);
    }

    #[test]
    fn step_ns_rounds_half_up_and_is_at_least_one() {
        let mut c = StepContent::default();
        c.add_decode(0);
        let m = |c0: f64| StepModel {
            c0,
            ..StepModel::default()
        };
        assert_eq!(m(0.0625).step_ns(&c), 63); // 62.5 ns (exact in binary) -> 63
        assert_eq!(m(0.0624).step_ns(&c), 62);
        assert_eq!(m(0.0).step_ns(&c), 1);
        // A BLIS row by hand: 6472 + 19.797 * 100 + 304.402 * 3 = 9364.906 us.
        let blis = StepModel {
            c0: 6472.0,
            p1: 19.797,
            d1: 304.402,
            ..StepModel::default()
        };
        let mut s = StepContent::default();
        s.add_prefill(100, 0);
        for _ in 0..3 {
            s.add_decode(500);
        }
        assert_eq!(blis.step_ns(&s), 9_364_906);
    }
}

#[cfg(test)]
mod skew_tests {
    use super::{StepContent, StepModel};

    /// Two decodes with 9 and 29 tokens in cache read K = 10 + 30 = 40 tokens, the longest 30:
    /// D * Kmax - K = 60 - 40 = 20. With d2 = 0.5 us and skew 0.1: 0.5 * 40 = 20 us, plus
    /// 0.1 * 0.5 * 20 = 1 us of skew: 21 us. With a 4-token chunk beside them (a mixed step,
    /// m2 = 0.25): 20 + 0.25 * 40 = 30 us, plus 0.1 * (0.5 + 0.25) * 20 = 1.5 us: 31.5 us.
    /// One decode has no skew.
    #[test]
    fn skew_pays_for_unequal_decode_contexts() {
        let m = StepModel {
            d2: 0.5,
            m2: 0.25,
            skew: 0.1,
            ..StepModel::default()
        };
        let mut c = StepContent::default();
        c.add_decode(9);
        c.add_decode(29);
        assert_eq!(m.step_ns(&c), 21_000);
        c.add_prefill(4, 0);
        assert_eq!(m.step_ns(&c), 31_500);
        let mut one = StepContent::default();
        one.add_decode(29);
        assert_eq!(m.step_ns(&one), 15_000);
    }
}
