//! The outputs of one run besides `queries.parquet`: `summary.json` (machine-readable figures,
//! written atomically) and the short terminal summary.

use crate::drive::replay::Replay;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::metrics::Metrics;
use crate::policy::Explanation;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// An input file and its sha256.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

/// The service model of a run that is not exact.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSummary {
    pub noise: String,
    pub seed: u64,
    /// With batching: max_batch and max_delay_us per model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batching: Option<BTreeMap<String, BatchRuleSummary>>,
}

/// One model's batcher.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRuleSummary {
    pub max_batch: u32,
    pub max_delay_us: f64,
}

impl ServiceSummary {
    fn of(r: &Replay, models: &[String]) -> Option<ServiceSummary> {
        (!r.service.is_exact()).then(|| ServiceSummary {
            noise: r.service.noise.to_string(),
            seed: r.service.seed,
            batching: (!r.batch_rules.is_empty()).then(|| {
                models
                    .iter()
                    .zip(&r.batch_rules)
                    .map(|(m, b)| {
                        (
                            m.clone(),
                            BatchRuleSummary {
                                max_batch: b.max_batch,
                                max_delay_us: b.max_delay_ns as f64 / 1e3,
                            },
                        )
                    })
                    .collect()
            }),
        })
    }
}

/// `summary.json`: the run's setup, every metric ([`Metrics`] serializes itself), the
/// invariants, the service model, what the partitioner and the scheduler decided, and the
/// inputs.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub policy: String,
    pub partitioner: String,
    pub scheduler: String,
    /// The policy's parameters (both halves), given or default.
    pub params: BTreeMap<String, String>,
    pub gpu: String,
    pub gpus: usize,
    pub layout: Vec<String>,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub rate_scale: f64,
    pub invariants: crate::engine::Invariants,
    /// The service model, when not exact (noise or batching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSummary>,
    /// What the partitioner reported (PARIS: knees, batch -> slice map, shares, deviation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<Arc<dyn Explanation>>,
    /// What the scheduler decided before the replay (ELSA: the SLA per model and its source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_details: Option<Arc<dyn Explanation>>,
    /// A reconfigurable server: the repartitioner, the rules, and every reconfiguration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconfiguration: Option<ReconfigSummary>,
    pub inputs: BTreeMap<String, InputFile>,
    pub mig_replay_version: String,
}

/// One GPU's reconfiguration, in seconds of simulated time.
#[derive(Debug, Clone, Serialize)]
pub struct ReconfigEventSummary {
    pub gpu: u32,
    pub decided_s: f64,
    /// Its turn began: the destroyed instances left the server.
    pub begin_s: f64,
    /// The destroyed instances' last batch ended: the region went down.
    pub down_s: Option<f64>,
    /// The new instances joined.
    pub up_s: Option<f64>,
    /// The drain: from begin to down (the retired batches running to their end).
    pub drain_s: Option<f64>,
    /// The region's time down: from down to up (`reconfig.cost_s` exactly).
    pub downtime_s: Option<f64>,
    pub layout_before: String,
    pub layout_after: String,
    pub instances_kept: u32,
    pub instances_destroyed: u32,
    pub instances_created: u32,
    /// Queries this GPU's destroyed instances gave back (local queues, forming batches).
    pub queries_handed_back: u64,
    /// Queries the scheduler held and gave back at this reconfiguration's begin and up (shared
    /// rebuilds counted on the lowest GPU of the group).
    pub queries_held_handed_back: u64,
    pub batches_retired: u32,
    pub reason: String,
}

/// The `reconfiguration` section of `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ReconfigSummary {
    pub repartitioner: String,
    /// It plans from future traffic (perfect foresight): a reference, not a policy anyone can
    /// run online.
    pub foresight: bool,
    pub cost_s: f64,
    pub max_concurrent: u32,
    pub drain: crate::server::reconfig::Drain,
    pub checks: u64,
    /// Checks made while a reconfiguration was under way (the built-ins return no plan then).
    pub checks_while_reconfiguring: u64,
    pub plans_applied: u64,
    /// Plans returned while a reconfiguration was under way, not taken.
    pub plans_skipped_busy: u64,
    /// GPU reconfigurations (every one completes: the replay runs on until the last is up).
    pub reconfigurations: usize,
    /// Hand-backs: queries offered again to a rebuilt scheduler, those the destroyed instances
    /// gave back plus those the scheduler held, counted at each rebuild (a query still held
    /// across a begin and an up counts twice).
    pub queries_handed_back: u64,
    pub queries_handed_back_by_instances: u64,
    pub queries_handed_back_by_scheduler: u64,
    /// Summed over the reconfigurations: seconds from begin to up (one GPU each), the drains
    /// and the downtimes (`reconfigurations x cost_s`), in seconds and in GPU-seconds (each
    /// weighted by the share of the GPU's GPCs it concerns: the destroyed instances' while
    /// draining, the larger of the destroyed and the created instances' while down).
    pub seconds_reconfiguring: f64,
    pub seconds_draining: f64,
    pub seconds_down: f64,
    pub gpu_seconds_draining: f64,
    pub gpu_seconds_down: f64,
    pub final_layouts: Vec<String>,
    pub events: Vec<ReconfigEventSummary>,
}

