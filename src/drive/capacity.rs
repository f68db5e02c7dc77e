//! Capacity planning, the inverse of [`crate::drive::peak`]: the fewest GPUs of a kind on which a
//! policy's replay of a trace (at its rate) meets the SLA criterion.
//!
//! A GPU count is *sufficient* when the replay on that many GPUs passes the same criterion as a
//! peak search ([`crate::drive::peak::Criterion`]): every model's exact nearest-rank percentile at
//! most its own SLA (or, pooled, one percentile against one shared SLA). The answer is the
//! smallest sufficient count in 1..=`max_gpus`.
//!
//! Bisection is exact only when sufficiency is monotone in the count (every count above a
//! sufficient one is sufficient). It is for `fcfs` and FIFO over a homogeneous layout, under
//! exact service and no repartitioner: both are FCFS multi-server queues over identical servers
//! that start each query on the server that frees first, and on one sample path (the same
//! arrivals and service times) every query's waiting time is non-increasing in the number of
//! servers (the sorted workload vector of the Kiefer-Wolfowitz recursion is componentwise
//! smaller with one more server, which starts at zero). The registry declares it
//! (`same_layout_every_gpu` on the partitioner, `fcfs_earliest_free` on the scheduler:
//! [`crate::scenario::PolicySource::identical_fcfs`]). For policies whose layout or decisions change with the count
//! (PARIS, `random`, ELSA) no such argument holds, and bench-all has a counterexample:
//! `paris+fifo` on paper-resnet50 (seed 1) meets the SLA on 15 GPUs, not on 16, and again on 17.
//!
//! - [`Search::Auto`] (the default): bisection for a policy that is monotone by the argument
//!   above; otherwise bisection to find a sufficient count N, then every count below N in
//!   increasing order, the first sufficient one being the answer: exact for any policy, at
//!   most about N + 2 log2 N replays. When the bisection finds no sufficient count up to
//!   `max_gpus`, a non-monotone policy is reported as not met without trying every count below
//!   the bound (`exact` false: `scan` would try them, up to `max_gpus` replays).
//! - [`Search::Bisect`]: replay 1, 2, 4, ... GPUs until a count is sufficient (the last power
//!   of two is clipped to `max_gpus`), then bisect between the last insufficient count and it.
//!   About 2 log2(N) replays; exact when monotone, an upper bound otherwise.
//! - [`Search::Scan`]: replay 1, 2, 3, ... and stop at the first sufficient count (exact for
//!   any policy), then also replay the counts the bisection would try.
//!
//! Every search reports the counts it replayed, and `not_monotone`: every count replayed above
//! the answer that is not sufficient (evidence that sufficiency is not monotone there).
//!
//! When no count up to `max_gpus` is sufficient the result says so (`gpus` is `None`) with the
//! figures at `max_gpus`; the search never runs past the bound. Under exact service a floor is
//! checked first: every query's latency is at least its service time on the fastest profiled
//! slice, so when that floor's percentile exceeds a model's SLA no count can help, and the
//! search stops at once with the reason (`unreachable`).

use crate::drive::peak::Criterion;
use crate::drive::replay::replay;
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::metrics::timeline::layout_counts;
use crate::profile::Profiles;
use crate::scenario::{MAX_GPUS, Scenario};
use crate::trace::Trace;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default bound of the search.
pub const DEFAULT_MAX_GPUS: usize = 1024;

/// How the counts are searched (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    Auto,
    Bisect,
    Scan,
}

