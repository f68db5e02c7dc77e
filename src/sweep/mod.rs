//! Sweeps: a matrix of workloads x policies x seeds x offered loads, plus the latency-bounded
//! peak of every policy, run on all cores (rayon) with the same results whatever the thread
//! count (every run is independent and results are collected in matrix order).
//!
//! Stages: (1) load the profile and materialize every workload's trace per seed; (2) search the
//! peak of every (workload, seed, policy); (3) replay every policy at every offered load, the
//! fractional loads relative to the best peak of that workload and seed; (4) at the reference
//! load, keep each policy's latency CDF (first seed) and, for one ELSA and one FIFO policy per
//! workload (`paris+elsa` and `paris+fifo` when the matrix has them), the busy-fraction and
//! batch-by-slice heat maps.

pub mod config;
pub mod shard;

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::peak::{PeakConfig, PeakResult, find_peak, percentile_ns};
use crate::policy::{PolicyParams, Registry};
use crate::profile::Profiles;
use crate::replay::{Replay, replay};
use crate::trace::Trace;
use crate::trace::synth::{Arrivals, BatchSpec, GenConfig, generate, parse_model_weight};
use config::{SweepConfig, WorkloadSpec};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// One replay of the matrix: its coordinates and every figure of its `summary.json`.
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
    /// Offered load as a fraction of the best peak (absent for absolute rate scales).
    pub load_fraction: Option<f64>,
    pub rate_scale: f64,
    /// Mean offered arrival rate, queries/s.
    pub offered_qps: f64,
    pub queries: u64,
    pub duration_s: f64,
    pub throughput_qps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub queue_mean_ms: f64,
    pub queue_p99_ms: f64,
    pub sla_violation_rate: f64,
    pub utilization: f64,
    pub extrapolated: u64,
    pub invariants_ok: bool,
    pub layout: String,
}

/// One peak search.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PeakRow {
    pub workload: String,
    pub policy: String,
    pub policy_name: String,
    pub params: String,
    pub seed: u64,
    #[serde(flatten)]
    pub peak: PeakResult,
}

/// The latency CDF of one policy at the reference load: (latency ms, cumulative fraction).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cdf {
    pub workload: String,
    pub policy: String,
    pub points: Vec<(f64, f64)>,
}

/// What one replay looked like inside: busy fraction per instance per time bin, and the
/// queries of each batch bucket per slice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heatmap {
    pub workload: String,
    pub policy: String,
    /// Instance labels (`GPU 0 3g.40gb@4`), one row each.
    pub instances: Vec<String>,
    /// Width of a time bin, s.
    pub bin_s: f64,
    /// `busy[instance][bin]` in [0, 1].
    pub busy: Vec<Vec<f64>>,
    /// Batch buckets (`1`, `2`, `3-4`, ...), slices (small to large), and `count[slice][bucket]`.
    pub buckets: Vec<String>,
    pub slices: Vec<String>,
    pub count: Vec<Vec<u64>>,
}

/// Everything a sweep produced.
#[derive(Debug, Clone)]
pub struct SweepResult {
    pub config: SweepConfig,
    /// Input files and their sha256: (role, path, sha256).
    pub inputs: Vec<(String, String, String)>,
    pub runs: Vec<RunRow>,
    pub peaks: Vec<PeakRow>,
    pub cdfs: Vec<Cdf>,
    pub heatmaps: Vec<Heatmap>,
    /// Seconds per stage.
    pub stages: Vec<(String, f64)>,
    /// Profile rows by source: measured, interpolated, modeled, unspecified.
    pub provenance: [usize; 4],
}

/// Reports progress: an indicatif bar on a terminal, plain lines otherwise.
pub trait Progress: Sync {
    fn stage(&self, name: &str, tasks: u64);
    fn tick(&self);
    fn finish(&self);
}

/// Plain newline-terminated progress lines (CI logs).
pub struct Lines {
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
    t0: Instant,
}

impl Default for Lines {
    fn default() -> Self {
        Lines {
            done: 0.into(),
            total: 0.into(),
            t0: Instant::now(),
        }
    }
}

