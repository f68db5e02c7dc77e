//! `mig-replay partition`: what a partitioner chooses for a trace, without replaying it.

use super::{NAMES, ParamArgs, ServerArgs, json};
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::policy::{PartitionContext, Policy, Registry, RepartitionSetup};
use crate::profile::Profiles;
use crate::scenario::{Inputs, PolicySource, Scenario};
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
    crate::scenario::check_gpus(a.server.gpus, NAMES.gpus)?;
    let mut run = a.params.run_params()?;
    run.slas = run.slas.with_global(a.sla_ms);
    let (name, _, _) = registry.build_partitioner(&a.policy, &run)?;
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
    let needs_sla = scheduler.is_some_and(|s| s.needs_sla);
    // The partitioner alone, as a policy whose scheduler is never built.
    let (reg, label, params) = (registry.clone(), a.policy.clone(), run.clone());
    let source = PolicySource::new(a.policy.trim(), move || {
        let (name, _, partitioner) = reg.build_partitioner(&label, &params)?;
        Ok(Policy {
            name: name.to_string(),
            partitioner_name: name.to_string(),
            scheduler_name: String::new(),
            params: Default::default(),
            partitioner,
            scheduler: Box::new(|_| Err(Error::Internal("`partition` builds no scheduler".into()))),
            needs_sla,
            repartition: RepartitionSetup::fixed(),
            identical_fcfs: false,
        })
    })?;
    let trace = Trace::load(&a.server.trace)?;
    let profiles = Profiles::load(&a.server.profiles)?;
    // Nothing is replayed: a repartitioner's reconfiguration rules do not apply.
    let inputs = Inputs {
        reconfig: Default::default(),
        ..Inputs::of_run(trace, profiles, (gpu, a.server.gpus), source, &run)
    };
    let scenario = Scenario::new(inputs, &NAMES)?;
    let (gpu, partitioner) = (scenario.gpu(), scenario.policy().build()?.partitioner);
    let ctx = PartitionContext {
        gpu,
        gpus: a.server.gpus,
        profiles: scenario.profiles(),
        trace: scenario.trace(),
        slas: scenario.slas(),
    };
    let part = partitioner.partition(&ctx)?;
    let names: Vec<String> = part.layouts.iter().map(|l| l.name(gpu)).collect();
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
        println!("GPU {g}: {n:<40} {}", l.placement_string(gpu));
    }
    Ok(0)
}
