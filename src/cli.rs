//! The command line: `run`, `gpu list`, `gpu layouts`, `policy list`, and the input tools.

use crate::error::{Error, Result};
use crate::gpu::{GpuSpec, catalog};
use crate::policy::{PolicyParams, Registry};
use crate::profile::Profiles;
use crate::report::{InputFile, Summary};
use crate::trace::Trace;
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

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
    /// The GPU catalog and MIG geometry.
    #[command(subcommand)]
    Gpu(GpuCommand),
    /// The registered policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Make and inspect arrival traces.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Build and inspect per-slice model profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Generate a synthetic trace (Poisson, gamma or MMPP arrivals; log-normal or histogram batches).
    Gen(GenArgs),
    /// Convert a public production trace (Azure LLM 2023, Alibaba GenAI 2026) to the trace schema.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print the statistics of a trace: queries, models, rate, burstiness, batch histogram.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrivalKind {
    Poisson,
    Gamma,
    Mmpp,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Mean arrival rate, queries/s.
    #[arg(long)]
    pub rate: f64,
    /// Number of queries (give this and/or --duration).
    #[arg(long)]
    pub queries: Option<u64>,
    /// Trace length in seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Model, optionally with a weight: `--model resnet50:3 --model bert-base:1`.
    #[arg(long = "model", required = true)]
    pub models: Vec<String>,
    /// Arrival process.
    #[arg(long, value_enum, default_value_t = ArrivalKind::Poisson)]
    pub arrivals: ArrivalKind,
    /// Coefficient of variation of gamma inter-arrivals.
    #[arg(long, default_value_t = 2.0)]
    pub cv: f64,
    /// MMPP: rate of the high state over the low state.
    #[arg(long, default_value_t = 5.0)]
    pub burst_ratio: f64,
    /// MMPP: mean time in each state, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub burst_dwell: f64,
    /// Log-normal batches: mean of ln(batch).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub batch_mu: f64,
    /// Log-normal batches: standard deviation of ln(batch).
    #[arg(long, default_value_t = 1.0)]
    pub batch_sigma: f64,
    /// Log-normal batches are clamped to [1, max-batch].
    #[arg(long, default_value_t = 128)]
    pub max_batch: u32,
    /// Explicit batch histogram instead of log-normal: `1:0.5,4:0.3,16:0.2`.
    #[arg(long)]
    pub batch_hist: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Azure LLM inference trace 2023 (TIMESTAMP, ContextTokens, GeneratedTokens).
    Azure {
        #[arg(long)]
        csv: PathBuf,
        /// Model every request becomes.
        #[arg(long, default_value = "bert-base")]
        model: String,
        /// Tokens per batch item: batch = ceil(tokens / this).
        #[arg(long, default_value_t = 64)]
        tokens_per_item: u32,
        #[arg(long, default_value_t = 256)]
        max_batch: u32,
        /// Which tokens count.
        #[arg(long, value_enum, default_value_t = crate::trace::import::TokenRule::Context)]
        tokens: crate::trace::import::TokenRule,
        /// Rescale time to this mean rate (queries/s); default: real time.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Alibaba GenAI 2026 LoRA request trace (gmt_create, num_images_per_prompt, checkpoint_model_version_id).
    Alibaba {
        #[arg(long)]
        csv: PathBuf,
        /// Our models, in the order the most requested model ids map onto them.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "resnet50,mobilenet-v2,bert-base"
        )]
        models: Vec<String>,
        /// The less popular ids: spread over the models, or drop.
        #[arg(long, value_enum, default_value_t = crate::trace::import::Others::Spread)]
        others: crate::trace::import::Others,
        /// Rescale time to this mean rate (queries/s); default: real time.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Build profiles/*.parquet from the source CSVs in profiles/sources (arrow CSV reader).
    Build {
        #[arg(long, default_value = "profiles/sources")]
        sources: PathBuf,
        #[arg(long, default_value = "profiles")]
        out_dir: PathBuf,
        /// Relative noise tolerance of the monotonicity checks.
        #[arg(long, default_value_t = 0.05)]
        tolerance: f64,
    },
    /// Per (gpu, model, slice): batch range, latencies, peak throughput, 80%-of-peak batch, source mix.
    Inspect {
        file: PathBuf,
        /// Fraction of peak throughput that defines the knee batch.
        #[arg(long, default_value_t = 0.8)]
        theta: f64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GpuCommand {
    /// List the GPUs with their MIG profiles (GPCs, memory slices, memory, legal start slots).
    List,
    /// List every maximal legal MIG layout of a GPU, one per line.
    Layouts {
        #[arg(long)]
        gpu: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List the policy names with a line of help each.
    List,
}

fn policy_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        Registry::builtin()
            .entries()
            .iter()
            .map(|e| e.name)
            .collect::<Vec<_>>(),
    )
}