impl Progress for Lines {
    fn stage(&self, name: &str, tasks: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.done.store(0, Relaxed);
        self.total.store(tasks, Relaxed);
        println!(
            "[{:>6.1} s] {name}: {tasks} tasks",
            self.t0.elapsed().as_secs_f64()
        );
    }
    fn tick(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let d = self.done.fetch_add(1, Relaxed) + 1;
        let t = self.total.load(Relaxed);
        // A line at every quarter.
        if t >= 4 && d.is_multiple_of(t.div_ceil(4)) && d < t {
            println!("[{:>6.1} s]   {d}/{t}", self.t0.elapsed().as_secs_f64());
        }
    }
    fn finish(&self) {
        println!("[{:>6.1} s] done", self.t0.elapsed().as_secs_f64());
    }
}

/// An indicatif bar for the whole matrix, with a message per stage.
pub struct Bar {
    bar: indicatif::ProgressBar,
}

impl Bar {
    pub fn new(total: u64) -> Bar {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} runs, ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        Bar { bar }
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, _tasks: u64) {
        self.bar.println(format!("stage: {name}"));
        self.bar.set_message(name.to_string());
    }
    fn tick(&self) {
        self.bar.inc(1);
    }
    fn finish(&self) {
        self.bar.finish_with_message("done");
    }
}

/// A materialized workload for one seed.
struct Work {
    w: usize,
    seed: u64,
    trace: Arc<Trace>,
}

/// Roughly how many replays a sweep will run (for a progress bar's length).
pub fn estimate_tasks(cfg: &SweepConfig) -> u64 {
    let cells = (cfg.workloads.len() * cfg.seeds.len() * cfg.policies.len()) as u64;
    let loads = (cfg.loads.len() + cfg.rate_scales.len() + 1) as u64;
    cells + cells * loads + 2 * cfg.workloads.len() as u64
}

pub(crate) fn policy_params(
    p: &config::PolicySpec,
    seed: u64,
    registry: &Registry,
) -> Result<PolicyParams> {
    let mut params = PolicyParams::default();
    for (k, v) in p.flat_params() {
        params.set(&k, v);
    }
    // The sweep's seed seeds a partitioner that takes one, and the service-noise stream,
    // unless the policy fixes it.
    let (pe, _) = registry.lookup(&p.name)?;
    let noisy = params
        .values
        .get("service_noise")
        .is_some_and(|v| v.trim() != "none");
    if !params.values.contains_key("seed") && (noisy || pe.params.iter().any(|s| s.name == "seed"))
    {
        params.set("seed", seed.to_string());
    }
    Ok(params)
}

fn materialize(w: &WorkloadSpec, seed: u64, file: Option<&Arc<Trace>>) -> Result<Arc<Trace>> {
    if let Some(t) = file {
        return Ok(t.clone());
    }
    let g = w.generate.as_ref().expect("checked: trace or generate");
    let models = g
        .models
        .iter()
        .map(|m| parse_model_weight(m))
        .collect::<Result<Vec<_>>>()?;
    let arrivals = match g.arrivals.as_deref() {
        None | Some("poisson") => Arrivals::Poisson,
        Some("gamma") => Arrivals::Gamma {
            cv: g.cv.unwrap_or(2.0),
        },
        Some(other) => {
            return Err(Error::Usage(format!(
                "workload '{}': key 'generate.arrivals': '{other}'; expected poisson or gamma",
                w.name
            )));
        }
    };
    let mut t = generate(&GenConfig {
        rate: g.rate,
        queries: Some(g.queries),
        duration_s: None,
        models,
        arrivals,
        batch: BatchSpec::LogNormal {
            mu: g.batch_mu,
            sigma: g.batch_sigma,
            max: g.max_batch,
        },
        seed,
    })?;
    t.path = format!("generated:{}:seed{seed}", w.name).into();
    Ok(Arc::new(t))
}

