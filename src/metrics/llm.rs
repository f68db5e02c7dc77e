//! Metrics of an LLM replay, per model: time to first token (TTFT = first token - arrival),
//! time per output token (TPOT = (finish - first token) / (output tokens - 1), for requests of
//! two or more output tokens), inter-token latency (ITL: every gap between two consecutive
//! tokens of a request, a preemption's wait included), end-to-end latency (E2E = finish -
//! arrival), tokens/s, preemptions, KV use, and the SLO figures: the share of requests that met
//! every bound of their model's SLO (TTFT and TPOT), and goodput = those requests per second of
//! the replay window (first arrival to last finish). Percentiles are nearest-rank order
//! statistics over every value, exact ([`crate::stats::nearest_rank`]); ITL's from exact
//! counts of each distinct gap. A refused request (no replica of its model can ever hold it)
//! counts as a request that did not meet its SLO and has no latency.

use crate::engine::llm::{LlmOutcome, REFUSED};
use crate::error::{Error, Result};
use crate::stats::dist::{Dist, PERCENTILES};
use crate::stats::nearest_rank;
use serde::Serialize;
use std::collections::BTreeMap;

/// A model's SLO: bounds on TTFT and TPOT, in ms (either may be absent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Slo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
}

impl Slo {
    /// Parse `--slo MODEL:ttft_ms=X,tpot_ms=Y` (either key may be left out).
    pub fn parse(s: &str) -> Result<(String, Slo)> {
        let bad = |why: String| {
            Error::Usage(format!(
                "--slo '{s}': {why}; expected MODEL:ttft_ms=MS,tpot_ms=MS"
            ))
        };
        let (model, bounds) = s
            .split_once(':')
            .ok_or_else(|| bad("no ':' after the model".into()))?;
        if model.is_empty() {
            return Err(bad("no model".into()));
        }
        let mut slo = Slo::default();
        for kv in bounds.split(',') {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(format!("'{kv}' is not KEY=MS")))?;
            let x: f64 = v
                .trim()
                .parse()
                .map_err(|_| bad(format!("'{v}' is not a number")))?;
            if !(x.is_finite() && x > 0.0) {
                return Err(bad(format!("{k} must be a positive number of ms, got {v}")));
            }
            match k.trim() {
                "ttft_ms" => slo.ttft_ms = Some(x),
                "tpot_ms" => slo.tpot_ms = Some(x),
                other => return Err(bad(format!("unknown bound '{other}' (ttft_ms, tpot_ms)"))),
            }
        }
        Ok((model.to_string(), slo))
    }

    /// Whether a served request with this TTFT and TPOT (ns; TPOT `None` for one output
    /// token) meets every bound.
    pub fn met(&self, ttft_ns: u64, tpot_ns: Option<f64>) -> bool {
        self.ttft_ms.is_none_or(|b| ttft_ns as f64 <= b * 1e6)
            && match (self.tpot_ms, tpot_ns) {
                (Some(b), Some(t)) => t <= b * 1e6,
                _ => true,
            }
    }
}

/// One model's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelMetrics {
    pub requests: u64,
    pub served: u64,
    pub refused: u64,
    /// Prompt and output tokens of the served requests.
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    pub ttft: Dist,
    /// Over requests with at least two output tokens.
    pub tpot: Dist,
    pub itl: Dist,
    pub e2e: Dist,
    /// Output tokens per second of the replay window.
    pub output_tokens_per_s: f64,
    /// Prompt and output tokens per second of the replay window.
    pub tokens_per_s: f64,
    pub preemptions: u64,
    /// Requests preempted at least once.
    pub preempted_requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    /// Share of the model's requests that met every bound of its SLO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_attainment: Option<f64>,
    /// Requests that met every bound of their SLO per second of the replay window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<f64>,
}