#[derive(Debug, Args)]
pub struct RunArgs {
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
    /// Policy (see `mig-replay policy list`).
    #[arg(long, value_parser = policy_names())]
    pub policy: String,
    /// MIG slice for `homogeneous`, e.g. 1g.5gb (or just 1g).
    #[arg(long)]
    pub slice: Option<String>,
    /// Layout for `fixed`, e.g. 4g.20gb+2g.10gb+1g.5gb; or one per GPU, comma-separated.
    #[arg(long)]
    pub layout: Option<String>,
    /// Latency SLA in ms: reports the violation rate (and SLA-aware policies use it).
    #[arg(long, allow_negative_numbers = true)]
    pub sla_ms: Option<f64>,
    /// Divide every inter-arrival time by K (K = 2 doubles the offered load).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub rate_scale: f64,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Write only summary.json, not the per-query queries.parquet (for sweeps and huge traces).
    #[arg(long)]
    pub no_queries: bool,
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
}

/// Run the CLI; returns the process exit code.
pub fn main_with(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => run(a),
        Command::Gpu(GpuCommand::List) => {
            print!("{}", gpu_list());
            Ok(0)
        }
        Command::Gpu(GpuCommand::Layouts { gpu }) => {
            let g = GpuSpec::by_name(&gpu)?;
            for l in g.maximal_layouts() {
                println!("{:<48} {}", l.name(&g), l.placement_string(&g));
            }
            Ok(0)
        }
        Command::Trace(c) => trace_cmd(c),
        Command::Profile(c) => profile_cmd(c),
        Command::Policy(PolicyCommand::List) => {
            for e in Registry::builtin().entries() {
                println!("{:<12} {}", e.name, e.help);
            }
            Ok(0)
        }
    }
}