fn row(
    work: &Work,
    cfg: &SweepConfig,
    p: &config::PolicySpec,
    params: &PolicyParams,
    (load_fraction, rate_scale): (Option<f64>, f64),
    t: &Trace,
    r: &Replay,
) -> RunRow {
    let m = &r.metrics;
    let span = (t.arrival_ns[t.len() - 1] - t.arrival_ns[0]).max(1) as f64 / 1e9;
    RunRow {
        workload: cfg.workloads[work.w].name.clone(),
        policy: p.label(),
        policy_name: p.name.clone(),
        params: params.text(),
        gpu: r.server.gpu.name.to_string(),
        gpus: cfg.gpus as u32,
        sla_ms: cfg.workloads[work.w].sla_ms,
        seed: work.seed,
        load_fraction,
        rate_scale,
        offered_qps: (t.len().max(2) - 1) as f64 / span,
        queries: m.queries,
        duration_s: m.duration_s,
        throughput_qps: m.throughput_qps,
        mean_ms: m.latency.mean_ms,
        p50_ms: m.latency.p50_ms,
        p90_ms: m.latency.p90_ms,
        p95_ms: m.latency.p95_ms,
        p99_ms: m.latency.p99_ms,
        p999_ms: m.latency.p999_ms,
        max_ms: m.latency.max_ms,
        queue_mean_ms: m.queue.mean_ms,
        queue_p99_ms: m.queue.p99_ms,
        sla_violation_rate: m.sla_violation_rate.unwrap_or(0.0),
        utilization: m.utilization,
        extrapolated: m.extrapolated,
        invariants_ok: r.invariants.all_ok(),
        layout: r.server.layout_names().join(" | "),
    }
}

/// A sweep's inputs, loaded and materialized, and its task lists. Tasks are numbered in matrix
/// order: a peak task is (work, policy), a load task (work, policy, load), a heat-map task
/// (workload, policy); works are (workload, seed) in config order.
pub struct Prepared {
    pub registry: Registry,
    gpu: GpuSpec,
    profiles: Profiles,
    /// Input files and their sha256: (role, path, sha256).
    pub inputs: Vec<(String, String, String)>,
    works: Vec<Work>,
    /// Profile rows by source: measured, interpolated, modeled, unspecified.
    pub provenance: [usize; 4],
    /// Seconds spent loading and materializing.
    pub t_inputs: f64,
}

/// An offered load: a fraction of the best peak, or an absolute rate scale.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    Fraction(f64),
    Scale(f64),
}

/// The task lists of a config (they depend on the config alone).
#[derive(Debug, Clone)]
pub struct Tasks {
    /// (work, policy).
    pub peaks: Vec<(usize, usize)>,
    /// (work, policy, load index into `loads`).
    pub runs: Vec<(usize, usize, usize)>,
    pub loads: Vec<Load>,
    /// (workload, policy).
    pub heats: Vec<(usize, usize)>,
}

impl Tasks {
    /// The tasks of `cfg`.
    pub fn of(cfg: &SweepConfig, registry: &Registry) -> Tasks {
        let n_works = cfg.workloads.len() * cfg.seeds.len();
        let np = cfg.policies.len();
        let peaks = (0..n_works)
            .flat_map(|k| (0..np).map(move |p| (k, p)))
            .collect();
        let mut fractions = cfg.loads.clone();
        if !fractions.is_empty()
            && !fractions
                .iter()
                .any(|f| (f - cfg.reference_load).abs() < 1e-12)
        {
            fractions.push(cfg.reference_load);
        }
        fractions.sort_by(f64::total_cmp);
        let loads: Vec<Load> = fractions
            .iter()
            .map(|&f| Load::Fraction(f))
            .chain(cfg.rate_scales.iter().map(|&s| Load::Scale(s)))
            .collect();
        let nl = loads.len();
        let runs = (0..n_works)
            .flat_map(|k| (0..np).flat_map(move |p| (0..nl).map(move |l| (k, p, l))))
            .collect();
        // Heat maps: per workload, the first ELSA and the first FIFO policy at the reference
        // load, preferring the PARIS layout for both, so the two maps differ by the scheduler
        // alone.
        let pick = |sched: &str| {
            let is = |p: &config::PolicySpec, part: Option<&str>| {
                registry
                    .lookup(&p.name)
                    .is_ok_and(|(pe, se)| se.name == sched && part.is_none_or(|x| pe.name == x))
            };
            cfg.policies
                .iter()
                .position(|p| is(p, Some("paris")))
                .or_else(|| cfg.policies.iter().position(|p| is(p, None)))
        };
        let heat_policies: Vec<usize> =
            [pick("elsa"), pick("fifo")].into_iter().flatten().collect();
        let heats = (0..cfg.workloads.len())
            .flat_map(|w| heat_policies.iter().map(move |&p| (w, p)))
            .collect();
        Tasks {
            peaks,
            runs,
            loads,
            heats,
        }
    }