impl Search {
    pub fn parse(s: &str) -> Result<Search> {
        match s {
            "auto" => Ok(Search::Auto),
            "bisect" => Ok(Search::Bisect),
            "scan" => Ok(Search::Scan),
            _ => Err(Error::Usage(format!(
                "--search must be auto (bisection where more GPUs provably never hurt, else exact over every count below), bisect (galloping then bisection) or scan (every count from 1 up), got '{s}'"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Search::Auto => "auto",
            Search::Bisect => "bisect",
            Search::Scan => "scan",
        }
    }
}

/// What to plan for.
#[derive(Debug, Clone, Copy)]
pub struct PlanConfig {
    /// Latency percentile in (0, 100].
    pub percentile: f64,
    /// One percentile over every query against one shared SLA.
    pub pooled: bool,
    /// The largest count tried.
    pub max_gpus: usize,
    pub search: Search,
}

impl PlanConfig {
    pub fn check(&self) -> Result<()> {
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(Error::Usage(format!(
                "--percentile must be in (0, 100], got {}",
                crate::error::num(self.percentile)
            )));
        }
        if self.max_gpus == 0 || self.max_gpus > MAX_GPUS {
            return Err(Error::Usage(format!(
                "--max-gpus must be between 1 and {MAX_GPUS}, got {}",
                self.max_gpus
            )));
        }
        Ok(())
    }
}

/// One model's figure at the answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelFigure {
    pub model: String,
    pub sla_ms: f64,
    /// Its percentile latency, ms (`None`: no query of the model).
    pub latency_ms: Option<f64>,
}

/// One count tried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    pub gpus: usize,
    pub sufficient: bool,
}

/// The plan of one policy on one GPU kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanResult {
    pub policy: String,
    /// The GPU kind.
    pub gpu: String,
    /// The answer: the fewest GPUs whose replay meets the SLA criterion; `None` when no count up
    /// to `max_gpus` does.
    pub gpus: Option<usize>,
    pub max_gpus: usize,
    pub search: Search,
    /// Whether more GPUs provably never hurt this policy here (then `auto` bisects).
    pub monotone_by_design: bool,
    /// Whether the answer is proven the fewest (or, not met, that no count up to `max_gpus`
    /// meets the SLA): false only for a bisection over a policy not monotone by design.
    pub exact: bool,
    /// The trace's mean offered rate, queries/s, and its queries.
    pub rate_qps: f64,
    pub queries: usize,
    pub percentile: f64,
    /// Every model's percentile and SLA at the answer (at `max_gpus` when there is none).
    pub models: Vec<ModelFigure>,
    /// The model closest to its SLA there (`*` when pooled).
    pub binding_model: String,
    /// Fraction of queries meeting their model's SLA, goodput and utilization there.
    pub attainment: Option<f64>,
    pub goodput_qps: Option<f64>,
    pub utilization: f64,
    /// The layouts there, as counts (`3 x 7g.80gb | 1 x 4g.40gb+3g.40gb`).
    pub layout: String,
    /// Price per GPU-hour (given), the server's cost per hour and per million queries offered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub price_per_gpu_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost_per_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost_per_million_queries: Option<f64>,
    /// Every count replayed, in increasing order.
    pub probes: Vec<Probe>,
    /// Counts replayed above the answer that are not sufficient (evidence that sufficiency is
    /// not monotone for this policy and trace).
    #[serde(default)]
    pub not_monotone: Vec<usize>,
    /// Why no count can meet the SLA, when the service-time floor proves it (exact service):
    /// then only `max_gpus` was replayed, for the figures.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unreachable: Option<String>,
}

/// A layout with runs of one slice written as a count: `1g.10gb+1g.10gb+2g.20gb` is
/// `2x1g.10gb+2g.20gb`.
pub fn compact_layout(layout: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(&str, usize)> = None;
    for s in layout.split('+') {
        match run {
            Some((r, n)) if r == s => run = Some((r, n + 1)),
            _ => {
                if let Some((r, n)) = run {
                    out.push(if n > 1 {
                        format!("{n}x{r}")
                    } else {
                        r.to_string()
                    });
                }
                run = Some((s, 1));
            }
        }
    }
    if let Some((r, n)) = run {
        out.push(if n > 1 {
            format!("{n}x{r}")
        } else {
            r.to_string()
        });
    }
    out.join("+")
}

struct Outcome {
    sufficient: bool,
    judgement: crate::drive::peak::Judgement,
    attainment: Option<f64>,
    goodput_qps: Option<f64>,
    utilization: f64,
    layout: String,
}

