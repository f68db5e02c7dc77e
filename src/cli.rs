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
            "  {:<10} {:>4} {:>9} {:>8}  {}\n",
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
    crate::report::write_queries(&a.out.join("queries.parquet"), &trace, &r)?;
    summary.write(&a.out.join("summary.json"))?;
    if !a.quiet {
        print!("{}", summary.text());
        println!(
            "wrote {}/summary.json and queries.parquet (load {:.0} ms, replay {:.0} ms, total {:.0} ms)",
            a.out.display(),
            t_load.as_secs_f64() * 1e3,
            t_sim.as_secs_f64() * 1e3,
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
