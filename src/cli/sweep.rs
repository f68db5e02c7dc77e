//! `mig-replay sweep --config F` and `mig-replay bench-all` (the shipped full matrix).

use crate::drive::sweep::shard::{Phase, ShardSpec};
use crate::drive::sweep::{self, Bar, Lines, Progress, config::SweepConfig};
use crate::error::{Error, Result};
use crate::policy::Registry;
use crate::report::{sweep::write, verdict::verdict_text};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file (see experiments/bench-all.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Report folder (default: reports/NAME from the config).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard K (0-based) of N of a phase, writing OUT/shards/PHASE-K-of-N.json
    /// (`merge OUT` makes the report). Needs --phase.
    #[arg(long, requires = "phase")]
    pub shard: Option<ShardSpec>,
    /// With --shard: `peaks` (the peak searches) or `loads` (the offered loads and heat maps,
    /// after every peaks shard finished).
    #[arg(long, value_enum, requires = "shard")]
    pub phase: Option<Phase>,
}

#[derive(Debug, Args)]
pub struct BenchAllArgs {
    /// The sweep file.
    #[arg(long, default_value = "experiments/bench-all.toml")]
    pub config: PathBuf,
    /// Report folder.
    #[arg(long, default_value = "reports/bench-all")]
    pub out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn bench_all(a: BenchAllArgs, registry: &Registry) -> Result<i32> {
    sweep(
        SweepArgs {
            config: a.config,
            out: Some(a.out),
            jobs: a.jobs,
            shard: None,
            phase: None,
        },
        registry,
    )
}

pub fn sweep(a: SweepArgs, registry: &Registry) -> Result<i32> {
    let t0 = Instant::now();
    let cfg = SweepConfig::load(&a.config)?;
    // Every policy's halves must be known to this binary before the header says what will run.
    for p in &cfg.policies {
        registry.lookup(&p.name).map_err(|e| {
            Error::Usage(format!(
                "{}: policy '{}': {e}",
                a.config.display(),
                p.label()
            ))
        })?;
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&cfg.name));
    super::run::check_out_dir(&out, REPORT_FILES)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs(a.jobs, sweep::estimate_tasks(&cfg)))
        .build()
        .map_err(|e| Error::Other(format!("thread pool: {e}")))?;
    let threads = pool.current_num_threads();
    println!(
        "sweep '{}' from {}: {} x {} x {}, {}, on {}",
        cfg.name,
        a.config.display(),
        count(cfg.workloads.len(), "workload"),
        count(cfg.policies.len(), "policy"),
        count(cfg.seeds.len(), "seed"),
        count(cfg.loads.len() + cfg.rate_scales.len(), "load"),
        count(threads, "thread")
    );
    if let (Some(spec), Some(phase)) = (a.shard, a.phase) {
        let path = pool.install(|| {
            sweep::shard::run_shard(&a.config, registry, phase, spec, &out, &Lines::default())
        })?;
        println!(
            "shard {}/{} of phase {} in {:.1} s; wrote {}",
            spec.k,
            spec.n,
            phase.name(),
            t0.elapsed().as_secs_f64(),
            path.display()
        );
        return Ok(0);
    }
    let progress: Box<dyn Progress> = if std::io::stdout().is_terminal() {
        Box::new(Bar::new(sweep::estimate_tasks(&cfg)))
    } else {
        Box::new(Lines::default())
    };
    let res = pool.install(|| sweep::run(&cfg, registry, progress.as_ref()))?;
    report(&res, &out, t0)
}

/// The files a sweep report writes in its folder (checked before the sweep runs).
pub(super) const REPORT_FILES: &[&str] = &[
    "results.parquet",
    "peaks.parquet",
    "plans.json",
    "summary.json",
    "timing.json",
    "index.html",
];

/// The worker threads for `--jobs`: more than this machine's cores or than the sweep's tasks
/// would only add threads with nothing to do (and thousands of them take minutes to start),
/// so a larger value is clamped, with a note. 0 or none: every core.
fn jobs(asked: Option<usize>, tasks: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let most = cores
        .min(usize::try_from(tasks).unwrap_or(usize::MAX))
        .max(1);
    match asked {
        Some(j) if j > most => {
            eprintln!(
                "note: --jobs {j} is more than {} ({}); using {most} threads",
                if most == cores {
                    "this machine's cores"
                } else {
                    "the sweep's tasks"
                },
                most
            );
            most
        }
        Some(j) => j,
        None => 0,
    }
}

/// `n` and the noun, in the singular for 1 (`policy` → `policies`).
fn count(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// Write the report folder of a finished sweep and print the verdict.
pub fn report(res: &sweep::SweepResult, out: &std::path::Path, t0: Instant) -> Result<i32> {
    let t_report = Instant::now();
    let summary = write(res, out)?;
    print!("{}", verdict_text(&summary));
    let bad = summary.validity.runs - summary.validity.runs_with_invariants_ok;
    println!(
        "{} runs, {} peak searches{} in {:.1} s (report {:.1} s); wrote {}/index.html, summary.json, results.parquet, peaks.parquet, {}timing.json, plots/",
        summary.validity.runs,
        summary.validity.peak_searches,
        if res.plans.is_empty() {
            String::new()
        } else {
            format!(" and {} capacity plans", res.plans.len())
        },
        t0.elapsed().as_secs_f64(),
        t_report.elapsed().as_secs_f64(),
        out.display(),
        if res.plans.is_empty() {
            ""
        } else {
            "plans.json, "
        }
    );
    if bad > 0 {
        return Err(Error::Internal(format!(
            "{bad} runs violated the simulator invariants (see results.parquet)"
        )));
    }
    Ok(0)
}