impl ReconfigSummary {
    fn of(r: &Replay) -> Option<ReconfigSummary> {
        let info = r.repartition.as_ref()?;
        let log = r.records.reconfig.as_ref()?;
        let s = |ns: u64| ns as f64 / 1e9;
        let secs = log.seconds(r.server.gpu.gpcs as u32);
        let by_instances: u64 = log.events.iter().map(|e| e.queries_handed_back).sum();
        let by_scheduler: u64 = log.events.iter().map(|e| e.queries_held_handed_back).sum();
        Some(ReconfigSummary {
            repartitioner: info.name.clone(),
            foresight: info.reads_ahead,
            cost_s: s(info.model.cost_ns),
            max_concurrent: info.model.max_concurrent,
            drain: info.model.drain,
            checks: log.checks,
            checks_while_reconfiguring: log.checks_busy,
            plans_applied: log.plans_applied,
            plans_skipped_busy: log.plans_skipped_busy,
            reconfigurations: log.events.len(),
            queries_handed_back: by_instances + by_scheduler,
            queries_handed_back_by_instances: by_instances,
            queries_handed_back_by_scheduler: by_scheduler,
            seconds_reconfiguring: secs.reconfiguring,
            seconds_draining: secs.draining,
            seconds_down: secs.down,
            gpu_seconds_draining: secs.gpu_draining,
            gpu_seconds_down: secs.gpu_down,
            final_layouts: log.final_layouts.clone(),
            events: log
                .events
                .iter()
                .map(|e| ReconfigEventSummary {
                    gpu: e.gpu,
                    decided_s: s(e.decided_ns),
                    begin_s: s(e.begin_ns),
                    down_s: e.down_ns.map(s),
                    up_s: e.up_ns.map(s),
                    drain_s: e.drain_ns().map(s),
                    downtime_s: e.downtime_ns().map(s),
                    layout_before: e.layout_before.clone(),
                    layout_after: e.layout_after.clone(),
                    instances_kept: e.instances_kept,
                    instances_destroyed: e.instances_destroyed,
                    instances_created: e.instances_created,
                    queries_handed_back: e.queries_handed_back,
                    queries_held_handed_back: e.queries_held_handed_back,
                    batches_retired: e.batches_retired,
                    reason: e.reason.clone(),
                })
                .collect(),
        })
    }
}