fn gpu_list() -> String {
    let mut s = String::new();
    for g in catalog() {
        s += &format!(
            "{} ({} GPCs, {} memory slices, {} GB; also: {})\n",
            g.name,
            g.gpcs,
            g.mem_slices,
            g.memory_gb,
            g.aliases.join(", ")
        );
        s += &format!(
            "  {:<10} {:>4} {:>10} {:>8}  {}\n",
            "profile", "GPCs", "mem-slices", "memory", "start slots"
        );
        for p in &g.profiles {
            let starts: Vec<String> = p.starts.iter().map(|x| x.to_string()).collect();
            s += &format!(
                "  {:<10} {:>4} {:>10} {:>6}GB  {}\n",
                p.name,
                p.gpcs,
                p.mem_slices,
                p.memory_gb,
                starts.join(",")
            );
        }
        s += &format!(
            "  max instances per profile: {}\n",
            (0..g.profiles.len())
                .map(|k| format!(
                    "{}x{}",
                    g.max_homogeneous(k).placements.len(),
                    g.profiles[k].name
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    s
}

fn run(a: RunArgs) -> Result<i32> {
    let t0 = Instant::now();
    let gpu = GpuSpec::by_name(&a.gpu)?;
    let params = PolicyParams {
        slice: a.slice.clone(),
        layout: a.layout.clone(),
        sla_ms: a.sla_ms,
    };
    let mut policy = Registry::builtin().build(&a.policy, &params)?;
    let mut trace = Trace::load(&a.trace)?;
    trace.scale_rate(a.rate_scale)?;
    let profiles = Profiles::load(&a.profiles)?;
    let t_load = t0.elapsed();
    let r = crate::replay::replay(&trace, &profiles, &gpu, a.gpus, &mut policy, a.sla_ms)?;
    let t_sim = t0.elapsed() - t_load;
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "trace".into(),
        InputFile {
            path: a.trace.display().to_string(),
            sha256: trace.sha256.clone(),
        },
    );
    inputs.insert(
        "profiles".into(),
        InputFile {
            path: a.profiles.display().to_string(),
            sha256: profiles.sha256.clone(),
        },
    );
    let summary = Summary::new(&r, inputs, a.rate_scale);
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let t_write = Instant::now();
    if !a.no_queries {
        crate::report::write_queries(&a.out.join("queries.parquet"), &trace, &r)?;
    }
    summary.write(&a.out.join("summary.json"))?;
    if !a.quiet {
        print!("{}", summary.text());
        println!(
            "wrote {}/summary.json{} (load {:.0} ms, replay {:.0} ms, write {:.0} ms, total {:.0} ms)",
            a.out.display(),
            if a.no_queries {
                ""
            } else {
                " and queries.parquet"
            },
            t_load.as_secs_f64() * 1e3,
            t_sim.as_secs_f64() * 1e3,
            t_write.elapsed().as_secs_f64() * 1e3,
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    if !r.invariants.all_ok() {
        return Err(Error::Other(
            "simulator invariants violated (see summary.json)".into(),
        ));
    }
    Ok(0)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Other(e.to_string()))
}

/// Write a made trace, then print the notes on how it was made and its statistics.
fn write_trace(t: &crate::trace::Trace, out: &std::path::Path, notes: &[String]) -> Result<i32> {
    t.write(out)?;
    for l in notes {
        println!("{l}");
    }
    println!("wrote {} ({} queries)", out.display(), t.len());
    print!("{}", crate::trace::stats::stats(t).text());
    Ok(0)
}

fn trace_cmd(c: TraceCommand) -> Result<i32> {
    use crate::trace::{stats, synth};
    match c {
        TraceCommand::Gen(a) => {
            let models = a
                .models
                .iter()
                .map(|m| synth::parse_model_weight(m))
                .collect::<Result<Vec<_>>>()?;
            let batch = match &a.batch_hist {
                Some(h) => synth::BatchSpec::parse_histogram(h)?,
                None => synth::BatchSpec::LogNormal {
                    mu: a.batch_mu,
                    sigma: a.batch_sigma,
                    max: a.max_batch,
                },
            };
            let arrivals = match a.arrivals {
                ArrivalKind::Poisson => synth::Arrivals::Poisson,
                ArrivalKind::Gamma => synth::Arrivals::Gamma { cv: a.cv },
                ArrivalKind::Mmpp => synth::Arrivals::Mmpp {
                    ratio: a.burst_ratio,
                    dwell_s: a.burst_dwell,
                },
            };
            let cfg = synth::GenConfig {
                rate: a.rate,
                queries: a.queries,
                duration_s: a.duration,
                models,
                arrivals,
                batch,
                seed: a.seed,
            };
            write_trace(&synth::generate(&cfg)?, &a.out, &[])
        }
        TraceCommand::Import(i) => {
            use crate::trace::import;
            let (mut t, mut notes, rate, out) = match i {
                ImportCommand::Azure {
                    csv,
                    model,
                    tokens_per_item,
                    max_batch,
                    tokens,
                    rate,
                    out,
                } => {
                    let (t, n) = import::azure(&csv, &model, tokens_per_item, max_batch, tokens)?;
                    (t, n, rate, out)
                }
                ImportCommand::Alibaba {
                    csv,
                    models,
                    others,
                    rate,
                    out,
                } => {
                    let (t, n) = import::alibaba(&csv, &models, others)?;
                    (t, n, rate, out)
                }
            };
            if let Some(r) = rate {
                import::rescale_to_rate(&mut t, r, &mut notes)?;
            }
            write_trace(&t, &out, &notes.lines)
        }
        TraceCommand::Inspect {
            file,
            json: as_json,
        } => {
            let t = crate::trace::Trace::load(&file)?;
            let s = stats::stats(&t);
            if as_json {
                println!("{}", json(&s)?);
            } else {
                println!("{}", file.display());
                print!("{}", s.text());
            }
            Ok(0)
        }
    }
}

fn profile_cmd(c: ProfileCommand) -> Result<i32> {
    match c {
        ProfileCommand::Build {
            sources,
            out_dir,
            tolerance,
        } => {
            let cfg = crate::profile::build::BuildConfig {
                sources,
                out_dir: out_dir.clone(),
                tolerance,
            };
            let rep = crate::profile::build::build(&cfg)?;
            print!("{}", rep.markdown(tolerance));
            println!("\nwrote {}", out_dir.join("build-report.md").display());
            Ok(0)
        }
        ProfileCommand::Inspect {
            file,
            theta,
            json: as_json,
        } => {
            if !(theta > 0.0 && theta <= 1.0) {
                return Err(Error::Usage(format!(
                    "--theta must be in (0, 1], got {theta}"
                )));
            }
            let p = Profiles::load(&file)?;
            let st = crate::profile::inspect::inspect(&p, theta);
            if as_json {
                println!("{}", json(&st)?);
            } else {
                print!("{}", crate::profile::inspect::text(&st, theta));
            }
            Ok(0)
        }
    }
}