    /// The work (workload, seed) index of workload `w` and seed position `s`.
    pub fn work(cfg: &SweepConfig, w: usize, s: usize) -> usize {
        w * cfg.seeds.len() + s
    }

    /// (workload, seed) of work `k`.
    pub fn work_coords(cfg: &SweepConfig, k: usize) -> (usize, u64) {
        (k / cfg.seeds.len(), cfg.seeds[k % cfg.seeds.len()])
    }
}

/// Load the profile and materialize every workload's trace per seed.
pub fn prepare(cfg: &SweepConfig) -> Result<Prepared> {
    let registry = Registry::builtin();
    let gpu = GpuSpec::by_name(&cfg.gpu)?;
    let t0 = Instant::now();
    // Every policy name and parameter checked before anything runs.
    for p in &cfg.policies {
        let params = policy_params(p, cfg.seeds[0], &registry)?;
        registry
            .build(&p.name, &params)
            .map_err(|e| Error::Usage(format!("policy '{}' in the sweep: {e}", p.label())))?;
    }
    let profiles = Profiles::load(&cfg.profiles)?;
    let mut inputs = vec![(
        "profiles".to_string(),
        cfg.profiles.display().to_string(),
        profiles.sha256.get()?,
    )];
    let mut files: Vec<Option<Arc<Trace>>> = Vec::new();
    for w in &cfg.workloads {
        match &w.trace {
            Some(path) => {
                let mut t = Trace::load(path)?;
                if let Some(rate) = w.rate {
                    let mut notes = crate::trace::import::ImportNotes::default();
                    crate::trace::import::rescale_to_rate(&mut t, rate, &mut notes)?;
                }
                inputs.push((
                    format!("workload {}", w.name),
                    path.display().to_string(),
                    t.sha256.get()?,
                ));
                files.push(Some(Arc::new(t)));
            }
            None => files.push(None),
        }
    }
    let cells: Vec<(usize, u64)> = (0..cfg.workloads.len())
        .flat_map(|w| cfg.seeds.iter().map(move |&s| (w, s)))
        .collect();
    let works: Vec<Work> = cells
        .par_iter()
        .map(|&(w, seed)| {
            Ok(Work {
                w,
                seed,
                trace: materialize(&cfg.workloads[w], seed, files[w].as_ref())?,
            })
        })
        .collect::<Result<_>>()?;
    let mut provenance = [0usize; 4];
    for s in profiles.series.values() {
        for src in &s.source {
            provenance[*src as usize] += 1;
        }
    }
    Ok(Prepared {
        registry,
        gpu,
        profiles,
        inputs,
        works,
        provenance,
        t_inputs: t0.elapsed().as_secs_f64(),
    })
}

impl Prepared {
    /// Queries of work `k` (the cost unit of a replay).
    pub fn queries(&self, k: usize) -> usize {
        self.works[k].trace.len()
    }

    /// Run the peak tasks `which` (indices into `tasks.peaks`), in that order.
    pub fn run_peaks(
        &self,
        cfg: &SweepConfig,
        tasks: &Tasks,
        which: &[usize],
        progress: &dyn Progress,
    ) -> Result<Vec<PeakRow>> {
        progress.stage("peak search", which.len() as u64);
        which
            .par_iter()
            .map(|&t| {
                let (k, p) = tasks.peaks[t];
                let work = &self.works[k];
                let spec = &cfg.policies[p];
                let params = policy_params(spec, work.seed, &self.registry)?;
                let w = &cfg.workloads[work.w];
                let r = find_peak(
                    &work.trace,
                    &self.profiles,
                    &self.gpu,
                    cfg.gpus,
                    &spec.label(),
                    &|| self.registry.build(&spec.name, &params),
                    &PeakConfig {
                        percentile: cfg.percentile,
                        sla_ms: w.sla_ms,
                        tolerance: cfg.tolerance,
                    },
                )?;
                progress.tick();
                Ok(PeakRow {
                    workload: w.name.clone(),
                    policy: spec.label(),
                    policy_name: spec.name.clone(),
                    params: params.text(),
                    seed: work.seed,
                    peak: r,
                })
            })
            .collect()
    }

