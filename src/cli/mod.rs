//! The command line: one file per command, each a thin shell over library functions.
//! `run` (one replay), `peak` (latency-bounded throughput), `plan` (the fewest GPUs meeting
//! the SLA), `partition` (what a partitioner
//! chooses), `sweep` and `bench-all` (a comparison matrix and its report), `compare` (the
//! regression gate), `merge` (a sharded sweep's report), `analyze` (polars, opt-in feature),
//! `policy list`, `gpu list|layouts`, `trace gen|import|inspect`,
//! `profile build|inspect`.
//!
//! Every command that names a policy takes it from a [`Registry`]: [`main_with`] runs the whole
//! command line over a caller's registry, so a binary of a few lines is mig-replay plus its own
//! policy halves (see `examples/custom_scheduler.rs`).
//!
//! The run's inputs are parsed here, at the edge, once: [`ParamArgs::run_params`] splits the
//! given keys into the policy's parameters, a typed [`crate::service::ServiceModel`], the SLAs
//! and the reconfiguration rules; each command then builds its [`crate::scenario::Scenario`]
//! (every check of a run's inputs, the errors naming the flags: `NAMES`).

#[cfg(feature = "analyze")]
mod analyze;
mod compare;
mod gpu;
mod llm_search;
mod merge;
mod partition;
mod peak;
mod plan;
mod policy;
mod profile;
mod run;
mod sweep;
mod trace;
mod validate_llm;

pub use compare::CompareArgs;
pub use gpu::GpuCommand;
pub use merge::MergeArgs;
pub use partition::PartitionArgs;
pub use peak::PeakArgs;
pub use plan::PlanArgs;
pub use policy::PolicyCommand;
pub use profile::ProfileCommand;
pub use run::RunArgs;
pub use sweep::{BenchAllArgs, SweepArgs};
pub use trace::{ArrivalKind, GenArgs, ImportCommand, TraceCommand};

use crate::error::{Error, Result};
use crate::policy::{PolicyParams, Registry, RunParams};
use crate::scenario::Names;
use crate::service::Noise;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Trace-driven replay benchmark harness for reconfigurable (MIG) multi-GPU inference servers.
#[derive(Debug, Parser)]
#[command(name = "mig-replay", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay a trace through a policy on a modeled server and write summary.json + queries.parquet.
    Run(RunArgs),
    /// Latency-bounded throughput: the largest rate scale at which a latency percentile meets the SLA.
    Peak(PeakArgs),
    /// Capacity planning: the fewest GPUs (per policy and GPU kind) whose replay meets the SLA.
    Plan(PlanArgs),
    /// Run a comparison matrix described by a TOML file; write the report folder.
    Sweep(SweepArgs),
    /// The whole comparison: `sweep --config experiments/bench-all.toml --out reports/bench-all`.
    BenchAll(BenchAllArgs),
    /// Compare two sweep reports; exit 1 when a tracked figure got worse beyond the threshold.
    Compare(CompareArgs),
    /// Gather the shard files of a sharded sweep (`sweep --phase ... --shard K/N`) into its report.
    Merge(MergeArgs),
    /// Aggregate many results.parquet files with polars (built with `--features analyze`).
    #[cfg(feature = "analyze")]
    Analyze(analyze::AnalyzeArgs),
    /// Aggregate many results.parquet files with polars: not in this build, which leaves polars
    /// out (`cargo build --release --features analyze` adds it).
    #[cfg(not(feature = "analyze"))]
    Analyze {
        /// The analysis's arguments (this build has no `analyze`: it says how to get it).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Show what a partitioner chooses (PARIS: knees, batch -> slice map, shares, layouts).
    Partition(PartitionArgs),
    /// The GPU catalog and MIG geometry.
    #[command(subcommand)]
    Gpu(GpuCommand),
    /// The registered partitioners, schedulers, aliases and their parameters.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Make and inspect arrival traces.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Build and inspect per-slice model profiles; import LLM profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Replay real vLLM runs from their model's LLM profile; TTFT, TPOT and E2E beside the real run's and LLMServingSim's.
    ValidateLlm(validate_llm::ValidateLlmArgs),
}

/// What the command line calls the inputs a scenario's checks may refuse.
pub(crate) const NAMES: Names = Names {
    gpus: "--gpus",
    sla_ms: "--sla-ms",
};

/// The server and its inputs, shared by `run`, `peak` and `partition`.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// Trace Parquet file (arrival_us, model, batch[, id]).
    #[arg(long)]
    pub trace: PathBuf,
    /// Profile Parquet file (gpu, slice, model, batch, latency_ms[, source, memory_mb]).
    #[arg(long)]
    pub profiles: PathBuf,
    /// GPU kind, e.g. A100-40GB (see `mig-replay gpu list`).
    #[arg(long)]
    pub gpu: String,
    /// Number of GPUs in the server.
    #[arg(long, default_value_t = 8)]
    pub gpus: usize,
}