/// Plan the policy of `scenario` (a fresh one per replay) for its trace as given (rescale it
/// first for a target rate) on GPUs of its kind, with `price` per GPU-hour. The counts tried
/// are the plan's: the scenario's own GPU count is not read.
pub fn plan(scenario: &Scenario, cfg: &PlanConfig, price: Option<f64>) -> Result<PlanResult> {
    cfg.check()?;
    let (trace, profiles, gpu) = (scenario.trace(), scenario.profiles(), scenario.gpu());
    let name = scenario.policy().label();
    if trace.is_empty() {
        return Err(Error::file(&trace.path, "trace has no queries"));
    }
    let policy = scenario.policy();
    let monotone_by_design =
        policy.identical_fcfs() && !policy.reconfigurable() && scenario.service().is_exact();
    let criterion = Criterion::new(scenario, cfg.percentile, cfg.pooled)?;
    let mut lat = Vec::with_capacity(trace.len());
    let mut seen: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut probe = |n: usize, seen: &mut BTreeMap<usize, Outcome>| -> Result<bool> {
        if let Some(o) = seen.get(&n) {
            return Ok(o.sufficient);
        }
        let r = replay(&scenario.with_gpus(n)?)?;
        crate::drive::replay::require_invariants(
            &r.invariants,
            &format!("for '{name}' on {n} GPUs"),
        )?;
        let j = criterion.judge(trace, &r.records.finish_ns, &mut lat);
        let h = &r.metrics.headline;
        let o = Outcome {
            sufficient: j.feasible,
            judgement: j,
            attainment: h.sla_attainment,
            goodput_qps: h.goodput_qps,
            utilization: h.utilization,
            layout: layout_counts(
                &r.server
                    .layout_names()
                    .iter()
                    .map(|l| compact_layout(l))
                    .collect::<Vec<_>>(),
            ),
        };
        let s = o.sufficient;
        seen.insert(n, o);
        Ok(s)
    };
    let unreachable = if scenario.service().is_exact() {
        floor(trace, profiles, gpu, &criterion)?
    } else {
        None
    };
    let answer = if unreachable.is_some() {
        // No count can meet the SLA: one replay at the bound for the figures.
        probe(cfg.max_gpus, &mut seen)?;
        None
    } else {
        search_counts(cfg.search, monotone_by_design, cfg.max_gpus, &mut |n| {
            probe(n, &mut seen)
        })?
    };
    // Counts above the answer that fail break monotonicity.
    let not_monotone: Vec<usize> = match answer {
        Some(a) => seen
            .iter()
            .filter(|(n, o)| **n > a && !o.sufficient)
            .map(|(n, _)| *n)
            .collect(),
        None => Vec::new(),
    };
    let at = answer.unwrap_or(cfg.max_gpus);
    let o = &seen[&at];
    let models = trace
        .models
        .iter()
        .enumerate()
        .map(|(m, model)| ModelFigure {
            model: model.clone(),
            sla_ms: criterion.sla_ns[m] as f64 / 1e6,
            latency_ms: o.judgement.per_model_ns[m].map(|p| p as f64 / 1e6),
        })
        .collect();
    let rate_qps = trace.offered_rate();
    let cost_per_hour = match (price, answer) {
        (Some(p), Some(n)) => Some(p * n as f64),
        _ => None,
    };
    Ok(PlanResult {
        policy: name.to_string(),
        gpu: gpu.name.to_string(),
        gpus: answer,
        max_gpus: cfg.max_gpus,
        search: cfg.search,
        monotone_by_design,
        exact: unreachable.is_some() || search_exact(cfg.search, monotone_by_design, answer),
        rate_qps,
        queries: trace.len(),
        percentile: cfg.percentile,
        models,
        binding_model: o.judgement.binding_model.clone(),
        attainment: o.attainment,
        goodput_qps: o.goodput_qps,
        utilization: o.utilization,
        layout: o.layout.clone(),
        price_per_gpu_hour: price,
        cost_per_hour,
        cost_per_million_queries: cost_per_hour
            .filter(|_| rate_qps > 0.0)
            .map(|c| c / (rate_qps * 3600.0) * 1e6),
        probes: seen
            .iter()
            .map(|(n, o)| Probe {
                gpus: *n,
                sufficient: o.sufficient,
            })
            .collect(),
        not_monotone,
        unreachable,
    })
}