    /// Run the load tasks `which` (indices into `tasks.runs`) given the best peak of every
    /// work; `None` where the best peak is 0 (fractions of it are undefined).
    pub fn run_loads(
        &self,
        cfg: &SweepConfig,
        tasks: &Tasks,
        best: &[f64],
        which: &[usize],
        progress: &dyn Progress,
    ) -> Result<Vec<LoadResult>> {
        progress.stage("offered loads", which.len() as u64);
        let first_seed = cfg.seeds[0];
        which
            .par_iter()
            .map(|&t| {
                let (k, p, l) = tasks.runs[t];
                let work = &self.works[k];
                let (frac, scale) = match tasks.loads[l] {
                    Load::Fraction(f) => (Some(f), f * best[k]),
                    Load::Scale(s) => (None, s),
                };
                progress.tick();
                if scale <= 0.0 {
                    return Ok(None);
                }
                let spec = &cfg.policies[p];
                let params = policy_params(spec, work.seed, &self.registry)?;
                let mut t = (*work.trace).clone();
                t.scale_rate(scale)?;
                let mut policy = self.registry.build(&spec.name, &params)?;
                let w = &cfg.workloads[work.w];
                let r = replay(
                    &t,
                    &self.profiles,
                    &self.gpu,
                    cfg.gpus,
                    &mut policy,
                    Some(w.sla_ms),
                )?;
                let reference = frac.is_some_and(|f| (f - cfg.reference_load).abs() < 1e-12);
                let cdf = (reference && work.seed == first_seed).then(|| Cdf {
                    workload: w.name.clone(),
                    policy: spec.label(),
                    points: cdf_points(&t, &r),
                });
                Ok(Some((
                    row(work, cfg, spec, &params, (frac, scale), &t, &r),
                    cdf,
                )))
            })
            .collect()
    }

    /// Run the heat-map tasks `which` (indices into `tasks.heats`); `None` where the best
    /// peak is 0.
    pub fn run_heats(
        &self,
        cfg: &SweepConfig,
        tasks: &Tasks,
        best: &[f64],
        which: &[usize],
        progress: &dyn Progress,
    ) -> Result<Vec<Option<Heatmap>>> {
        progress.stage("heat maps", which.len() as u64);
        let first_seed = cfg.seeds[0];
        which
            .par_iter()
            .map(|&t| {
                let (w, p) = tasks.heats[t];
                let k = Tasks::work(cfg, w, 0);
                let scale = cfg.reference_load * best[k];
                progress.tick();
                if scale <= 0.0 {
                    return Ok(None);
                }
                let spec = &cfg.policies[p];
                let params = policy_params(spec, first_seed, &self.registry)?;
                let mut t = (*self.works[k].trace).clone();
                t.scale_rate(scale)?;
                let mut policy = self.registry.build(&spec.name, &params)?;
                let r = replay(
                    &t,
                    &self.profiles,
                    &self.gpu,
                    cfg.gpus,
                    &mut policy,
                    Some(cfg.workloads[w].sla_ms),
                )?;
                Ok(Some(heatmap(&cfg.workloads[w].name, &spec.label(), &t, &r)))
            })
            .collect()
    }
}

/// A load task's outcome: its row and, at the reference load of the first seed, its CDF.
pub type LoadResult = Option<(RunRow, Option<Cdf>)>;

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

/// Put a sweep's results together (every task's outcome, in task order).
pub fn assemble(
    cfg: &SweepConfig,
    inputs: Vec<(String, String, String)>,
    provenance: [usize; 4],
    peaks: Vec<PeakRow>,
    loads: Vec<LoadResult>,
    heats: Vec<Option<Heatmap>>,
    stages: Vec<(String, f64)>,
) -> SweepResult {
    let mut runs = Vec::new();
    let mut cdfs = Vec::new();
    for (r, c) in loads.into_iter().flatten() {
        runs.push(r);
        cdfs.extend(c);
    }
    SweepResult {
        config: cfg.clone(),
        inputs,
        runs,
        peaks,
        cdfs,
        heatmaps: heats.into_iter().flatten().collect(),
        stages,
        provenance,
    }
}

