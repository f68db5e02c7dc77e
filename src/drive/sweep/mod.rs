//! Sweeps: a matrix of workloads x policies x seeds x offered loads, plus the latency-bounded
//! peak of every policy, run on all cores (rayon) with the same results whatever the thread
//! count (every run is independent and results are collected in matrix order).
//!
//! One file per job: [`config`] (the sweep file), [`tasks`] (the tasks, in matrix order),
//! [`mod@run`] (loading the inputs and running tasks), [`rows`] (what each task produces),
//! [`progress`] (the bar or the log lines) and [`shard`] (a sweep split over machines, and the
//! merge).
//!
//! Stages: (1) load the profile and materialize every workload's trace per seed; (2) search the
//! peak of every (workload, seed, policy); (3) replay every policy at every offered load, the
//! fractional loads relative to the best peak of that workload and seed; (4) at the reference
//! load, keep each policy's latency CDF (first seed) and the busy-fraction and batch-by-slice
//! heat maps of the policies the config or the registry asks for.

pub mod config;
pub mod progress;
pub mod rows;
pub mod run;
pub mod shard;
pub mod tasks;

pub use progress::{Bar, Lines, Progress, Quiet};
pub use rows::{Cdf, HeatRow, LoadResult, PeakRow, PlanRow, RunRow};
pub use run::{Prepared, prepare};
pub use tasks::{Load, Tasks, estimate_tasks};

use crate::error::Result;
use crate::policy::Registry;
use config::SweepConfig;
use std::time::Instant;

/// Everything a sweep produced.
#[derive(Debug, Clone)]
pub struct SweepResult {
    pub config: SweepConfig,
    /// Input files and their sha256: (role, path, sha256).
    pub inputs: Vec<(String, String, String)>,
    pub runs: Vec<RunRow>,
    pub peaks: Vec<PeakRow>,
    pub cdfs: Vec<Cdf>,
    pub heatmaps: Vec<HeatRow>,
    /// With a `plan` table: the capacity plan of every (workload, seed, policy).
    pub plans: Vec<PlanRow>,
    /// Seconds per stage.
    pub stages: Vec<(String, f64)>,
    /// Profile rows by source: measured, interpolated, modeled, unspecified.
    pub provenance: [usize; 4],
}

/// The best peak rate scale of every work, from all peak rows in task order.
pub fn best_peaks(cfg: &SweepConfig, peaks: &[PeakRow]) -> Vec<f64> {
    let np = cfg.policies.len();
    (0..cfg.workloads.len() * cfg.seeds.len())
        .map(|k| {
            (0..np)
                .map(|p| peaks[k * np + p].peak.rate_scale)
                .fold(0.0, f64::max)
        })
        .collect()
}

/// What a sweep's tasks produced, in task order, before [`assemble`] puts it together.
pub struct Outcomes {
    /// Input files and their sha256: (role, path, sha256).
    pub inputs: Vec<(String, String, String)>,
    /// Profile rows by source: measured, interpolated, modeled, unspecified.
    pub provenance: [usize; 4],
    pub peaks: Vec<PeakRow>,
    pub loads: Vec<LoadResult>,
    pub heats: Vec<Option<HeatRow>>,
    pub plans: Vec<PlanRow>,
    /// Seconds per stage.
    pub stages: Vec<(String, f64)>,
}

/// Put a sweep's results together (every task's outcome, in task order).
pub fn assemble(cfg: &SweepConfig, o: Outcomes) -> SweepResult {
    let mut runs = Vec::new();
    let mut cdfs = Vec::new();
    for (r, c) in o.loads.into_iter().flatten() {
        runs.push(r);
        cdfs.extend(c);
    }
    SweepResult {
        config: cfg.clone(),
        inputs: o.inputs,
        runs,
        peaks: o.peaks,
        cdfs,
        heatmaps: o.heats.into_iter().flatten().collect(),
        plans: o.plans,
        stages: o.stages,
        provenance: o.provenance,
    }
}

/// Run a whole sweep on this machine, its policies from `registry`.
pub fn run(cfg: &SweepConfig, registry: &Registry, progress: &dyn Progress) -> Result<SweepResult> {
    let cfg = &run::mark_foresight(cfg, registry)?;
    let prep = prepare(cfg, registry)?;
    let tasks = Tasks::of(cfg, registry);
    let mut stages = vec![("inputs".to_string(), prep.t_inputs)];
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let t1 = Instant::now();
    let peaks = prep.run_peaks(cfg, &tasks, &all(tasks.peaks.len()), progress)?;
    stages.push(("peak search".to_string(), t1.elapsed().as_secs_f64()));
    let best = best_peaks(cfg, &peaks);
    let t2 = Instant::now();
    let loads = prep.run_loads(cfg, &tasks, &best, &all(tasks.runs.len()), progress)?;
    stages.push(("offered loads".to_string(), t2.elapsed().as_secs_f64()));
    let t3 = Instant::now();
    let heats = prep.run_heats(cfg, &tasks, &best, &all(tasks.heats.len()), progress)?;
    stages.push(("heat maps".to_string(), t3.elapsed().as_secs_f64()));
    let t4 = Instant::now();
    let plans = prep.run_plans(cfg, progress)?;
    if cfg.plan.is_some() {
        stages.push(("capacity plans".to_string(), t4.elapsed().as_secs_f64()));
    }
    progress.finish();
    Ok(assemble(
        cfg,
        Outcomes {
            inputs: prep.inputs,
            provenance: prep.provenance,
            peaks,
            loads,
            heats,
            plans,
            stages,
        },
    ))
}
