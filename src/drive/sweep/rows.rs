//! What a sweep produces per task, as `results.parquet`, `peaks.parquet` and shard files store
//! it: one [`RunRow`] per replay at an offered load, one [`PeakRow`] per peak search, and the
//! reference load's latency CDF ([`Cdf`]) and heat maps ([`HeatRow`]).

use crate::drive::peak::PeakResult;
use crate::drive::replay::Replay;
use crate::metrics::Headline;
use crate::metrics::derived::Heatmap;
use crate::trace::Trace;
use serde::{Deserialize, Serialize};

/// One replay of the matrix: its coordinates and its headline figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRow {
    pub workload: String,
    pub policy: String,
    pub policy_name: String,
    pub params: String,
    pub gpu: String,
    pub gpus: u32,
    pub sla_ms: f64,
    pub seed: u64,
    /// Offered load as a fraction of the best peak (absent for absolute rate scales and the
    /// absolute reference rate).
    pub load_fraction: Option<f64>,
    /// The verdict's load: the workload's `reference_qps`, else `reference_load`.
    pub reference: bool,
    pub rate_scale: f64,
    /// Mean offered arrival rate, queries/s.
    pub offered_qps: f64,
    /// Every headline figure of the run ([`crate::metrics::Headline`]).
    #[serde(flatten)]
    pub figures: Headline,
    /// The exact latency at the sweep's `percentile` over every query (the verdict's figure,
    /// for any percentile, not only the headline's).
    pub percentile_ms: f64,
    pub invariants_ok: bool,
    pub layout: String,
    /// A reconfigurable server (absent for `static`): its GPU reconfigurations, and the
    /// GPU-seconds its regions spent draining and down ([`crate::engine::ReconfigSeconds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconfigurations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_seconds_draining: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_seconds_down: Option<f64>,
    /// The policy's repartitioner plans from future traffic (perfect foresight, `oracle`): a
    /// reference, not a policy anyone can run online (absent: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foresight: bool,
}

/// Where a run sits in the matrix.
#[derive(Debug, Clone)]
pub struct Coords<'a> {
    pub workload: &'a str,
    /// The policy's label and name.
    pub policy: String,
    pub policy_name: &'a str,
    /// The parameters as given (`k=v,...`).
    pub params: String,
    pub gpus: usize,
    pub sla_ms: f64,
    pub seed: u64,
}

impl RunRow {
    /// The row of replay `r` of trace `t` (at its rate scale) at `coords`, with its latency at
    /// the sweep's percentile.
    pub fn new(
        c: &Coords,
        (load_fraction, rate_scale): (Option<f64>, f64),
        t: &Trace,
        r: &Replay,
        percentile_ms: f64,
    ) -> RunRow {
        let log = r.records.reconfig.as_ref();
        let secs = log.map(|l| l.seconds(r.server.gpu.gpcs as u32));
        RunRow {
            workload: c.workload.to_string(),
            policy: c.policy.clone(),
            policy_name: c.policy_name.to_string(),
            params: c.params.clone(),
            gpu: r.server.gpu.name.to_string(),
            gpus: c.gpus as u32,
            sla_ms: c.sla_ms,
            seed: c.seed,
            load_fraction,
            reference: false,
            rate_scale,
            offered_qps: t.offered_rate(),
            figures: r.metrics.headline.clone(),
            percentile_ms,
            invariants_ok: r.invariants.all_ok(),
            layout: r.server.layout_names().join(" | "),
            reconfigurations: log.map(|l| l.events.len() as u64),
            gpu_seconds_draining: secs.map(|s| s.gpu_draining),
            gpu_seconds_down: secs.map(|s| s.gpu_down),
            foresight: r.repartition.as_ref().is_some_and(|i| i.reads_ahead),
        }
    }
}

/// One peak search: its coordinates and its result (whose `policy` is the label).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeakRow {
    pub workload: String,
    pub policy_name: String,
    pub params: String,
    pub seed: u64,
    /// The policy plans from future traffic (absent: false; see [`RunRow::foresight`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foresight: bool,
    #[serde(flatten)]
    pub peak: PeakResult,
}

/// One capacity plan: the fewest GPUs of the sweep's kind for one (workload, seed, policy)
/// at the workload's own rate (its result's `policy` is the label).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanRow {
    pub workload: String,
    pub policy_name: String,
    pub params: String,
    pub seed: u64,
    pub plan: crate::drive::capacity::PlanResult,
}

/// The latency CDF of one policy at the reference load: (latency ms, cumulative fraction).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cdf {
    pub workload: String,
    pub policy: String,
    pub points: Vec<(f64, f64)>,
}

/// The heat maps of one policy on one workload at the reference load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeatRow {
    pub workload: String,
    pub policy: String,
    #[serde(flatten)]
    pub map: Heatmap,
    /// A reconfigurable policy's timeline at the same run (none for a static one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<crate::metrics::timeline::TimelineData>,
    /// The timeline plot's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline_title: Option<String>,
}

/// A load task's outcome: its row and, at the reference load of the first seed, its CDF
/// (`None` where the best peak is 0 and fractions of it are undefined).
pub type LoadResult = Option<(RunRow, Option<Cdf>)>;