/// One replica's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplicaMetrics {
    pub model: String,
    pub kv_blocks: u32,
    pub steps: u64,
    pub tokens: u64,
    pub preemptions: u64,
    /// Most KV blocks in use at once, as a share of the replica's blocks.
    pub kv_peak: f64,
    /// KV blocks in use averaged over the replay window, as a share.
    pub kv_mean: f64,
    /// Share of the window a step was running.
    pub busy: f64,
}

/// An LLM replay's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmMetrics {
    pub requests: u64,
    pub served: u64,
    pub refused: u64,
    /// First arrival to last finish.
    pub duration_s: f64,
    pub steps: u64,
    pub output_tokens_per_s: f64,
    /// Requests of every model that met every bound of their SLO per second; absent unless
    /// every model has an SLO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<f64>,
    pub models: BTreeMap<String, ModelMetrics>,
    pub replicas: Vec<ReplicaMetrics>,
}

/// Distribution figures of ns values (sorted in place).
pub fn dist_of(v: &mut [u64]) -> Dist {
    if v.is_empty() {
        return Dist::zero();
    }
    v.sort_unstable();
    let n = v.len();
    let sum: u128 = v.iter().map(|&x| u128::from(x)).sum();
    let at = |p: f64| v[nearest_rank(n, p) - 1] as f64 / 1e6;
    Dist {
        mean_ms: sum as f64 / n as f64 / 1e6,
        p50_ms: at(PERCENTILES[0]),
        p90_ms: at(PERCENTILES[1]),
        p95_ms: at(PERCENTILES[2]),
        p99_ms: at(PERCENTILES[3]),
        p999_ms: at(PERCENTILES[4]),
        max_ms: v[n - 1] as f64 / 1e6,
    }
}

