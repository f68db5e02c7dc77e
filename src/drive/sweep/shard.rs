//! Sharded sweeps: one matrix split over many machines (Slurm array tasks, or anything else
//! that can run N commands), then merged into the report `bench-all` writes.
//!
//! A sweep's loads are fractions of the best policy's peak, so it runs in two phases:
//! 1. `sweep --config F --phase peaks --shard K/N --out DIR` runs shard K (0-based) of the peak
//!    searches and writes `DIR/shards/peaks-K-of-N.json`;
//! 2. `sweep --config F --phase loads --shard K/N --out DIR` reads every peaks file under
//!    `DIR/shards/` (the set must be complete), takes the best peak of each (workload, seed), runs
//!    shard K of the offered-load replays and heat maps, and writes `DIR/shards/loads-K-of-N.json`;
//! 3. `merge DIR [--out REPORT]` checks that both phases are complete and consistent and writes
//!    the report.
//!
//! Assignment: tasks are numbered in matrix order; each task's expected cost is the queries it
//! replays (a peak search counts [`PEAK_REPLAYS`] replays) times its policy's relative cost per
//! query (its scheduler's registry entry, [`crate::policy::Cost`]); tasks go, most expensive
//! first (ties by number), to the shard with
//! the least cost so far (ties: lowest shard). It depends on the
//! config and the trace lengths only, so every shard computes the same assignment. A shard file
//! carries the config text and its sha256, the inputs' hashes, its tasks and their results
//! (JSON, floats round-trip exactly), so the merge needs nothing else and a merged report equals
//! an unsharded one.

use super::config::SweepConfig;
use super::progress::Progress;
use super::rows::{HeatRow, LoadResult, PeakRow};
use super::run::{Prepared, prepare};
use super::tasks::{Load, Tasks};
use super::{SweepResult, assemble, best_peaks};
use crate::error::{Error, Result};
use crate::policy::Registry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Replays a peak search is expected to cost (bracketing plus bisection to 1 %).
pub const PEAK_REPLAYS: u64 = 12;

/// A sweep phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The peak searches.
    Peaks,
    /// The offered-load replays and heat maps (needs every peaks shard).
    Loads,
}

impl Phase {
    /// The phase as the command line and the shard files name it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Peaks => "peaks",
            Phase::Loads => "loads",
        }
    }
}

/// `K/N`: shard K (0-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for ShardSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("'{s}': expected K/N with 0 <= K < N, e.g. 0/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(ShardSpec { k, n })
    }
}

/// What one shard wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardFile {
    pub format: String,
    pub config_sha256: String,
    pub config_toml: String,
    pub phase: Phase,
    pub shard: usize,
    pub shards: usize,
    /// Task numbers (peaks phase: into the peak tasks; loads phase: load tasks, then heat-map
    /// tasks numbered after them).
    pub tasks: Vec<usize>,
    pub seconds: f64,
    pub inputs: Vec<(String, String, String)>,
    pub provenance: [usize; 4],
    #[serde(default)]
    pub peaks: Vec<PeakRow>,
    #[serde(default)]
    pub loads: Vec<LoadResult>,
    #[serde(default)]
    pub heats: Vec<Option<HeatRow>>,
}

const FORMAT: &str = "mig-replay-shard/1";

