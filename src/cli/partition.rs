//! `mig-replay partition`: what a partitioner chooses for a trace, without replaying it.

use super::{ParamArgs, ServerArgs, json};
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::policy::{PartitionContext, Registry};
use crate::profile::Profiles;
use crate::trace::Trace;
use clap::Args;

#[derive(Debug, Args)]
pub struct PartitionArgs {
    /// Partitioner or policy: `paris`, `random`, `paris+elsa`, ... A policy's scheduler half
    /// must exist (and gives the partitioner the SLAs a run of the policy would) but is not run.
    #[arg(long)]
    pub policy: String,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Latency SLA of every model in ms (`--param sla.<model>=MS` sets one model's): PARIS maps
    /// each batch to the smallest slice whose latency meets its model's SLA.
    #[arg(long, allow_negative_numbers = true)]
    pub sla_ms: Option<f64>,
    /// Print the whole decision as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn partition(a: PartitionArgs, registry: &Registry) -> Result<i32> {
    let gpu = GpuSpec::by_name(&a.server.gpu)?;
    if a.server.gpus == 0 || a.server.gpus > crate::replay::MAX_GPUS {
        return Err(Error::Usage(format!(
            "--gpus must be between 1 and {}, got {}",
            crate::replay::MAX_GPUS,
            a.server.gpus
        )));
    }
    let mut run = a.params.run_params()?;
    run.slas = run.slas.with_global(a.sla_ms)?;
    let (name, _, partitioner) = registry.build_partitioner(&a.policy, &run)?;
    // A policy's scheduler half is checked, and said to be unused, not dropped in silence; it
    // still decides which SLAs the partitioner sees (a scheduler that needs an SLA for every
    // model has the default rule fill the missing ones), as in a run of the policy.
    let scheduler = registry.scheduler_half(&a.policy)?;
    if let Some(s) = scheduler {
        eprintln!(
            "note: partition runs the partitioner '{name}' of policy '{}' alone; its scheduler '{}' is not run",
            a.policy.trim(),
            s.name
        );
    }
    let trace = Trace::load(&a.server.trace)?;
    let profiles = Profiles::load(&a.server.profiles)?;
    let slas = run.slas.resolve(
        &trace,
        &profiles,
        &gpu,
        scheduler.is_some_and(|s| s.needs_sla),
    )?;
    let ctx = PartitionContext {
        gpu: &gpu,
        gpus: a.server.gpus,
        profiles: &profiles,
        trace: &trace,
        slas: &slas,
    };
    let part = partitioner.partition(&ctx)?;
    let names: Vec<String> = part.layouts.iter().map(|l| l.name(&gpu)).collect();
    if a.json {
        let v = serde_json::json!({
            "partitioner": name,
            "scheduler": scheduler.map(|s| s.name),
            "gpu": gpu.name,
            "gpus": a.server.gpus,
            "layouts": names,
            "details": part.explanation,
        });
        println!("{}", json(&v)?);
        return Ok(0);
    }
    println!("{name} on {} x {}", a.server.gpus, gpu.name);
    if let Some(d) = &part.explanation {
        print!("{}", d.text());
    }
    for (g, (l, n)) in part.layouts.iter().zip(&names).enumerate() {
        println!("GPU {g}: {n:<40} {}", l.placement_string(&gpu));
    }
    Ok(0)
}