impl Summary {
    /// Assemble the summary of a replay.
    pub fn new(
        r: &Replay,
        models: &[String],
        inputs: BTreeMap<String, InputFile>,
        rate_scale: f64,
    ) -> Summary {
        Summary {
            service: ServiceSummary::of(r, models),
            policy: r.policy.clone(),
            partitioner: r.partitioner.clone(),
            scheduler: r.scheduler.clone(),
            params: r.params.clone(),
            partition: r.partition.clone(),
            scheduler_details: r.scheduler_details.clone(),
            gpu: r.server.gpu.name.to_string(),
            gpus: r.server.gpus(),
            layout: r.server.layout_names(),
            metrics: r.metrics.clone(),
            rate_scale,
            invariants: r.invariants.clone(),
            reconfiguration: ReconfigSummary::of(r),
            inputs,
            mig_replay_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Write as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut s = serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        s.push('\n');
        write_atomic(path, s.as_bytes())
    }

    /// The short human summary for the terminal.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let distinct: std::collections::BTreeSet<_> = self.layout.iter().collect();
        let layout = if distinct.len() == 1 {
            format!("{} x {}", self.gpus, self.layout[0])
        } else {
            self.layout.join(" | ")
        };
        s += &format!(
            "policy {} ({}+{}) on {} x {}: {}\n",
            self.policy, self.partitioner, self.scheduler, self.gpus, self.gpu, layout
        );
        if let Some(d) = &self.scheduler_details {
            s += &d.text();
        }
        if let Some(rc) = &self.reconfiguration {
            s += &format!(
                "repartitioner {}{}: {} checks ({} while reconfiguring), {} plans applied ({} not taken while reconfiguring), {} GPU reconfigurations at {} s each (drain {}, at most {} at once), {} queries handed back ({} by destroyed instances, {} held by the scheduler), {:.3} GPU-seconds draining, {:.3} GPU-seconds of capacity down\n",
                rc.repartitioner,
                if rc.foresight {
                    " (FORESIGHT: plans from future traffic)"
                } else {
                    ""
                },
                rc.checks,
                rc.checks_while_reconfiguring,
                rc.plans_applied,
                rc.plans_skipped_busy,
                rc.reconfigurations,
                rc.cost_s,
                serde_json::to_value(rc.drain)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                rc.max_concurrent,
                rc.queries_handed_back,
                rc.queries_handed_back_by_instances,
                rc.queries_handed_back_by_scheduler,
                rc.gpu_seconds_draining,
                rc.gpu_seconds_down,
            );
            let distinct: std::collections::BTreeSet<_> = rc.final_layouts.iter().collect();
            s += &format!(
                "layout at the end: {}\n",
                if distinct.len() == 1 {
                    format!("{} x {}", rc.final_layouts.len(), rc.final_layouts[0])
                } else {
                    rc.final_layouts.join(" | ")
                }
            );
        }
        let m = &self.metrics;
        let h = &m.headline;
        s += &format!(
            "{} queries in {:.3} s simulated: {:.1} queries/s, utilization {:.1}%\n",
            h.queries,
            h.duration_s,
            h.throughput_qps,
            100.0 * h.utilization
        );
        let l = &h.latency;
        s += &format!(
            "latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
        let q = &m.queue;
        s += &format!(
            "queueing ms: mean {:.3}  p50 {:.3}  p99 {:.3}  max {:.3}\n",
            q.mean_ms, q.p50_ms, q.p99_ms, q.max_ms
        );
        // Every query judged by its own model's SLA.
        for x in &m.sla {
            let pm = &m.per_model[&x.model];
            s += &format!(
                "SLA {} {} ms ({}): {:.3}% of its {} queries violate it, p99 {:.3} ms\n",
                x.model,
                x.sla_ms,
                x.source,
                100.0 * pm.sla_violation_rate.unwrap_or(0.0),
                pm.queries,
                pm.latency.p99_ms
            );
        }
        if let (Some(v), Some(a)) = (h.sla_violation_rate, h.sla_attainment) {
            s += &format!(
                "SLA attainment {:.3}% ({:.3}% violate their model's SLA){}\n",
                100.0 * a,
                100.0 * v,
                h.goodput_qps
                    .map(|g| format!("; goodput {g:.1} queries/s"))
                    .unwrap_or_default()
            );
        }
        if h.extrapolated > 0 {
            s += &format!(
                "note: {} queries had batch sizes outside the profiled range (latency extrapolated)\n",
                h.extrapolated
            );
        }
        if let Some(sv) = &self.service {
            s += &format!("service noise {} (seed {})", sv.noise, sv.seed);
            if let Some(b) = &sv.batching {
                let rules: Vec<String> = b
                    .iter()
                    .map(|(m, r)| {
                        format!(
                            "{m} max_batch {} max_delay {} us",
                            r.max_batch, r.max_delay_us
                        )
                    })
                    .collect();
                s += &format!("; batching {}", rules.join(", "));
            }
            s += "\n";
        }
        if let Some(b) = &m.batches {
            s += &format!(
                "batches: {} ({:.2} queries, summed batch {:.1} on average, largest {})\n",
                b.batches, b.mean_queries, b.mean_size, b.max_size
            );
        }
        if let Some(e) = &m.estimates {
            s += &format!(
                "scheduler estimates: |true - estimated completion| p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.1}% finished later than estimated\n",
                e.abs_error_p50_ms,
                e.abs_error_p99_ms,
                e.abs_error_max_ms,
                100.0 * e.late_fraction
            );
        }
        let inv = &self.invariants;
        s += &format!(
            "invariants: conservation {}, causality {}, no overlap {}{}{}\n",
            ok(inv.conservation),
            ok(inv.causality),
            ok(inv.no_overlap),
            inv.batches
                .map(|b| format!(", batches {}", ok(b)))
                .unwrap_or_default(),
            inv.reconfiguration
                .map(|b| format!(", reconfiguration {}", ok(b)))
                .unwrap_or_default()
        );
        s
    }
}

fn ok(b: bool) -> &'static str {
    if b { "ok" } else { "VIOLATED" }
}