/// Distribution figures of f64 ns values (TPOT is a ratio; sorted in place).
fn dist_of_f64(v: &mut [f64]) -> Dist {
    if v.is_empty() {
        return Dist::zero();
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    let at = |p: f64| v[nearest_rank(n, p) - 1] / 1e6;
    Dist {
        mean_ms: v.iter().sum::<f64>() / n as f64 / 1e6,
        p50_ms: at(PERCENTILES[0]),
        p90_ms: at(PERCENTILES[1]),
        p95_ms: at(PERCENTILES[2]),
        p99_ms: at(PERCENTILES[3]),
        p999_ms: at(PERCENTILES[4]),
        max_ms: v[n - 1] / 1e6,
    }
}

/// Distribution figures of counted ns values (value -> count, in increasing order).
fn dist_of_counts(c: &BTreeMap<u64, u64>) -> Dist {
    let n: u64 = c.values().sum();
    if n == 0 {
        return Dist::zero();
    }
    let sum: u128 = c.iter().map(|(&v, &k)| u128::from(v) * u128::from(k)).sum();
    let at = |p: f64| {
        let rank = nearest_rank(n as usize, p) as u64;
        let mut seen = 0;
        for (&v, &k) in c {
            seen += k;
            if seen >= rank {
                return v as f64 / 1e6;
            }
        }
        unreachable!("rank <= n")
    };
    Dist {
        mean_ms: sum as f64 / n as f64 / 1e6,
        p50_ms: at(PERCENTILES[0]),
        p90_ms: at(PERCENTILES[1]),
        p95_ms: at(PERCENTILES[2]),
        p99_ms: at(PERCENTILES[3]),
        p999_ms: at(PERCENTILES[4]),
        max_ms: *c.keys().next_back().expect("n > 0") as f64 / 1e6,
    }
}

/// TPOT of a served request in ns (`None` for one output token).
#[inline]
pub fn tpot_ns(first: u64, finish: u64, output: u32) -> Option<f64> {
    (output >= 2).then(|| (finish - first) as f64 / f64::from(output - 1))
}

/// The figures of `out`, a replay of requests with these arrivals, models (names `models`),
/// and the replicas' models `replica_model`; `slos` by model name.
pub fn compute(
    arrival_ns: &[u64],
    model: &[u32],
    models: &[String],
    replica_model: &[u32],
    out: &LlmOutcome,
    slos: &BTreeMap<String, Slo>,
) -> LlmMetrics {
    let q = &out.requests;
    let n = arrival_ns.len();
    let start = arrival_ns.first().copied().unwrap_or(0);
    let end = out.end_ns.max(start);
    let window_s = (end - start) as f64 / 1e9;
    let per_s = |x: u64| {
        if window_s > 0.0 {
            x as f64 / window_s
        } else {
            0.0
        }
    };
    let mut by_model: BTreeMap<String, ModelMetrics> = BTreeMap::new();
    let mut all_met = 0u64;
    let every_model_has_slo = models.iter().all(|m| slos.contains_key(m));
    for (m, name) in models.iter().enumerate() {
        let rows = (0..n).filter(|&r| model[r] as usize == m);
        let (mut ttft, mut e2e, mut tpot) = (Vec::new(), Vec::new(), Vec::new());
        let (mut requests, mut refused, mut pt, mut ot, mut pre, mut preq, mut met) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let slo = slos.get(name).copied();
        for r in rows {
            requests += 1;
            if out.instance[r] == REFUSED {
                refused += 1;
                continue;
            }
            pt += u64::from(q.p[r]);
            ot += u64::from(q.o[r]);
            let (a, f, l) = (arrival_ns[r], q.first[r], q.finish[r]);
            ttft.push(f - a);
            e2e.push(l - a);
            let tp = tpot_ns(f, l, q.o[r]);
            if let Some(t) = tp {
                tpot.push(t);
            }
            pre += u64::from(q.preemptions[r]);
            preq += u64::from(q.preemptions[r] > 0);
            if slo.is_some_and(|s| s.met(f - a, tp)) {
                met += 1;
            }
        }
        let itl = out.itl.get(m).cloned().unwrap_or_default();
        all_met += met;
        by_model.insert(
            name.clone(),
            ModelMetrics {
                requests,
                served: requests - refused,
                refused,
                prompt_tokens: pt,
                output_tokens: ot,
                ttft: dist_of(&mut ttft),
                tpot: dist_of_f64(&mut tpot),
                itl: dist_of_counts(&itl),
                e2e: dist_of(&mut e2e),
                output_tokens_per_s: per_s(ot),
                tokens_per_s: per_s(pt + ot),
                preemptions: pre,
                preempted_requests: preq,
                slo,
                slo_attainment: slo.map(|_| {
                    if requests > 0 {
                        met as f64 / requests as f64
                    } else {
                        0.0
                    }
                }),
                goodput_rps: slo.map(|_| per_s(met)),
            },
        );
    }
    let replicas = out
        .replicas
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let kv = f64::from(r.limits.kv_blocks);
            let span = (end - start) as f64;
            ReplicaMetrics {
                model: models[replica_model[i] as usize].clone(),
                kv_blocks: r.limits.kv_blocks,
                steps: r.steps,
                tokens: r.tokens,
                preemptions: r.preemptions,
                kv_peak: f64::from(r.peak_blocks) / kv,
                kv_mean: if span > 0.0 {
                    r.block_ns as f64 / kv / span
                } else {
                    0.0
                },
                busy: if span > 0.0 {
                    r.busy_ns as f64 / span
                } else {
                    0.0
                },
            }
        })
        .collect();
    let served = out.instance.iter().filter(|&&i| i != REFUSED).count() as u64;
    let ot: u64 = by_model.values().map(|m| m.output_tokens).sum();
    LlmMetrics {
        requests: n as u64,
        served,
        refused: n as u64 - served,
        duration_s: window_s,
        steps: out.replicas.iter().map(|r| r.steps).sum(),
        output_tokens_per_s: per_s(ot),
        goodput_rps: every_model_has_slo.then(|| per_s(all_met)),
        models: by_model,
        replicas,
    }
}
