//! Running a sweep's tasks on this machine: the inputs loaded and every workload materialized
//! per seed ([`prepare`]), each policy's parameters split once per seed into the policy's keys
//! and the service model, then the peak searches, the offered-load replays and the heat maps,
//! on all cores (rayon), each task independent and collected in task order.

use super::config::{PolicySpec, SweepConfig, WorkloadSpec};
use super::progress::Progress;
use super::rows::{Cdf, Coords, HeatRow, LoadResult, PeakRow, PlanRow, RunRow};
use super::tasks::{Load, Tasks};
use crate::drive::peak::{PeakConfig, find_peak};
use crate::drive::replay::replay;
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::metrics::derived::{cdf_points, heatmap};
use crate::policy::{PolicyParams, Registry, RunParams};
use crate::profile::Profiles;
use crate::scenario::{Inputs, Names, PolicySource, Scenario};
use crate::trace::Trace;
use crate::trace::synth::{Arrivals, BatchSpec, GenConfig, parse_model_weight};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// A materialized workload for one seed.
struct Work {
    w: usize,
    seed: u64,
    trace: Arc<Trace>,
}

/// One policy's parameters for one seed: as given (how the report names the parameter set)
/// and split into the policy's keys, the service model, the SLAs and the reconfiguration rules;
/// and the policy they build.
struct PolicyRun {
    text: String,
    run: RunParams,
    source: PolicySource,
}

/// What a sweep calls the inputs a scenario's checks may refuse (its keys).
const NAMES: Names = Names {
    gpus: "key 'gpus'",
    sla_ms: "key 'workload.sla_ms'",
};

/// Policy `p`'s parameters for `seed`: as given, split into the policy's keys and the service
/// model. The sweep's seed seeds a partitioner that takes one and the service-noise stream,
/// unless the policy fixes it, and then appears among the parameters as given.
fn policy_run(p: &PolicySpec, seed: u64, registry: &Registry) -> Result<PolicyRun> {
    let mut given = PolicyParams::default();
    for (k, v) in p.flat_params() {
        given.set(&k, v);
    }
    let mut run = RunParams::split(given.clone())?;
    if !run.slas.is_empty() {
        return Err(Error::Usage(
            "a sweep judges every policy by the workload's SLAs: give per-model SLAs in the workload's `sla` table, not as a policy's sla.<model>".into(),
        ));
    }
    if run.seed.is_none() && (!run.service.noise.is_none() || registry.declares(&p.name, "seed")?) {
        given.set("seed", seed.to_string());
        run.set_seed(seed);
    }
    let source = PolicySource::registered(registry, &p.name, &run)?.labelled(p.label());
    Ok(PolicyRun {
        text: given.text(),
        run,
        source,
    })
}

/// `cfg` with every policy whose repartitioner reads ahead (perfect foresight: `oracle`)
/// marked in its label, ` (foresight)` appended unless the label already says so: the label
/// is what every output of a sweep names a policy by (`index.html`, `summary.json`,
/// `results.parquet`, `peaks.parquet`, the plots). `baseline` and `heat_maps` follow the
/// relabelled policies. A policy that does not resolve is left as it is (`prepare` refuses it
/// with its reason). The relabelled config is checked again (a marked label may not collide
/// with another policy's label or plot files).
pub fn mark_foresight(cfg: &SweepConfig, registry: &Registry) -> Result<SweepConfig> {
    let mut cfg = cfg.clone();
    let seed = cfg.seeds.first().copied().unwrap_or(1);
    for k in 0..cfg.policies.len() {
        let p = &cfg.policies[k];
        let foresight = policy_run(p, seed, registry).is_ok_and(|pr| pr.source.reads_ahead());
        let old = p.label();
        if !foresight || old.ends_with(FORESIGHT) {
            continue;
        }
        let new = format!("{old}{FORESIGHT}");
        if cfg.baseline.as_deref() == Some(old.as_str()) {
            cfg.baseline = Some(new.clone());
        }
        for l in cfg.heat_maps.iter_mut().flatten() {
            if *l == old {
                *l = new.clone();
            }
        }
        cfg.policies[k].label = Some(new);
    }
    cfg.check(std::path::Path::new(
        "the sweep file (its foresight policies marked)",
    ))?;
    Ok(cfg)
}

/// The mark of a policy that reads ahead, appended to its label.
const FORESIGHT: &str = " (foresight)";

