//! Validation of the LLM replay against a real vLLM run: replay the run's requests (arrivals
//! on the engine clock, prompt and output lengths) on one replica with the run's engine
//! settings (`meta.json`: `max_num_seqs`, `max_num_batched_tokens`, `tensor_parallel_size`)
//! from a profile that was NOT fitted to the run, and set the replay's TTFT, TPOT and E2E
//! (mean, p50, p90, p99) beside the real run's, computed from its per-request timestamps the
//! same way, and beside LLMServingSim's own prediction of the run (`summary.txt`), when the
//! run directory has one.

use super::llm::{LlmReplay, LlmScenario, replay};
use crate::error::{Error, Result};
use crate::llm::params::LlmParams;
use crate::llm::profile::LlmProfiles;
use crate::metrics::llm::dist_of;
use crate::policy::router::LlmPolicy;
use crate::stats::dist::Dist;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The targets: every mean within 5 %, every p90 and p99 within 10 % of the real run.
pub const MEAN_TARGET: f64 = 0.05;
pub const TAIL_TARGET: f64 = 0.10;

/// One figure: the real run's, the replay's, and LLMServingSim's (when known), in ms.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// `TTFT mean`, `TPOT p90`, ...
    pub metric: String,
    pub real_ms: f64,
    pub replay_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llmservingsim_ms: Option<f64>,
    /// The replay's target (relative), if this figure has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
}

impl Row {
    pub fn error(&self) -> f64 {
        self.replay_ms / self.real_ms - 1.0
    }
    pub fn meets(&self) -> bool {
        self.target.is_none_or(|t| self.error().abs() <= t)
    }
}

/// A validation of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub run: String,
    pub model: String,
    pub gpu: String,
    pub tp: u32,
    pub requests: usize,
    pub max_num_seqs: u32,
    pub max_num_batched_tokens: u32,
    pub kv_blocks: u32,
    pub rows: Vec<Row>,
    pub steps: u64,
    pub preemptions: u64,
    /// The replay's wall time (excluded from comparisons of outputs).
    #[serde(skip)]
    pub replay_s: f64,
}

impl Validation {
    pub fn meets_targets(&self) -> bool {
        self.rows.iter().all(Row::meets)
    }

    /// The side-by-side table.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} on {} (tp {}): {} requests, max_num_seqs {}, max_num_batched_tokens {}, {} KV blocks; replay: {} steps, {} preemptions\n",
            self.model,
            self.gpu,
            self.tp,
            self.requests,
            self.max_num_seqs,
            self.max_num_batched_tokens,
            self.kv_blocks,
            self.steps,
            self.preemptions
        );
        s += &format!(
            "  {:<10} {:>11} {:>11} {:>8} {:>14} {:>8}  {}\n",
            "metric", "real ms", "replay ms", "error", "LLMServingSim", "error", "target"
        );
        for r in &self.rows {
            let sim = match r.llmservingsim_ms {
                Some(x) => format!("{:>14.1} {:>7.1}%", x, (x / r.real_ms - 1.0) * 100.0),
                None => format!("{:>14} {:>8}", "-", "-"),
            };
            let target = match r.target {
                Some(t) => format!(
                    "{} {:.0}%",
                    if r.meets() {
                        "ok   within"
                    } else {
                        "MISS within"
                    },
                    t * 100.0
                ),
                None => String::new(),
            };
            s += &format!(
                "  {:<10} {:>11.1} {:>11.1} {:>7.1}% {sim}  {target}\n",
                r.metric,
                r.real_ms,
                r.replay_ms,
                r.error() * 100.0
            );
        }
        s += &format!(
            "  targets (means within {:.0} %, p90 and p99 within {:.0} %): {}\n",
            MEAN_TARGET * 100.0,
            TAIL_TARGET * 100.0,
            if self.meets_targets() {
                "met"
            } else {
                "MISSED"
            }
        );
        s
    }
}

/// The real run's per-request times, ns on the engine clock: (queued, first token, last token,
/// output tokens).
fn real_times(dir: &Path) -> Result<Vec<(f64, f64, f64, u32)>> {
    let path = dir.join("requests.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut v = Vec::new();
    for (k, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let j: serde_json::Value = serde_json::from_str(l)
            .map_err(|e| Error::file(&path, format!("line {}: not JSON ({e})", k + 1)))?;
        let f = |key: &str| {
            j.get(key)
                .and_then(|x| x.as_f64())
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    Error::column(
                        &path,
                        key,
                        format!("line {}: missing or not a number", k + 1),
                    )
                })
        };
        let o = f("output_toks")?;
        v.push((
            f("queued_ts")? * 1e9,
            f("first_token_ts")? * 1e9,
            f("last_token_ts")? * 1e9,
            o as u32,
        ));
    }
    Ok(v)
}

/// The real run's TTFT and TPOT (ms) of every request (TPOT for two or more output tokens).
pub fn real_ttft_tpot_ms(dir: &Path) -> Result<(Vec<f64>, Vec<f64>)> {
    let real = real_times(dir)?;
    Ok((
        real.iter().map(|r| (r.1 - r.0) / 1e6).collect(),
        real.iter()
            .filter(|r| r.3 >= 2)
            .map(|r| (r.2 - r.1) / f64::from(r.3 - 1) / 1e6)
            .collect(),
    ))
}