/// How a replay is judged, shared by `peak` and `plan` ([`crate::drive::peak::Criterion`]).
#[derive(Debug, Args, Clone)]
pub struct CriterionArgs {
    /// The SLA of every model, ms (`--param sla.<model>=MS` sets one model's). A replay meets
    /// the SLA when every model's percentile is within its own SLA.
    #[arg(long, allow_negative_numbers = true)]
    pub sla_ms: Option<f64>,
    /// Latency percentile that must stay within the SLA [default: 99].
    #[arg(long, allow_negative_numbers = true)]
    pub percentile: Option<f64>,
    /// Judge one percentile over every query against one SLA shared by all models, instead
    /// of every model's percentile against its own SLA.
    #[arg(long)]
    pub pooled: bool,
    /// An LLM trace's SLO, MODEL:ttft_ms=MS,tpot_ms=MS (repeatable; every model needs one): a
    /// load is met when at least --attainment of every model's requests meet every bound.
    #[arg(long)]
    pub slo: Vec<String>,
    /// For an LLM trace: the share of every model's requests that must meet its SLO, in
    /// (0, 1] [default: 0.9].
    #[arg(long, allow_negative_numbers = true)]
    pub attainment: Option<f64>,
}

/// The latency percentile of a DNN criterion when `--percentile` is not given.
pub const DEFAULT_PERCENTILE: f64 = 99.0;

impl CriterionArgs {
    /// The DNN criterion's percentile.
    pub fn percentile(&self) -> f64 {
        self.percentile.unwrap_or(DEFAULT_PERCENTILE)
    }

    /// Refuse the LLM criterion's flags on a DNN trace.
    pub fn refuse_llm(&self) -> Result<()> {
        if !self.slo.is_empty() || self.attainment.is_some() {
            return Err(Error::Usage(format!(
                "{} judges an LLM replay (its --profiles an LLM profile file, .toml); a DNN replay is judged by --sla-ms and --percentile",
                if self.slo.is_empty() {
                    "--attainment"
                } else {
                    "--slo"
                }
            )));
        }
        Ok(())
    }

    /// Refuse the DNN criterion's flags on an LLM trace.
    pub fn refuse_dnn(&self) -> Result<()> {
        for (given, flag) in [
            (self.sla_ms.is_some(), "--sla-ms"),
            (self.percentile.is_some(), "--percentile"),
            (self.pooled, "--pooled"),
        ] {
            if given {
                return Err(Error::Usage(format!(
                    "{flag} judges a DNN replay; an LLM replay is judged by --slo MODEL:ttft_ms=..,tpot_ms=.. and --attainment"
                )));
            }
        }
        Ok(())
    }
}

/// Policy parameters, shared by `run`, `peak` and `partition`.
#[derive(Debug, Args, Clone, Default)]
pub struct ParamArgs {
    /// Policy parameter key=value (repeatable), e.g. --param theta=0.7 --param sla.resnet50=40.
    #[arg(long = "param")]
    pub param: Vec<String>,
    /// TOML file of policy parameters (key = value; `[sla]` resnet50 = 40 is sla.resnet50).
    #[arg(long)]
    pub policy_config: Option<PathBuf>,
    /// Shortcut for --param slice=S (homogeneous), e.g. 1g.10gb or just 1g.
    #[arg(long)]
    pub slice: Option<String>,
    /// Shortcut for --param layout=L (fixed), e.g. 4g.40gb+2g.20gb+1g.10gb; or one per GPU, comma-separated.
    #[arg(long)]
    pub layout: Option<String>,
    /// Service-time noise: none (default), lognormal:cv=X, profile (the profile's latency_std_ms)
    /// or profile:cv=X (X where the profile has no std). Shortcut for --param service_noise=...
    #[arg(long)]
    pub service_noise: Option<String>,
    /// Dynamic batching in front of every instance: max_batch=B[,max_delay_us=D], or none.
    /// Shortcut for --param batching.max_batch=B --param batching.max_delay_us=D.
    #[arg(long)]
    pub batching: Option<String>,
    /// Seed of the service-noise stream (and of `random`'s layout draw). Shortcut for --param seed=N.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repartitioner: static (default: the layout never changes), periodic, threshold or
    /// oracle (foresight); its parameters as --param repartition.KEY=V, the reconfiguration
    /// rules as --param reconfig.KEY=V (see `policy list`). Shortcut for --param repartition.name=NAME.
    #[arg(long)]
    pub repartition: Option<String>,
}