/// The sha256 of a config's text.
pub fn config_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The shard of every task: most expensive first to the least-loaded shard (ties: the lowest
/// shard). Only the first `min(n, tasks)` shards can receive a task (an empty shard is always
/// the least loaded), so the work is `O(tasks log tasks)` whatever `n` is.
pub fn assign(costs: &[u64], n: usize) -> Vec<usize> {
    use std::cmp::Reverse;
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by_key(|&t| (Reverse(costs[t]), t));
    let used = n.clamp(1, costs.len().max(1));
    let mut heap: std::collections::BinaryHeap<Reverse<(u64, usize)>> =
        (0..used).map(|s| Reverse((0, s))).collect();
    let mut shard = vec![0; costs.len()];
    for t in order {
        let Reverse((load, s)) = heap.pop().expect("n >= 1");
        shard[t] = s;
        heap.push(Reverse((load + costs[t], s)));
    }
    shard
}

/// The most shards a sweep can use: the task count of its larger phase (a shard beyond a
/// phase's task count has nothing to do in that phase; beyond both, in either).
pub fn max_shards(tasks: &Tasks) -> usize {
    tasks
        .peaks
        .len()
        .max(tasks.runs.len() + tasks.heats.len())
        .max(1)
}

/// Refuse a shard count larger than the work it could split ([`max_shards`]).
fn check_shards(cfg: &SweepConfig, tasks: &Tasks, spec: ShardSpec) -> Result<()> {
    let most = max_shards(tasks);
    if spec.n > most {
        return Err(Error::Usage(format!(
            "--shard {}/{}: sweep '{}' has {} peak tasks and {} load tasks, so at most {most} shards can have work; use N <= {most}",
            spec.k,
            spec.n,
            cfg.name,
            tasks.peaks.len(),
            tasks.runs.len() + tasks.heats.len()
        )));
    }
    Ok(())
}

/// Refuse shard files that read different inputs (a trace regenerated between two shards):
/// every file's `(role, path, sha256)` list must equal `expected`, read by `whose`.
fn check_inputs(
    files: &[(PathBuf, ShardFile)],
    expected: &[(String, String, String)],
    whose: &str,
) -> Result<()> {
    for (path, f) in files {
        if f.inputs == expected {
            continue;
        }
        let differs = expected
            .iter()
            .zip(&f.inputs)
            .find(|(a, b)| a != b)
            .map(|(a, b)| {
                if a.0 == b.0 && a.1 == b.1 {
                    format!(
                        "it read {} ({}) with sha256 {}, but {whose} read it with sha256 {}",
                        b.1, b.0, b.2, a.2
                    )
                } else {
                    format!(
                        "it read {} ({}) where {whose} read {} ({})",
                        b.1, b.0, a.1, a.0
                    )
                }
            })
            .unwrap_or_else(|| {
                format!(
                    "it read {} input files, {whose} {}",
                    f.inputs.len(),
                    expected.len()
                )
            });
        return Err(Error::file(
            path,
            format!(
                "{differs}; an input changed between shards, so their results would mix: rerun every shard on the same inputs"
            ),
        ));
    }
    Ok(())
}

/// Expected costs of a phase's tasks (in the half-units of [`crate::policy::Cost`]).
fn costs(cfg: &SweepConfig, prep: &Prepared, tasks: &Tasks, phase: Phase) -> Vec<u64> {
    let w: Vec<u64> = (0..cfg.policies.len()).map(|p| prep.cost(cfg, p)).collect();
    match phase {
        Phase::Peaks => tasks
            .peaks
            .iter()
            .map(|&(k, p)| prep.queries(k) as u64 * PEAK_REPLAYS * w[p])
            .collect(),
        Phase::Loads => tasks
            .runs
            .iter()
            .map(|&(k, p, _)| prep.queries(k) as u64 * w[p])
            .chain(
                tasks
                    .heats
                    .iter()
                    .map(|&(wl, p)| prep.queries(Tasks::work(cfg, wl, 0)) as u64 * w[p]),
            )
            .collect(),
    }
}

fn shard_path(dir: &Path, phase: Phase, k: usize, n: usize) -> PathBuf {
    dir.join("shards")
        .join(format!("{}-{k}-of-{n}.json", phase.name()))
}

/// Run shard `spec` of `phase` of the sweep in `config_path`, its policies from `registry`,
/// writing its file under `dir`.
pub fn run_shard(
    config_path: &Path,
    registry: &Registry,
    phase: Phase,
    spec: ShardSpec,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let t0 = Instant::now();
    let text = std::fs::read_to_string(config_path).map_err(|e| Error::io(config_path, e))?;
    let cfg = super::run::mark_foresight(&SweepConfig::parse(&text, config_path)?, registry)?;
    let hash = config_hash(&text);
    let tasks = Tasks::of(&cfg, registry);
    check_shards(&cfg, &tasks, spec)?;
    let prep = prepare(&cfg, registry)?;
    let costs = costs(&cfg, &prep, &tasks, phase);
    let mine: Vec<usize> = assign(&costs, spec.n)
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == spec.k)
        .map(|(t, _)| t)
        .collect();
    let mut file = ShardFile {
        format: FORMAT.into(),
        config_sha256: hash.clone(),
        config_toml: text.clone(),
        phase,
        shard: spec.k,
        shards: spec.n,
        tasks: mine.clone(),
        seconds: 0.0,
        inputs: prep.inputs.clone(),
        provenance: prep.provenance,
        peaks: vec![],
        loads: vec![],
        heats: vec![],
    };
    match phase {
        Phase::Peaks => {
            file.peaks = prep.run_peaks(&cfg, &tasks, &mine, progress)?;
        }
        Phase::Loads => {
            let peaks = gather_peaks(dir, &cfg, &hash, &tasks, &prep.inputs, "this shard")?;
            let best = best_peaks(&cfg, &peaks);
            let nr = tasks.runs.len();
            let runs: Vec<usize> = mine.iter().copied().filter(|&t| t < nr).collect();
            let heats: Vec<usize> = mine.iter().filter(|&&t| t >= nr).map(|t| t - nr).collect();
            file.loads = prep.run_loads(&cfg, &tasks, &best, &runs, progress)?;
            file.heats = prep.run_heats(&cfg, &tasks, &best, &heats, progress)?;
        }
    }
    progress.finish();
    file.seconds = t0.elapsed().as_secs_f64();
    let path = shard_path(dir, phase, spec.k, spec.n);
    let parent = path.parent().expect("shards folder");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let json = serde_json::to_string(&file).map_err(|e| Error::Other(e.to_string()))?;
    crate::io::write_atomic(&path, json.as_bytes())?;
    Ok(path)
}