/// LLMServingSim's prediction in `summary.txt` (`TTFT Mean  7097.2  6815.7  -4.0%`): figure
/// name (`TTFT mean`, `TPOT p90`, `E2E p99`, ...) -> its simulated ms.
fn llmservingsim(dir: &Path) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(dir.join("summary.txt")) else {
        return m;
    };
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() != 5 {
            continue;
        }
        let what = match w[0] {
            "TTFT" => "TTFT",
            "TPOT" => "TPOT",
            "Latency" => "E2E",
            _ => continue,
        };
        let stat = match w[1] {
            "Mean" => "mean",
            "Median" => "p50",
            "P90" => "p90",
            "P99" => "p99",
            _ => continue,
        };
        if let Ok(x) = w[3].parse::<f64>() {
            m.insert(format!("{what} {stat}"), x);
        }
    }
    m
}

/// Distribution of f64 ns values, exact nearest rank (as the replay's).
fn dist_f64(mut v: Vec<f64>) -> Dist {
    // Whole nanoseconds are far below any difference that matters here; the replay's TTFT and
    // E2E are integers, its TPOT a ratio, both summarised by the same rule.
    let mut ns: Vec<u64> = v.drain(..).map(|x| x.max(0.0).round() as u64).collect();
    dist_of(&mut ns)
}

/// Validate against the run in `dir` with the profile of its model on `gpu` in `profiles`.
pub fn validate(
    dir: &Path,
    profiles: &LlmProfiles,
    gpu: Option<&str>,
) -> Result<(Validation, LlmReplay)> {
    let (trace, _) = crate::trace::import::vllm_run(dir, None)?;
    let meta_path = dir.join("meta.json");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?,
    )
    .map_err(|e| Error::file(&meta_path, format!("not JSON: {e}")))?;
    let kw = |k: &str| {
        meta.get("engine_kwargs")
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_u64())
            .filter(|v| (1..=1 << 30).contains(v))
            .ok_or_else(|| {
                Error::column(
                    &meta_path,
                    &format!("engine_kwargs.{k}"),
                    "missing or not a positive integer",
                )
            })
    };
    let (seqs, budget, tp) = (
        kw("max_num_seqs")? as u32,
        kw("max_num_batched_tokens")? as u32,
        kw("tensor_parallel_size")? as u32,
    );
    let model = trace.models[0].clone();
    let gpu = match gpu {
        Some(g) => g.to_string(),
        None => {
            // The one profile of this model at this tensor parallelism.
            let found: Vec<_> = profiles
                .profiles
                .iter()
                .filter(|p| p.model == model && p.tp == tp)
                .collect();
            match found.as_slice() {
                [p] => p.gpu.clone(),
                _ => {
                    return Err(Error::Usage(format!(
                        "{}: {} profiles of {model} at tp {tp}; name the GPU with --gpu",
                        profiles.path.display(),
                        found.len()
                    )));
                }
            }
        }
    };
    let params = LlmParams {
        max_num_seqs: Some(seqs),
        max_num_batched_tokens: Some(budget),
        ..LlmParams::defaults()
    };
    let s = LlmScenario {
        trace: &trace,
        profiles,
        gpu: gpu.clone(),
        gpus: tp as usize,
        policy: LlmPolicy::fcfs(),
        params,
        slos: BTreeMap::new(),
    };
    let t0 = std::time::Instant::now();
    let r = replay(&s)?;
    let replay_s = t0.elapsed().as_secs_f64();
    let real = real_times(dir)?;
    let ttft = dist_f64(real.iter().map(|r| r.1 - r.0).collect());
    let e2e = dist_f64(real.iter().map(|r| r.2 - r.0).collect());
    let tpot = dist_f64(
        real.iter()
            .filter(|r| r.3 >= 2)
            .map(|r| (r.2 - r.1) / f64::from(r.3 - 1))
            .collect(),
    );
    let m = &r.metrics.models[&model];
    let sim = llmservingsim(dir);
    let mut rows = Vec::new();
    for (what, real, ours) in [
        ("TTFT", &ttft, &m.ttft),
        ("TPOT", &tpot, &m.tpot),
        ("E2E", &e2e, &m.e2e),
    ] {
        for (stat, a, b, target) in [
            ("mean", real.mean_ms, ours.mean_ms, Some(MEAN_TARGET)),
            ("p50", real.p50_ms, ours.p50_ms, None),
            ("p90", real.p90_ms, ours.p90_ms, Some(TAIL_TARGET)),
            ("p99", real.p99_ms, ours.p99_ms, Some(TAIL_TARGET)),
        ] {
            let metric = format!("{what} {stat}");
            rows.push(Row {
                llmservingsim_ms: sim.get(&metric).copied(),
                metric,
                real_ms: a,
                replay_ms: b,
                target,
            });
        }
    }
    let v = Validation {
        run: dir.display().to_string(),
        model,
        gpu,
        tp,
        requests: trace.len(),
        max_num_seqs: seqs,
        max_num_batched_tokens: budget,
        kv_blocks: r.replicas[0].kv_blocks,
        rows,
        steps: r.metrics.steps,
        preemptions: r.outcome.replicas.iter().map(|x| x.preemptions).sum(),
        replay_s,
    };
    Ok((v, r))
}