/// The search of every plan, over any criterion: the smallest count in 1..=`max` for which
/// `probe(n)` (a replay on n GPUs, judged; the caller caches its own figures) says sufficient,
/// by `search` (see the module docs; `monotone`: more GPUs provably never hurt, so `auto`
/// bisects). `None` when none is found.
pub fn search_counts(
    search: Search,
    monotone: bool,
    max: usize,
    probe: &mut dyn FnMut(usize) -> Result<bool>,
) -> Result<Option<usize>> {
    // The counts the bisection tries, given a probe: galloping then bisection.
    let bisect = |probe: &mut dyn FnMut(usize) -> Result<bool>| -> Result<Option<usize>> {
        let mut lo = 0; // the largest count known insufficient (0: none tried)
        let mut n = 1;
        let mut hi = loop {
            if probe(n)? {
                break n;
            }
            if n == max {
                return Ok(None);
            }
            lo = n;
            n = (2 * n).min(max);
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if probe(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(Some(hi))
    };
    Ok(match search {
        Search::Bisect => bisect(probe)?,
        Search::Auto if monotone => bisect(probe)?,
        Search::Auto => match bisect(probe)? {
            Some(upper) => {
                let mut answer = upper;
                for n in 1..upper {
                    if probe(n)? {
                        answer = n;
                        break;
                    }
                }
                Some(answer)
            }
            None => None,
        },
        Search::Scan => {
            let mut answer = None;
            for n in 1..=max {
                if probe(n)? {
                    answer = Some(n);
                    break;
                }
            }
            if answer.is_some() {
                // Replay what the bisection would try too.
                bisect(probe)?;
            }
            answer
        }
    })
}

/// Whether [`search_counts`]'s answer is proven the fewest (or, `None`, that no count up to
/// the bound suffices): always for a policy monotone by design and for `scan`; for `auto`
/// when it found a count (it then tried every count below); never for `bisect` alone.
pub fn search_exact(search: Search, monotone: bool, answer: Option<usize>) -> bool {
    monotone
        || match search {
            Search::Bisect => false,
            Search::Scan => true,
            Search::Auto => answer.is_some(),
        }
}

/// A proof that no count meets the SLA, under exact service: a query's latency is at least its
/// service time on the fastest slice of the GPU kind that the profile covers (memory aside,
/// which can only exclude slices), whatever the layout, the scheduler and the count. When that
/// floor's percentile already exceeds a model's SLA (pooled: the shared one), more GPUs cannot
/// help; the reason, or `None`.
fn floor(
    trace: &Trace,
    profiles: &Profiles,
    gpu: &GpuSpec,
    criterion: &Criterion,
) -> Result<Option<String>> {
    let table = crate::service::ServiceTable::build(
        profiles,
        gpu,
        &trace.models,
        &[],
        trace.max_batch(),
        |m| trace.first_row_of_model(m),
    )?;
    let profiled: Vec<Vec<usize>> = trace
        .models
        .iter()
        .map(|m| {
            (0..gpu.profiles.len())
                .filter(|&s| profiles.get(gpu.name, m, gpu.profiles[s].name).is_some())
                .collect()
        })
        .collect();
    let floor_of = |q: usize| {
        let m = trace.model[q];
        profiled[m as usize]
            .iter()
            .map(|&s| table.get(m, s, trace.batch[q]).0)
            .min()
            .unwrap_or(0)
    };
    // The floor as if every query finished its service at arrival + floor.
    let finish: Vec<u64> = (0..trace.len())
        .map(|q| trace.arrival_ns[q] + floor_of(q))
        .collect();
    let j = criterion.judge(trace, &finish, &mut Vec::new());
    Ok((!j.feasible).then(|| {
        format!(
            "even with no queueing, each query on the fastest {} slice, the p{} of {} is {:.3} ms, over its SLA of {:.3} ms: no GPU count can meet it",
            gpu.name,
            criterion.percentile,
            if j.binding_model == "*" {
                "every query".to_string()
            } else {
                j.binding_model.clone()
            },
            j.binding_ns as f64 / 1e6,
            j.binding_sla_ns as f64 / 1e6
        )
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_layouts_count_runs() {
        assert_eq!(super::compact_layout("7g.80gb"), "7g.80gb");
        assert_eq!(
            super::compact_layout("3g.40gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb"),
            "3g.40gb+4x1g.10gb"
        );
        assert_eq!(
            super::compact_layout("1g.5gb+2g.10gb+1g.5gb"),
            "1g.5gb+2g.10gb+1g.5gb"
        );
    }
}
