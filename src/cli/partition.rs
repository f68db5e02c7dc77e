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
    /// Policy or partitioner: `paris`, `random`, `paris+elsa`, ... (the scheduler half is ignored).
    #[arg(long)]
    pub policy: String,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub params: ParamArgs,
    #[arg(long, allow_negative_numbers = true)]
    pub sla_ms: Option<f64>,
    /// Print the whole decision as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn partition(a: PartitionArgs) -> Result<i32> {
    let gpu = GpuSpec::by_name(&a.server.gpu)?;
    if a.server.gpus == 0 {
        return Err(Error::Usage("--gpus must be at least 1".into()));
    }
    // A bare partitioner name is paired with fifo (the scheduler plays no part here).
    let name = if a.policy.contains('+') || Registry::builtin().lookup(&a.policy).is_ok() {
        a.policy.clone()
    } else {
        format!("{}+fifo", a.policy)
    };
    let policy = Registry::builtin().build(&name, &a.params.params()?)?;
    let trace = Trace::load(&a.server.trace)?;
    let profiles = Profiles::load(&a.server.profiles)?;
    let ctx = PartitionContext {
        gpu: &gpu,
        gpus: a.server.gpus,
        profiles: &profiles,
        trace: &trace,
        sla_ms: a.sla_ms,
    };
    let part = policy.partitioner.partition(&ctx)?;
    let names: Vec<String> = part.layouts.iter().map(|l| l.name(&gpu)).collect();
    if a.json {
        let v = serde_json::json!({
            "policy": name,
            "gpu": gpu.name,
            "gpus": a.server.gpus,
            "layouts": names,
            "details": part.details,
        });
        println!("{}", json(&v)?);
        return Ok(0);
    }
    println!("{} on {} x {}", name, a.server.gpus, gpu.name);
    if let Some(d) = &part.details {
        print!("{}", describe_details(d));
    }
    for (g, (l, n)) in part.layouts.iter().zip(&names).enumerate() {
        println!("GPU {g}: {n:<40} {}", l.placement_string(&gpu));
    }
    Ok(0)
}

/// The PARIS plan as text (other partitioners' details are printed as JSON).
fn describe_details(d: &serde_json::Value) -> String {
    let mut s = String::new();
    let Some(knees) = d.get("knees").and_then(|k| k.as_array()) else {
        return format!("{d}\n");
    };
    s += &format!("theta {}\n", d["theta"]);
    for x in d["sla"].as_array().into_iter().flatten() {
        s += &format!(
            "SLA {}: {} ms ({})\n",
            x["model"].as_str().unwrap_or(""),
            x["sla_ms"],
            x["source"].as_str().unwrap_or("")
        );
    }
    s += "knees (smallest batch reaching theta x peak throughput):\n";
    for k in knees {
        s += &format!(
            "  {:<14} {:<9} knee batch {:>4}  peak {:>9.1} items/s\n",
            k["model"].as_str().unwrap_or(""),
            k["slice"].as_str().unwrap_or(""),
            k["knee_batch"],
            k["peak_items_per_s"].as_f64().unwrap_or(0.0)
        );
    }
    s += "batch -> slice (model, batch range, slice, rule, share of queries):\n";
    // Compress consecutive batches of one model with the same slice and rule into ranges.
    let rows = d["mapping"].as_array().cloned().unwrap_or_default();
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        let mut j = i;
        let mut p = 0.0;
        while j < rows.len()
            && rows[j]["model"] == r["model"]
            && rows[j]["slice"] == r["slice"]
            && rows[j]["rule"] == r["rule"]
        {
            p += rows[j]["probability"].as_f64().unwrap_or(0.0);
            j += 1;
        }
        s += &format!(
            "  {:<14} {:>4}..{:<4} -> {:<9} ({}) {:>6.2}%\n",
            r["model"].as_str().unwrap_or(""),
            r["batch"],
            rows[j - 1]["batch"],
            r["slice"].as_str().unwrap_or(""),
            r["rule"].as_str().unwrap_or(""),
            100.0 * p
        );
        i = j;
    }
    s += "shares (work = P x latency x GPCs):\n";
    for x in d["shares"].as_array().into_iter().flatten() {
        s += &format!(
            "  {:<9} share {:>6.2}%  ideal {:>6.2} GPCs = {:>6.2} instances  chosen {}\n",
            x["slice"].as_str().unwrap_or(""),
            100.0 * x["share"].as_f64().unwrap_or(0.0),
            x["ideal_gpcs"].as_f64().unwrap_or(0.0),
            x["ideal_instances"].as_f64().unwrap_or(0.0),
            x["chosen_instances"]
        );
    }
    s += &format!(
        "deviation {:.3} ({})\n",
        d["deviation"].as_f64().unwrap_or(0.0),
        d["norm"].as_str().unwrap_or("")
    );
    s
}
