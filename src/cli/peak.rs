//! `mig-replay peak`: latency-bounded throughput of one or more policies.

use super::{ParamArgs, ServerArgs, json};
use crate::error::Result;
use crate::gpu::GpuSpec;
use crate::peak::{PeakConfig, find_peak};
use crate::policy::Registry;
use crate::profile::Profiles;
use crate::trace::Trace;
use clap::Args;

#[derive(Debug, Args)]
pub struct PeakArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Policy to search (repeatable): PART+SCHED or an alias. The parameters apply to each.
    #[arg(long = "policy", required = true)]
    pub policies: Vec<String>,
    #[command(flatten)]
    pub params: ParamArgs,
    /// The SLA the percentile must meet, ms (SLA-aware policies use it too).
    #[arg(long, allow_negative_numbers = true)]
    pub sla_ms: f64,
    /// Latency percentile that must stay within the SLA.
    #[arg(long, default_value_t = 99.0, allow_negative_numbers = true)]
    pub percentile: f64,
    /// Relative width at which the bisection stops.
    #[arg(long, default_value_t = 0.01)]
    pub tolerance: f64,
    /// One JSON object per policy, one per line.
    #[arg(long)]
    pub json: bool,
}

pub fn peak(a: PeakArgs, registry: &Registry) -> Result<i32> {
    let gpu = GpuSpec::by_name(&a.server.gpu)?;
    let run = a.params.run_params()?;
    // Validate every policy name and parameter before the first replay.
    for p in &a.policies {
        registry.build_for(p, &run)?;
    }
    let trace = Trace::load(&a.server.trace)?;
    let profiles = Profiles::load(&a.server.profiles)?;
    let cfg = PeakConfig {
        percentile: a.percentile,
        sla_ms: a.sla_ms,
        tolerance: a.tolerance,
    };
    // Every setting checked before the table's header.
    cfg.check(&trace)?;
    if !a.json {
        println!(
            "{:<28} {:>10} {:>12} {:>10} {:>12} {:>6}",
            "policy",
            "rate-scale",
            "queries/s",
            format!("p{} ms", a.percentile),
            "utilization",
            "tries"
        );
    }
    for p in &a.policies {
        let r = find_peak(
            &trace,
            &profiles,
            &gpu,
            a.server.gpus,
            p,
            &|| registry.build_for(p, &run),
            &run.service,
            &cfg,
        )?;
        if a.json {
            println!("{}", json(&r)?.replace('\n', "").replace("  ", ""));
        } else {
            println!(
                "{:<28} {:>10.4} {:>12.1} {:>10.3} {:>11.1}% {:>6}",
                r.policy,
                r.rate_scale,
                r.rate_qps,
                r.latency_ms_at_peak,
                100.0 * r.utilization_at_peak,
                r.tries
            );
        }
    }
    Ok(0)
}