/// Workload `w`'s trace for the seed at position `s` of `n` (`seed`): a trace file as it is,
/// or its window `s` of `n` (`replicates = "windows"`); a generated trace drawn with `seed`.
fn materialize(
    w: &WorkloadSpec,
    (s, n, seed): (usize, usize, u64),
    file: Option<&Arc<Trace>>,
) -> Result<Arc<Trace>> {
    if let Some(t) = file {
        if w.replicates.as_deref() == Some("windows") {
            let mut win = t.window(s, n);
            if win.len() < 2 {
                return Err(Error::Usage(format!(
                    "workload '{}': window {s} of {n} has {} queries; a trace of {} queries is too short for {n} windows",
                    w.name,
                    win.len(),
                    t.len()
                )));
            }
            win.compact_ids();
            return Ok(Arc::new(win));
        }
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
    let cfg = GenConfig {
        rate: g.rate,
        queries: g.queries,
        duration_s: g.duration_s,
        models,
        arrivals,
        batch: BatchSpec::LogNormal {
            mu: g.batch_mu,
            sigma: g.batch_sigma,
            max: g.max_batch,
        },
        seed,
    };
    let var = crate::trace::vary::Variation {
        segments: match &g.segments {
            Some(p) => crate::trace::vary::load_segments(p, &cfg.batch)?,
            None => Vec::new(),
        },
        shape: match &g.rate_shape {
            Some(p) => Some(crate::trace::vary::Shape::load(
                p,
                g.shape_compress.unwrap_or(1.0),
                None,
            )?),
            None => None,
        },
        diurnal: None,
    };
    // With nothing varying this is `generate`, draw for draw.
    let mut t = crate::trace::synth::generate_varying(&cfg, &var)?;
    t.path = format!("generated:{}:seed{seed}", w.name).into();
    Ok(Arc::new(t))
}

/// The exact `p`-th percentile latency (ms) of a replay over every query.
fn percentile_ms(t: &Trace, rec: &crate::engine::Records, p: f64) -> f64 {
    let mut lat: Vec<u64> = rec
        .finish_ns
        .iter()
        .zip(&t.arrival_ns)
        .map(|(f, a)| f - a)
        .collect();
    crate::stats::percentile(&mut lat, p).unwrap_or(0) as f64 / 1e6
}

/// A sweep's inputs, loaded and materialized, with the registry its policies come from.
pub struct Prepared {
    pub registry: Registry,
    gpu: GpuSpec,
    profiles: Arc<Profiles>,
    /// Input files and their sha256: (role, path, sha256).
    pub inputs: Vec<(String, String, String)>,
    works: Vec<Work>,
    /// `policies[p][s]`: policy `p`'s parameters for the seed at position `s`.
    policies: Vec<Vec<PolicyRun>>,
    /// Per policy: its repartitioner reads ahead (perfect foresight).
    foresight: Vec<bool>,
    /// Profile rows by source: measured, interpolated, modeled, unspecified.
    pub provenance: [usize; 4],
    /// Seconds spent loading and materializing.
    pub t_inputs: f64,
}

/// Load the profile and materialize every workload's trace per seed; check every policy name
/// and parameter against `registry` before anything runs.
pub fn prepare(cfg: &SweepConfig, registry: &Registry) -> Result<Prepared> {
    let gpu = GpuSpec::by_name(&cfg.gpu)?;
    let t0 = Instant::now();
    let mut policies = Vec::with_capacity(cfg.policies.len());
    let mut foresight = Vec::with_capacity(cfg.policies.len());
    for p in &cfg.policies {
        let in_sweep = |e: Error| Error::Usage(format!("policy '{}' in the sweep: {e}", p.label()));
        let mut per_seed = Vec::with_capacity(cfg.seeds.len());
        for &seed in &cfg.seeds {
            let pr = policy_run(p, seed, registry).map_err(in_sweep)?;
            if per_seed.is_empty() {
                foresight.push(pr.source.reads_ahead());
            }
            per_seed.push(pr);
        }
        policies.push(per_seed);
    }
    let profiles = Arc::new(Profiles::load(&cfg.profiles)?);
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
            None => {
                // The files a generated workload draws from: hashed, so that the report names
                // what made its traces and `merge` refuses shards drawn from other ones.
                let g = w.generate.as_ref().expect("checked: trace or generate");
                for (role, file) in [("segments", &g.segments), ("rate shape", &g.rate_shape)] {
                    if let Some(path) = file {
                        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                        inputs.push((
                            format!("workload {} {role}", w.name),
                            path.display().to_string(),
                            crate::io::hash::sha256_hex(&bytes),
                        ));
                    }
                }
                files.push(None);
            }
        }
    }
    let n_seeds = cfg.seeds.len();
    let cells: Vec<(usize, usize, u64)> = (0..cfg.workloads.len())
        .flat_map(|w| {
            cfg.seeds
                .iter()
                .enumerate()
                .map(move |(s, &seed)| (w, s, seed))
        })
        .collect();
    let works: Vec<Work> = cells
        .par_iter()
        .map(|&(w, s, seed)| {
            Ok(Work {
                w,
                seed,
                trace: materialize(&cfg.workloads[w], (s, n_seeds, seed), files[w].as_ref())?,
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
        registry: registry.clone(),
        gpu,
        profiles,
        inputs,
        works,
        policies,
        foresight,
        provenance,
        t_inputs: t0.elapsed().as_secs_f64(),
    })
}

impl Prepared {
    /// Queries of work `k` (the cost unit of a replay).
    pub fn queries(&self, k: usize) -> usize {
        self.works[k].trace.len()
    }

    /// Policy `p`'s relative cost per replayed query, from its scheduler's registry entry
    /// under its service model (first seed).
    pub fn cost(&self, cfg: &SweepConfig, p: usize) -> u64 {
        let service = &self.policies[p][0].run.service;
        self.registry
            .lookup(&cfg.policies[p].name)
            .map_or(crate::policy::Cost::UNKNOWN.of(service), |(_, se)| {
                se.cost.of(service)
            })
    }

    /// The rate scale of work `k`'s reference load: `reference_qps` over the trace's own
    /// offered rate, else `reference_load` x the best peak (0 where that is 0).
    fn reference_scale(&self, cfg: &SweepConfig, k: usize, best: &[f64]) -> f64 {
        let work = &self.works[k];
        match cfg.workloads[work.w].reference_qps {
            Some(q) => q / work.trace.offered_rate(),
            None => cfg.reference_load * best[k],
        }
    }

    /// Policy `p`'s parameters for work `k`'s seed.
    fn policy_run(&self, cfg: &SweepConfig, p: usize, k: usize) -> &PolicyRun {
        &self.policies[p][k % cfg.seeds.len()]
    }

    /// The scenario of policy `p` on work `k` (its trace as materialized).
    fn scenario(&self, cfg: &SweepConfig, p: usize, k: usize) -> Result<Scenario> {
        let pr = self.policy_run(cfg, p, k);
        let w = &cfg.workloads[self.works[k].w];
        Scenario::new(
            Inputs {
                trace: self.works[k].trace.clone(),
                profiles: self.profiles.clone(),
                gpu: self.gpu.clone(),
                gpus: cfg.gpus,
                policy: pr.source.clone(),
                service: pr.run.service.clone(),
                slas: w.slas(pr.run.slas.rule),
                reconfig: pr.run.reconfig.clone(),
            },
            &NAMES,
        )
    }

    /// Where a run of policy `p` on work `k` sits in the matrix.
    fn coords<'c>(&self, cfg: &'c SweepConfig, p: usize, k: usize) -> Coords<'c> {
        let w = &cfg.workloads[self.works[k].w];
        let spec = &cfg.policies[p];
        Coords {
            workload: &w.name,
            policy: spec.label(),
            policy_name: &spec.name,
            params: self.policy_run(cfg, p, k).text.clone(),
            gpus: cfg.gpus,
            sla_ms: w.sla_ms,
            seed: self.works[k].seed,
        }
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
                let pr = self.policy_run(cfg, p, k);
                let w = &cfg.workloads[work.w];
                let r = find_peak(
                    &self.scenario(cfg, p, k)?,
                    &PeakConfig {
                        percentile: cfg.percentile,
                        tolerance: cfg.tolerance,
                        pooled: cfg.pooled,
                    },
                )?;
                progress.tick();
                Ok(PeakRow {
                    workload: w.name.clone(),
                    policy_name: spec.name.clone(),
                    params: pr.text.clone(),
                    seed: work.seed,
                    foresight: self.foresight[p],
                    peak: r,
                })
            })
            .collect()
    }

    /// With a `plan` table: the fewest GPUs of every (workload, seed, policy), each at the
    /// work's own trace (its rate as materialized), in matrix order; empty without one.
    pub fn run_plans(&self, cfg: &SweepConfig, progress: &dyn Progress) -> Result<Vec<PlanRow>> {
        let Some(spec) = &cfg.plan else {
            return Ok(Vec::new());
        };
        let pc = spec.config(cfg)?;
        let np = cfg.policies.len();
        let tasks: Vec<(usize, usize)> = (0..self.works.len())
            .flat_map(|k| (0..np).map(move |p| (k, p)))
            .collect();
        progress.stage("capacity plans", tasks.len() as u64);
        tasks
            .par_iter()
            .map(|&(k, p)| {
                let work = &self.works[k];
                let spec = &cfg.policies[p];
                let pr = self.policy_run(cfg, p, k);
                let w = &cfg.workloads[work.w];
                let r = crate::drive::capacity::plan(&self.scenario(cfg, p, k)?, &pc, None)?;
                progress.tick();
                Ok(PlanRow {
                    workload: w.name.clone(),
                    policy_name: spec.name.clone(),
                    params: pr.text.clone(),
                    seed: work.seed,
                    plan: r,
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
                let w = &cfg.workloads[work.w];
                let (frac, scale) = match tasks.loads[l] {
                    Load::Fraction(f) => (Some(f), f * best[k]),
                    Load::Scale(s) => (None, s),
                    Load::Reference => match w.reference_qps {
                        Some(_) => (None, self.reference_scale(cfg, k, best)),
                        None => (None, 0.0),
                    },
                };
                progress.tick();
                if scale <= 0.0 {
                    return Ok(None);
                }
                let spec = &cfg.policies[p];
                let s = self.scenario(cfg, p, k)?.scaled(scale)?;
                let t = s.trace();
                let r = replay(&s)?;
                // The verdict's load: the workload's reference rate, else the reference fraction.
                let reference = match tasks.loads[l] {
                    Load::Reference => true,
                    Load::Fraction(f) => {
                        w.reference_qps.is_none() && (f - cfg.reference_load).abs() < 1e-12
                    }
                    Load::Scale(_) => false,
                };
                let cdf = (reference && work.seed == first_seed).then(|| Cdf {
                    workload: w.name.clone(),
                    policy: spec.label(),
                    points: cdf_points(t, &r.records),
                });
                let c = self.coords(cfg, p, k);
                let pct = percentile_ms(t, &r.records, cfg.percentile);
                let mut row = RunRow::new(&c, (frac, scale), t, &r, pct);
                row.reference = reference;
                Ok(Some((row, cdf)))
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
    ) -> Result<Vec<Option<HeatRow>>> {
        progress.stage("heat maps", which.len() as u64);
        which
            .par_iter()
            .map(|&t| {
                let (w, p) = tasks.heats[t];
                let k = Tasks::work(cfg, w, 0);
                let scale = self.reference_scale(cfg, k, best);
                progress.tick();
                if scale <= 0.0 {
                    return Ok(None);
                }
                let spec = &cfg.policies[p];
                let s = self.scenario(cfg, p, k)?.scaled(scale)?;
                let t = s.trace();
                let r = replay(&s)?;
                let timeline = r.repartition.is_some().then(|| {
                    let rows = crate::metrics::timeline::timeline(
                        t,
                        &r.server,
                        &r.records,
                        &r.slas,
                        crate::metrics::timeline::default_window_ns(&r.records),
                    );
                    crate::metrics::timeline::TimelineData::of(
                        t, &r.server, &r.records, &r.slas, &rows,
                    )
                });
                Ok(Some(HeatRow {
                    workload: cfg.workloads[w].name.clone(),
                    policy: spec.label(),
                    map: heatmap(t, &r.server, &r.records),
                    timeline_title: timeline.as_ref().map(|_| {
                        format!(
                            "{}: {} at the reference load",
                            cfg.workloads[w].name,
                            spec.label()
                        )
                    }),
                    timeline,
                }))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The reconfiguration experiment's generated workloads are the shipped time-varying traces'
    /// laws: drawn with the seeds those files were written with (`traces/README.md`: `trace gen
    /// ... --seed 11` and `--seed 12`), they give the same rows.
    #[test]
    fn generated_time_varying_workloads_are_the_shipped_traces_laws() {
        let path = Path::new("experiments/reconfig.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let cfg = SweepConfig::parse(&text, path).unwrap();
        for (name, file, seed) in [
            ("mix-shift", "traces/mix-shift.parquet", 11),
            ("day-shape", "traces/day-shape.parquet", 12),
        ] {
            let w = cfg.workloads.iter().find(|w| w.name == name).unwrap();
            let got = materialize(w, (0, 1, seed), None).unwrap();
            let want = Trace::load(Path::new(file)).unwrap();
            assert_eq!(got.len(), want.len(), "{name}");
            assert_eq!(got.models, want.models, "{name}");
            assert!(got.arrival_ns == want.arrival_ns, "{name}: arrivals differ");
            assert!(got.model == want.model, "{name}: models differ");
            assert!(got.batch == want.batch, "{name}: batches differ");
        }
    }
}