/// Every shard file of `phase` under `dir/shards`.
fn read_phase(dir: &Path, phase: Phase) -> Result<Vec<(PathBuf, ShardFile)>> {
    let sdir = dir.join("shards");
    let prefix = format!("{}-", phase.name());
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&sdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&sdir, e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let f: ShardFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::file(&p, format!("not a mig-replay shard file: {e}")))?;
        if f.format != FORMAT || f.phase != phase {
            return Err(Error::file(
                &p,
                format!("expected a {FORMAT} file of phase {}", phase.name()),
            ));
        }
        if f.shard >= f.shards {
            return Err(Error::file(
                &p,
                format!(
                    "says it is shard {} of {}; expected 0 <= shard < shards",
                    f.shard, f.shards
                ),
            ));
        }
        out.push((p, f));
    }
    Ok(out)
}

/// A task's name for messages.
fn describe(cfg: &SweepConfig, tasks: &Tasks, phase: Phase, t: usize) -> String {
    let seedless = |k: usize| Tasks::work_coords(cfg, k);
    match phase {
        Phase::Peaks => {
            let (k, p) = tasks.peaks[t];
            let (w, seed) = seedless(k);
            format!(
                "peak {} / {} / seed {seed}",
                cfg.workloads[w].name,
                cfg.policies[p].label()
            )
        }
        Phase::Loads if t < tasks.runs.len() => {
            let (k, p, l) = tasks.runs[t];
            let (w, seed) = seedless(k);
            let load = match tasks.loads[l] {
                Load::Fraction(f) => format!("load {f}"),
                Load::Scale(s) => format!("rate scale {s}"),
                Load::Reference => "the reference rate".into(),
            };
            format!(
                "run {} / {} / seed {seed} / {load}",
                cfg.workloads[w].name,
                cfg.policies[p].label()
            )
        }
        Phase::Loads => {
            let (w, p) = tasks.heats[t - tasks.runs.len()];
            format!(
                "heat map {} / {}",
                cfg.workloads[w].name,
                cfg.policies[p].label()
            )
        }
    }
}

