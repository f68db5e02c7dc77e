//! `mig-replay peak`: latency-bounded throughput of one or more policies.

use super::llm_search::{line, llm_params, policies, refuse_dnn_params, slos};
use super::{CriterionArgs, NAMES, ParamArgs, ServerArgs, json};
use crate::drive::llm::LlmScenario;
use crate::drive::llm_search::{DEFAULT_ATTAINMENT, LlmPeakResult, find_llm_peak};
use crate::drive::peak::{PeakConfig, find_peak};
use crate::error::Result;
use crate::gpu::GpuSpec;
use crate::llm::profile::LlmProfiles;
use crate::policy::Registry;
use crate::profile::Profiles;
use crate::scenario::{Inputs, PolicySource, Scenario};
use crate::trace::Trace;
use clap::Args;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct PeakArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Policy to search (repeatable): PART+SCHED, an alias, or a label NAME[key=value,...]. The
    /// parameters apply to each.
    #[arg(long = "policy", required = true)]
    pub policies: Vec<String>,
    #[command(flatten)]
    pub params: ParamArgs,
    /// A load is sustained when the replay at it meets the SLA.
    #[command(flatten)]
    pub criterion: CriterionArgs,
    /// Relative width at which the bisection stops.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub tolerance: f64,
    /// One JSON object per policy, one per line.
    #[arg(long)]
    pub json: bool,
}

pub fn peak(a: PeakArgs, registry: &Registry) -> Result<i32> {
    if super::llm_search::is_llm_profiles(&a.server.profiles) {
        return peak_llm(a);
    }
    a.criterion.refuse_llm()?;
    let gpu = GpuSpec::by_name(&a.server.gpu)?;
    let mut run = a.params.run_params()?;
    run.slas = run.slas.with_global(a.criterion.sla_ms);
    // Validate every policy name and parameter before the first replay.
    let sources = a
        .policies
        .iter()
        .map(|p| PolicySource::registered(registry, p, &run))
        .collect::<Result<Vec<_>>>()?;
    let trace = Arc::new(Trace::load(&a.server.trace)?);
    let profiles = Arc::new(Profiles::load(&a.server.profiles)?);
    let cfg = PeakConfig {
        percentile: a.criterion.percentile(),
        tolerance: a.tolerance,
        pooled: a.criterion.pooled,
    };
    // Every setting checked before the table's header.
    cfg.check(&trace)?;
    let mut rows = Vec::new();
    for policy in sources {
        let scenario = Scenario::new(
            Inputs::of_run(
                trace.clone(),
                profiles.clone(),
                (gpu.clone(), a.server.gpus),
                policy,
                &run,
            ),
            &NAMES,
        )?;
        let r = find_peak(&scenario, &cfg)?;
        if a.json {
            println!("{}", json(&r)?.replace('\n', "").replace("  ", ""));
            continue;
        }
        if rows.is_empty() {
            println!(
                "{:<28} {:>10} {:>12} {:>10} {:>9} {:>14} {:>12} {:>6}",
                "policy",
                "rate-scale",
                "queries/s",
                format!("p{} ms", a.criterion.percentile()),
                "SLA ms",
                "binding model",
                "utilization",
                "tries"
            );
        }
        println!(
            "{:<28} {:>10} {:>12.1} {:>10.3} {:>9.3} {:>14} {:>11.1}% {:>6}",
            r.policy,
            if r.lower_bound {
                format!(">={:.4}", r.rate_scale)
            } else {
                format!("{:.4}", r.rate_scale)
            },
            r.rate_qps,
            r.latency_ms_at_peak,
            r.sla_ms,
            r.binding_model,
            100.0 * r.utilization_at_peak,
            r.tries
        );
        rows.push(r);
    }
    if rows.iter().any(|r| r.lower_bound) {
        println!(
            "(>=: the SLA held at every rate scale tried, up to {}: a lower bound)",
            crate::drive::peak::MAX_SCALE
        );
    }
    Ok(0)
}

/// `peak` on an LLM trace.
fn peak_llm(a: PeakArgs) -> Result<i32> {
    a.criterion.refuse_dnn()?;
    refuse_dnn_params(&a.params)?;
    let attainment = a.criterion.attainment.unwrap_or(DEFAULT_ATTAINMENT);
    let pols = policies(&a.policies)?;
    let params = llm_params(&a.params.param)?;
    let slos = slos(&a.criterion.slo)?;
    let trace = Trace::load(&a.server.trace)?;
    let profiles = LlmProfiles::load(&a.server.profiles)?;
    let mut rows: Vec<LlmPeakResult> = Vec::new();
    for policy in pols {
        let s = LlmScenario {
            trace: &trace,
            profiles: &profiles,
            gpu: a.server.gpu.clone(),
            gpus: a.server.gpus,
            policy,
            params: params.clone(),
            slos: slos.clone(),
        };
        let r = find_llm_peak(&s, attainment, a.tolerance)?;
        if a.json {
            println!("{}", line(&r)?);
            rows.push(r);
            continue;
        }
        if rows.is_empty() {
            println!(
                "{:<24} {:>10} {:>12} {:>12} {:>14} {:>11} {:>6}",
                "policy",
                "rate-scale",
                "requests/s",
                "goodput/s",
                "binding model",
                "attainment",
                "tries"
            );
        }
        println!(
            "{:<24} {:>10} {:>12.3} {:>12.3} {:>14} {:>10.1}% {:>6}",
            r.policy,
            if r.lower_bound {
                format!(">={:.4}", r.rate_scale)
            } else {
                format!("{:.4}", r.rate_scale)
            },
            r.rate_rps,
            r.goodput_rps,
            r.binding_model,
            100.0 * r.binding_attainment,
            r.tries
        );
        rows.push(r);
    }
    if !a.json {
        println!(
            "(met: at least {:.1}% of every model's requests within every bound of its SLO; {} x {})",
            100.0 * attainment,
            a.server.gpus,
            a.server.gpu
        );
        if rows.iter().any(|r| r.lower_bound) {
            println!(
                "(>=: the SLO held at every rate scale tried, up to {}: a lower bound)",
                crate::drive::peak::MAX_SCALE
            );
        }
    }
    Ok(0)
}