impl ParamArgs {
    /// Refuse a shortcut flag whose key a `--param` gives another value.
    fn check_shortcuts(&self, given: &PolicyParams) -> Result<()> {
        let same = |a: &str, b: &str| {
            a.trim() == b.trim()
                || matches!((a.trim().parse::<f64>(), b.trim().parse::<f64>()), (Ok(x), Ok(y)) if x == y)
        };
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        let flag = |name: &str, v: &str| format!("--{name} {v}");
        if let Some(v) = &self.slice {
            pairs.push((flag("slice", v), "slice".to_string(), v.clone()));
        }
        if let Some(v) = &self.layout {
            pairs.push((flag("layout", v), "layout".to_string(), v.clone()));
        }
        if let Some(v) = &self.repartition {
            pairs.push((
                flag("repartition", v),
                "repartition.name".to_string(),
                v.clone(),
            ));
        }
        if let Some(v) = self.seed {
            pairs.push((
                flag("seed", &v.to_string()),
                "seed".to_string(),
                v.to_string(),
            ));
        }
        if let Some(v) = &self.service_noise {
            pairs.push((
                flag("service-noise", v),
                "service_noise".to_string(),
                v.clone(),
            ));
        }
        if let Some(v) = &self.batching {
            if v.trim() == "none"
                && let Some(k) = given.values.keys().find(|k| k.starts_with("batching."))
            {
                return Err(Error::Usage(format!(
                    "--batching none conflicts with --param {k}={}; give one",
                    given.values[k]
                )));
            }
            for part in v.split(',') {
                if let Some((k, x)) = part.split_once('=')
                    && let key @ ("max_batch" | "max_delay_us") = k.trim()
                {
                    pairs.push((
                        flag("batching", v),
                        format!("batching.{key}"),
                        x.trim().to_string(),
                    ));
                }
            }
        }
        for (f, key, v) in &pairs {
            if let Some(other) = given.values.get(key)
                && !same(other, v)
            {
                return Err(Error::Usage(format!(
                    "{f} conflicts with --param {key}={other}; give one"
                )));
            }
        }
        Ok(())
    }

    /// The parameters as given: the TOML file, then each --param, then the --slice and
    /// --layout shortcuts (later wins), split into the policy's keys and the service model, on
    /// which the --service-noise, --batching and --seed shortcuts are applied last.
    pub fn run_params(&self) -> Result<RunParams> {
        let mut p = match &self.policy_config {
            Some(f) => PolicyParams::load_toml(f)?,
            None => PolicyParams::default(),
        };
        // A key given twice on the command line, or by a --param and by its shortcut flag,
        // with two values, is refused rather than resolved silently.
        let mut given = PolicyParams::default();
        for a in &self.param {
            let mut one = PolicyParams::default();
            one.parse_assignment(a)?;
            for (k, v) in &one.values {
                if let Some(before) = given.values.get(k)
                    && before != v
                {
                    return Err(Error::Usage(format!(
                        "--param {k} is given twice ({k}={before}, {k}={v}); give it once"
                    )));
                }
            }
            given = given.merged(&one);
            p.parse_assignment(a)?;
        }
        self.check_shortcuts(&given)?;
        if let Some(s) = &self.slice {
            p.set("slice", s.clone());
        }
        if let Some(l) = &self.layout {
            p.set("layout", l.clone());
        }
        if let Some(r) = &self.repartition {
            p.set("repartition.name", r.clone());
        }
        let mut run = RunParams::split(p)?;
        if let Some(n) = &self.service_noise {
            run.service.noise = Noise::parse(n)?;
        }
        if let Some(b) = &self.batching {
            run.service.set_batching(b)?;
        }
        if let Some(s) = self.seed {
            run.set_seed(s);
        }
        Ok(run)
    }
}

/// The whole command line over `registry`'s policies: parse the arguments, run the command,
/// print an error on stderr; returns the process exit code (0 ok, 1 a regression or an
/// internal failure, 2 bad input or usage). A binary that adds its own policy halves is
///
/// ```no_run
/// let mut registry = mig_replay::policy::Registry::builtin();
/// // registry.register_scheduler(...);
/// std::process::exit(mig_replay::cli::main_with(registry));
/// ```
pub fn main_with(registry: Registry) -> i32 {
    // Exit quietly when the reader of our output goes away (`mig-replay ... | head`), as Unix
    // tools do, instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    crate::io::guard::quiet_hook();
    let cli = Cli::parse();
    match run_command(cli, &registry) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Run parsed arguments with `registry`'s policies; returns the process exit code.
pub fn run_command(cli: Cli, registry: &Registry) -> Result<i32> {
    match cli.command {
        Command::Run(a) => run::run(a, registry),
        Command::Peak(a) => peak::peak(a, registry),
        Command::Plan(a) => plan::plan(a, registry),
        Command::Partition(a) => partition::partition(a, registry),
        Command::Sweep(a) => sweep::sweep(a, registry),
        Command::Compare(a) => compare::compare(a),
        Command::Merge(a) => merge::merge(a, registry),
        #[cfg(feature = "analyze")]
        Command::Analyze(a) => analyze::analyze(a),
        #[cfg(not(feature = "analyze"))]
        Command::Analyze { .. } => Err(Error::Usage(
            "`analyze` needs the opt-in polars feature, which this build leaves out: build with `cargo build --release --features analyze` (or run `cargo run --release --features analyze -- analyze ...`)".into(),
        )),
        Command::BenchAll(a) => sweep::bench_all(a, registry),
        Command::Gpu(c) => gpu::gpu_cmd(c),
        Command::Trace(c) => trace::trace_cmd(c),
        Command::Profile(c) => profile::profile_cmd(c),
        Command::ValidateLlm(a) => validate_llm::validate_llm(a),
        Command::Policy(c) => policy::policy_cmd(c, registry),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Other(e.to_string()))
}