/// Check that the files of a phase cover every task exactly once with one config; return the
/// task -> (file index, position) map.
fn check_cover(
    dir: &Path,
    files: &[(PathBuf, ShardFile)],
    cfg: &SweepConfig,
    hash: &str,
    tasks: &Tasks,
    phase: Phase,
) -> Result<Vec<(usize, usize)>> {
    let total = match phase {
        Phase::Peaks => tasks.peaks.len(),
        Phase::Loads => tasks.runs.len() + tasks.heats.len(),
    };
    let mut at: Vec<Option<(usize, usize)>> = vec![None; total];
    for (fi, (path, f)) in files.iter().enumerate() {
        if f.config_sha256 != hash {
            return Err(Error::file(
                path,
                format!(
                    "made from another config (sha256 {}, expected {hash}); remove it or rerun its shard",
                    f.config_sha256
                ),
            ));
        }
        for (pos, &t) in f.tasks.iter().enumerate() {
            if t >= total {
                return Err(Error::file(
                    path,
                    format!("task {t} does not exist ({total} tasks)"),
                ));
            }
            if let Some((other, _)) = at[t] {
                return Err(Error::file(
                    path,
                    format!(
                        "{} is also in {}; every run must come from exactly one shard",
                        describe(cfg, tasks, phase, t),
                        files[other].0.display()
                    ),
                ));
            }
            at[t] = Some((fi, pos));
        }
    }
    let missing: Vec<usize> = (0..total).filter(|&t| at[t].is_none()).collect();
    if !missing.is_empty() {
        // Which shard files would hold them, for the N the present files name: the first 8
        // and how many in all (N can be large: never list them all).
        let ns: std::collections::BTreeSet<usize> = files.iter().map(|f| f.1.shards).collect();
        let present: std::collections::BTreeSet<(usize, usize)> =
            files.iter().map(|f| (f.1.shard, f.1.shards)).collect();
        let n_absent: usize = ns
            .iter()
            .fold(0usize, |a, &n| a.saturating_add(n))
            .saturating_sub(present.len());
        let mut absent: Vec<String> = ns
            .iter()
            .flat_map(|&n| (0..n).map(move |k| (k, n)))
            .filter(|kn| !present.contains(kn))
            .take(8)
            .map(|(k, n)| shard_path(dir, phase, k, n).display().to_string())
            .collect();
        if n_absent > absent.len() {
            absent.push(format!("... ({n_absent} in all)"));
        }
        let names: Vec<String> = missing
            .iter()
            .take(8)
            .map(|&t| describe(cfg, tasks, phase, t))
            .collect();
        return Err(Error::Usage(format!(
            "{}: phase {} is incomplete: {} of {total} tasks missing ({}{}){}",
            dir.display(),
            phase.name(),
            missing.len(),
            names.join("; "),
            if missing.len() > names.len() {
                "; ..."
            } else {
                ""
            },
            if absent.is_empty() {
                if files.is_empty() {
                    format!("; no {} shard files found", phase.name())
                } else {
                    String::new()
                }
            } else {
                format!("; absent: {}", absent.join(", "))
            }
        )));
    }
    Ok(at.into_iter().map(|x| x.expect("checked")).collect())
}

/// Every peak row in task order, from a complete set of peaks shard files that read the
/// `inputs` `whose` read.
fn gather_peaks(
    dir: &Path,
    cfg: &SweepConfig,
    hash: &str,
    tasks: &Tasks,
    inputs: &[(String, String, String)],
    whose: &str,
) -> Result<Vec<PeakRow>> {
    let files = read_phase(dir, Phase::Peaks)?;
    let at = check_cover(dir, &files, cfg, hash, tasks, Phase::Peaks)?;
    check_inputs(&files, inputs, whose)?;
    at.iter()
        .map(|&(fi, pos)| {
            files[fi].1.peaks.get(pos).cloned().ok_or_else(|| {
                Error::file(&files[fi].0, "fewer peak rows than tasks; rerun its shard")
            })
        })
        .collect()
}