/// Run a whole sweep on this machine.
pub fn run(cfg: &SweepConfig, progress: &dyn Progress) -> Result<SweepResult> {
    let prep = prepare(cfg)?;
    let tasks = Tasks::of(cfg, &prep.registry);
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
    progress.finish();
    Ok(assemble(
        cfg,
        prep.inputs,
        prep.provenance,
        peaks,
        loads,
        heats,
        stages,
    ))
}

/// The latency CDF of a replay at 200 quantiles (finer in the tail).
fn cdf_points(t: &Trace, r: &Replay) -> Vec<(f64, f64)> {
    let mut lat: Vec<u64> = r
        .records
        .finish_ns
        .iter()
        .zip(&t.arrival_ns)
        .map(|(f, a)| f - a)
        .collect();
    lat.sort_unstable();
    let mut qs: Vec<f64> = (1..=190).map(|i| i as f64 / 200.0).collect();
    qs.extend((0..10).map(|i| 0.95 + 0.05 * (1.0 - 0.5f64.powi(i + 1))));
    qs.push(1.0);
    qs.iter()
        .map(|&q| (percentile_ns(&mut lat, q * 100.0) as f64 / 1e6, q))
        .collect()
}

/// Bucket of a batch: 1, 2, 3-4, 5-8, ...
fn bucket(b: u32) -> usize {
    if b <= 1 {
        0
    } else {
        (32 - (b - 1).leading_zeros()) as usize
    }
}

fn bucket_name(k: usize) -> String {
    match k {
        0 => "1".into(),
        1 => "2".into(),
        k => format!("{}-{}", (1u64 << (k - 1)) + 1, 1u64 << k),
    }
}

fn heatmap(workload: &str, policy: &str, t: &Trace, r: &Replay) -> Heatmap {
    const BINS: usize = 60;
    let server = &r.server;
    let rec = &r.records;
    let t0 = t.arrival_ns[0];
    let t1 = rec.finish_ns.iter().copied().max().unwrap_or(t0 + 1);
    let bin = ((t1 - t0) as f64 / BINS as f64).max(1.0);
    let ni = server.instances.len();
    let mut busy = vec![vec![0.0f64; BINS]; ni];
    for q in 0..t.len() {
        let i = rec.instance[q] as usize;
        // Spread the query's busy interval over the bins it covers.
        let (s, f) = (
            (rec.start_ns[q] - t0) as f64,
            (rec.finish_ns[q] - t0) as f64,
        );
        let (b0, b1) = ((s / bin) as usize, ((f / bin) as usize).min(BINS - 1));
        for (b, cell) in busy[i].iter_mut().enumerate().take(b1 + 1).skip(b0) {
            let lo = s.max(b as f64 * bin);
            let hi = f.min((b + 1) as f64 * bin);
            if hi > lo {
                *cell += (hi - lo) / bin;
            }
        }
    }
    let slices: Vec<usize> = server.slices_used();
    let nb = t.batch.iter().map(|&b| bucket(b)).max().unwrap_or(0) + 1;
    let mut count = vec![vec![0u64; nb]; slices.len()];
    for q in 0..t.len() {
        let s = server.instances[rec.instance[q] as usize].slice;
        let row = slices.iter().position(|&x| x == s).expect("used slice");
        count[row][bucket(t.batch[q])] += 1;
    }
    Heatmap {
        workload: workload.to_string(),
        policy: policy.to_string(),
        instances: server
            .instances
            .iter()
            .map(|i| {
                format!(
                    "GPU {} {}@{}",
                    i.gpu, server.gpu.profiles[i.slice].name, i.start
                )
            })
            .collect(),
        bin_s: bin / 1e9,
        busy,
        buckets: (0..nb).map(bucket_name).collect(),
        slices: slices
            .iter()
            .map(|&s| server.gpu.profiles[s].name.to_string())
            .collect(),
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_buckets() {
        let v: Vec<usize> = [1, 2, 3, 4, 5, 8, 9, 128]
            .iter()
            .map(|&b| bucket(b))
            .collect();
        assert_eq!(v, [0, 1, 2, 2, 3, 3, 4, 7]);
        assert_eq!(bucket_name(0), "1");
        assert_eq!(bucket_name(2), "3-4");
        assert_eq!(bucket_name(7), "65-128");
    }
}