/// Gather every shard under `dir` into the sweep's results (the report is written from them);
/// `registry` is the one the shards ran with (it decides which heat-map tasks exist).
pub fn merge(dir: &Path, registry: &Registry) -> Result<SweepResult> {
    let peaks_files = read_phase(dir, Phase::Peaks)?;
    let Some((_, first)) = peaks_files.first() else {
        return Err(Error::Usage(format!(
            "{}: no shard files under {}/shards (run `sweep --phase peaks --shard K/N --out {}` first)",
            dir.display(),
            dir.display(),
            dir.display()
        )));
    };
    let hash = first.config_sha256.clone();
    let cfg = super::run::mark_foresight(
        &SweepConfig::parse(&first.config_toml, Path::new("<config in shard file>"))?,
        registry,
    )?;
    let (inputs, provenance) = (first.inputs.clone(), first.provenance);
    let whose = peaks_files[0].0.display().to_string();
    let tasks = Tasks::of(&cfg, registry);
    let peaks = gather_peaks(dir, &cfg, &hash, &tasks, &inputs, &whose)?;
    let load_files = read_phase(dir, Phase::Loads)?;
    let at = check_cover(dir, &load_files, &cfg, &hash, &tasks, Phase::Loads)?;
    check_inputs(&load_files, &inputs, &whose)?;
    let nr = tasks.runs.len();
    let mut loads: Vec<LoadResult> = Vec::with_capacity(nr);
    let mut heats: Vec<Option<HeatRow>> = Vec::with_capacity(tasks.heats.len());
    for (t, &(fi, pos)) in at.iter().enumerate() {
        let (path, f) = &load_files[fi];
        let n_runs_here = f.tasks.iter().filter(|&&x| x < nr).count();
        let short = || Error::file(path, "fewer results than tasks; rerun its shard");
        if t < nr {
            loads.push(f.loads.get(pos).cloned().ok_or_else(short)?);
        } else {
            heats.push(f.heats.get(pos - n_runs_here).cloned().ok_or_else(short)?);
        }
    }
    let mut secs: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, f) in &peaks_files {
        *secs.entry("peak search (shards, summed)").or_default() += f.seconds;
    }
    for (_, f) in &load_files {
        *secs
            .entry("offered loads and heat maps (shards, summed)")
            .or_default() += f.seconds;
    }
    let mut stages: Vec<(String, f64)> =
        secs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // The capacity plans are not sharded: this machine computes them (a few replays per
    // policy and work, seconds for the shipped sweeps).
    let plans = if cfg.plan.is_some() {
        let t = std::time::Instant::now();
        let plans = super::prepare(&cfg, registry)?.run_plans(&cfg, &super::Quiet)?;
        stages.push((
            "capacity plans (at merge)".to_string(),
            t.elapsed().as_secs_f64(),
        ));
        plans
    } else {
        Vec::new()
    };
    Ok(assemble(
        &cfg,
        super::Outcomes {
            inputs,
            provenance,
            peaks,
            loads,
            heats,
            plans,
            stages,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_covers_every_task_once_and_balances_cost() {
        let costs: Vec<u64> = (0..50).map(|t| 1000 + (t * 7919 % 13) * 500).collect();
        for n in 1..=7 {
            let a = assign(&costs, n);
            assert_eq!(a.len(), costs.len());
            assert!(a.iter().all(|&s| s < n));
            let mut load = vec![0u64; n];
            for (t, &s) in a.iter().enumerate() {
                load[s] += costs[t];
            }
            let (lo, hi) = (load.iter().min().unwrap(), load.iter().max().unwrap());
            // LPT: no shard exceeds another by more than the largest task.
            assert!(hi - lo <= *costs.iter().max().unwrap(), "n {n}: {load:?}");
            assert_eq!(a, assign(&costs, n), "deterministic");
        }
        assert!("4/4".parse::<ShardSpec>().is_err());
        // Any number of shards beyond the tasks: by hand, each task (most expensive first)
        // takes the next empty shard, lowest first; in no time, whatever N.
        let t = std::time::Instant::now();
        assert_eq!(assign(&[3, 5, 3, 1], usize::MAX), vec![1, 0, 2, 3]);
        assert_eq!(assign(&[3, 5, 3, 1], 4_294_967_296), vec![1, 0, 2, 3]);
        assert_eq!(assign(&[], usize::MAX), Vec::<usize>::new());
        // Two shards: 5 -> 0, 3 -> 1, 3 -> 1 (3 < 5), 1 -> 0 (5 < 6).
        assert_eq!(assign(&[3, 5, 3, 1], 2), vec![1, 0, 1, 0]);
        assert!(t.elapsed().as_secs_f64() < 1.0);
        assert!("x/4".parse::<ShardSpec>().is_err());
        assert_eq!("3/4".parse::<ShardSpec>(), Ok(ShardSpec { k: 3, n: 4 }));
    }
}
