//! `mig-replay plan`: capacity planning, the fewest GPUs (per policy and GPU kind) whose replay
//! of a trace meets the SLA ([`crate::drive::capacity`]).

use super::llm_search::{
    is_llm_profiles, line, llm_params, llm_prices, policies, refuse_dnn_params, slos,
};
use super::{CriterionArgs, NAMES, ParamArgs, json};
use crate::drive::capacity::{DEFAULT_MAX_GPUS, PlanConfig, PlanResult, Search, plan as plan_one};
use crate::drive::llm::LlmScenario;
use crate::drive::llm_search::{DEFAULT_ATTAINMENT, LlmPlanResult, plan_llm as plan_one_llm};
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::io::write_atomic;
use crate::llm::profile::{LlmProfiles, WHOLE};
use crate::plot::{self, GpusNeeded, NeededBar};
use crate::policy::Registry;
use crate::profile::Profiles;
use crate::scenario::{Inputs, PolicySource, Scenario};
use crate::trace::Trace;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Trace Parquet file (arrival_us, model, batch[, id]).
    #[arg(long)]
    pub trace: PathBuf,
    /// Profile Parquet file(s) (repeatable): each GPU kind is planned with the first file that
    /// profiles it.
    #[arg(long = "profiles", required = true)]
    pub profiles: Vec<PathBuf>,
    /// GPU kind to plan for (repeatable), e.g. A100-80GB (see `mig-replay gpu list`).
    #[arg(long = "gpu", required = true)]
    pub gpus: Vec<String>,
    /// Policy to plan (repeatable): PART+SCHED, an alias, or a label NAME[key=value,...]. The
    /// parameters apply to each.
    #[arg(long = "policy", required = true)]
    pub policies: Vec<String>,
    #[command(flatten)]
    pub params: ParamArgs,
    /// A GPU count suffices when the replay on it meets the SLA.
    #[command(flatten)]
    pub criterion: CriterionArgs,
    /// Rescale the trace to this mean offered rate, queries/s (default: the trace's own).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "rate_scale")]
    pub rate: Option<f64>,
    /// Divide every inter-arrival time by K instead (as `run --rate-scale`).
    #[arg(long, allow_negative_numbers = true)]
    pub rate_scale: Option<f64>,
    /// The largest GPU count tried: a policy no count up to it satisfies is reported as not met.
    #[arg(long, default_value_t = DEFAULT_MAX_GPUS, allow_negative_numbers = true)]
    pub max_gpus: usize,
    /// auto (default: bisection where more GPUs provably never hurt, fcfs and homogeneous FIFO
    /// under exact service; otherwise exact over every count below a sufficient one), bisect
    /// (galloping then bisection: fast, exact only when more GPUs never hurt) or scan (every
    /// count from 1 up, then the bisection's counts too).
    #[arg(long, default_value = "auto")]
    pub search: String,
    /// Price of one GPU-hour of a kind, KIND=PRICE (repeatable), e.g. A100-80GB=3.67: adds the
    /// server's cost per hour and per million queries.
    #[arg(long = "cost")]
    pub cost: Vec<String>,
    /// One JSON object per policy and GPU kind, one per line (`gpus` is the answer, null when
    /// not met).
    #[arg(long)]
    pub json: bool,
    /// Also write plan.json and the GPUs-needed bar plot (gpus-needed.png/svg) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Parse `KIND=PRICE` pairs into the price per GPU-hour of each canonical kind name.
pub(super) fn prices(cost: &[String]) -> Result<BTreeMap<String, f64>> {
    let mut m = BTreeMap::new();
    for c in cost {
        let (k, v) = c.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--cost takes KIND=PRICE (a GPU kind and its price per GPU-hour), got '{c}'"
            ))
        })?;
        let gpu = GpuSpec::by_name(k.trim())?;
        let p: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--cost {c}: the price per GPU-hour must be a number >= 0, got '{}'",
                    v.trim()
                ))
            })?;
        if let Some(before) = m.insert(gpu.name.to_string(), p) {
            return Err(Error::Usage(format!(
                "--cost names {} twice ({} and {}); give one price per GPU kind",
                gpu.name,
                crate::error::num(before),
                crate::error::num(p)
            )));
        }
    }
    Ok(m)
}

pub fn plan(a: PlanArgs, registry: &Registry) -> Result<i32> {
    if a.profiles
        .iter()
        .any(|p| super::llm_search::is_llm_profiles(p))
    {
        return plan_llm(a);
    }
    a.criterion.refuse_llm()?;
    let search = Search::parse(&a.search)?;
    if let Some(out) = &a.out {
        super::run::check_out_dir(out, &["plan.json", "gpus-needed.png", "gpus-needed.svg"])?;
    }
    let mut run = a.params.run_params()?;
    run.slas = run.slas.with_global(a.criterion.sla_ms);
    let cfg = PlanConfig {
        percentile: a.criterion.percentile(),
        pooled: a.criterion.pooled,
        max_gpus: a.max_gpus,
        search,
    };
    cfg.check()?;
    let prices = prices(&a.cost)?;
    let kinds = a
        .gpus
        .iter()
        .map(|g| GpuSpec::by_name(g))
        .collect::<Result<Vec<_>>>()?;
    for (i, k) in kinds.iter().enumerate() {
        if kinds[..i].iter().any(|o| o.name == k.name) {
            return Err(Error::Usage(format!(
                "--gpu {} is given twice (as '{}'); name each GPU kind once",
                k.name, a.gpus[i]
            )));
        }
    }
    for (i, p) in a.policies.iter().enumerate() {
        if a.policies[..i].contains(p) {
            return Err(Error::Usage(format!(
                "--policy {p} is given twice; name each policy once"
            )));
        }
    }
    for g in prices.keys() {
        if !kinds.iter().any(|k| k.name == g) {
            return Err(Error::Usage(format!(
                "--cost names {g}, which is not one of the --gpu kinds planned"
            )));
        }
    }
    // Validate every policy name and parameter before the first replay.
    let sources = a
        .policies
        .iter()
        .map(|p| PolicySource::registered(registry, p, &run))
        .collect::<Result<Vec<_>>>()?;
    let trace = load_at_rate(&a.trace, a.rate, a.rate_scale, "queries")?;
    let trace = Arc::new(trace);
    let profile_files = a
        .profiles
        .iter()
        .map(|p| Profiles::load(p).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let mut results: Vec<PlanResult> = Vec::new();
    for gpu in &kinds {
        let profiles = profile_files
            .iter()
            .find(|p| p.gpus().iter().any(|g| g == gpu.name))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no --profiles file profiles {}; the files profile: {}",
                    gpu.name,
                    profile_files
                        .iter()
                        .map(|p| format!("{} ({})", p.path.display(), p.gpus().join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
        for policy in &sources {
            // The plan chooses the GPU count: the scenario's is the bound.
            let scenario = Scenario::new(
                Inputs::of_run(
                    trace.clone(),
                    profiles.clone(),
                    (gpu.clone(), cfg.max_gpus),
                    policy.clone(),
                    &run,
                ),
                &NAMES,
            )?;
            let r = plan_one(&scenario, &cfg, prices.get(gpu.name).copied())?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string(&r).map_err(|e| Error::Other(e.to_string()))?
                );
            } else {
                print_row(&r, results.is_empty(), !prices.is_empty());
            }
            results.push(r);
        }
    }
    if !a.json {
        if let Some(r) = results.first() {
            println!(
                "(trace: {} queries at {:.1} q/s; p{} of every model against its SLA; search: {}, up to {} GPUs)",
                r.queries,
                r.rate_qps,
                r.percentile,
                search.as_str(),
                cfg.max_gpus
            );
        }
        if results.iter().any(|r| !r.exact) {
            println!(
                "(*: by bisection alone, for a policy not monotone by design: a smaller count might meet the SLA; --search scan checks every count up to the bound)"
            );
        }
        for r in results.iter().filter(|r| !r.not_monotone.is_empty()) {
            println!(
                "note: {} on {}: counts above the answer fail the SLA ({:?}): more GPUs do not always help this policy here, so only an exact search (auto, scan) finds the fewest",
                r.policy, r.gpu, r.not_monotone
            );
        }
    }
    if let Some(out) = &a.out {
        let kinds: Vec<String> = kinds.iter().map(|g| g.name.to_string()).collect();
        let title = format!(
            "GPUs needed: {} at {:.0} q/s, p{} within SLA",
            a.trace.display(),
            results.first().map_or(0.0, |r| r.rate_qps),
            cfg.percentile
        );
        write_plan(out, json(&results)?, &kinds, title, a.json, || {
            results.iter().map(|r| {
                (
                    &r.gpu[..],
                    &r.policy[..],
                    r.gpus,
                    r.max_gpus,
                    r.unreachable.is_some(),
                )
            })
        })?;
    }
    let unmet: Vec<&PlanResult> = results.iter().filter(|r| r.gpus.is_none()).collect();
    if !unmet.is_empty() {
        for r in &unmet {
            match &r.unreachable {
                Some(why) => eprintln!(
                    "not met: {} on {} (up to --max-gpus {}): {why}",
                    r.policy, r.gpu, r.max_gpus
                ),
                None => eprintln!(
                    "not met: {} on {}: no count up to --max-gpus {} meets the SLA (at {}: {} is the binding model)",
                    r.policy, r.gpu, r.max_gpus, r.max_gpus, r.binding_model
                ),
            }
        }
        return Ok(1);
    }
    Ok(0)
}

fn print_row(r: &PlanResult, header: bool, costs: bool) {
    if header {
        print!(
            "{:<28} {:<11} {:>6} {:>10} {:>11}",
            "policy", "gpu", "GPUs", "attainment", "utilization"
        );
        if costs {
            print!(" {:>9} {:>9}", "$/hour", "$/Mquery");
        }
        println!("  p{} ms / SLA ms per model; layout", r.percentile);
    }
    let mut gpus = match r.gpus {
        Some(n) => n.to_string(),
        None => format!(">{}", r.max_gpus),
    };
    if !r.exact {
        gpus.push('*');
    }
    print!(
        "{:<28} {:<11} {:>6} {:>9.2}% {:>10.1}%",
        r.policy,
        r.gpu,
        gpus,
        100.0 * r.attainment.unwrap_or(f64::NAN),
        100.0 * r.utilization
    );
    if costs {
        match (r.cost_per_hour, r.cost_per_million_queries) {
            (Some(h), Some(m)) => print!(" {h:>9.2} {m:>9.3}"),
            _ => print!(" {:>9} {:>9}", "-", "-"),
        }
    }
    let models = r
        .models
        .iter()
        .map(|m| match m.latency_ms {
            Some(l) => format!("{} {:.2}/{:.2}", m.model, l, m.sla_ms),
            None => format!("{} -/{:.2}", m.model, m.sla_ms),
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!("  {models}; {}", r.layout);
}

/// `plan` on an LLM trace.
fn plan_llm(a: PlanArgs) -> Result<i32> {
    a.criterion.refuse_dnn()?;
    refuse_dnn_params(&a.params)?;
    if let Some(p) = a.profiles.iter().find(|p| !is_llm_profiles(p)) {
        return Err(Error::Usage(format!(
            "--profiles {}: an LLM plan takes LLM profile files (.toml) only",
            p.display()
        )));
    }
    let search = Search::parse(&a.search)?;
    if let Some(out) = &a.out {
        super::run::check_out_dir(out, &["plan.json", "gpus-needed.png", "gpus-needed.svg"])?;
    }
    let attainment = a.criterion.attainment.unwrap_or(DEFAULT_ATTAINMENT);
    for (i, g) in a.gpus.iter().enumerate() {
        if a.gpus[..i].iter().any(|o| o.eq_ignore_ascii_case(g)) {
            return Err(Error::Usage(format!(
                "--gpu {g} is given twice; name each GPU kind once"
            )));
        }
    }
    let prices = llm_prices(&a.cost, &a.gpus)?;
    let pols = policies(&a.policies)?;
    let params = llm_params(&a.params.param)?;
    let slos = slos(&a.criterion.slo)?;
    let trace = load_at_rate(&a.trace, a.rate, a.rate_scale, "requests")?;
    let files = a
        .profiles
        .iter()
        .map(|p| LlmProfiles::load(p))
        .collect::<Result<Vec<_>>>()?;
    let mut results: Vec<LlmPlanResult> = Vec::new();
    for gpu in &a.gpus {
        // The first file that profiles every model of the trace on this kind.
        let profiles = files
            .iter()
            .find(|f| trace.models.iter().all(|m| f.find(gpu, WHOLE, m).is_some()))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no --profiles file profiles every model of the trace ({}) on {gpu} (slice {WHOLE}); the files hold: {}",
                    trace.models.join(", "),
                    files
                        .iter()
                        .map(|f| format!(
                            "{} ({})",
                            f.path.display(),
                            f.profiles
                                .iter()
                                .map(|p| format!("{}/{}/{}", p.gpu, p.slice, p.model))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
        for policy in &pols {
            let s = LlmScenario {
                trace: &trace,
                profiles,
                gpu: gpu.clone(),
                gpus: a.max_gpus,
                policy: *policy,
                params: params.clone(),
                slos: slos.clone(),
            };
            let r = plan_one_llm(&s, attainment, a.max_gpus, search, prices.get(gpu).copied())?;
            if a.json {
                println!("{}", line(&r)?);
            } else {
                print_llm_row(&r, results.is_empty(), !prices.is_empty());
            }
            results.push(r);
        }
    }
    if !a.json
        && let Some(r) = results.first()
    {
        println!(
            "(trace: {} requests at {:.3} requests/s; met: at least {:.1}% of every model's requests within every bound of its SLO; search: {}, up to {} GPUs)",
            r.requests,
            r.rate_rps,
            100.0 * attainment,
            search.as_str(),
            a.max_gpus
        );
        if results.iter().any(|r| !r.exact) {
            println!(
                "(*: by bisection alone: a smaller count might meet the SLO; --search auto or scan tries every count below)"
            );
        }
        for r in results.iter().filter(|r| !r.not_monotone.is_empty()) {
            println!(
                "note: {} on {}: counts above the answer miss the SLO ({:?}): more GPUs do not always help here",
                r.policy, r.gpu, r.not_monotone
            );
        }
    }
    if let Some(out) = &a.out {
        let mut text = json(&results)?;
        text.push('\n');
        let title = format!(
            "GPUs needed: {} at {:.1} requests/s, {:.0}% of requests within SLO",
            a.trace.display(),
            results.first().map_or(0.0, |r| r.rate_rps),
            100.0 * attainment
        );
        write_plan(out, text, &a.gpus, title, a.json, || {
            results
                .iter()
                .map(|r| (&r.gpu[..], &r.policy[..], r.gpus, r.max_gpus, false))
        })?;
    }
    let unmet: Vec<&LlmPlanResult> = results.iter().filter(|r| r.gpus.is_none()).collect();
    for r in &unmet {
        eprintln!(
            "not met: {} on {}: no count up to --max-gpus {} meets the SLO (at {}: {} is the binding model, {:.1}% of its requests within its SLO)",
            r.policy,
            r.gpu,
            r.max_gpus,
            r.max_gpus,
            r.binding_model,
            100.0 * r.binding_attainment
        );
    }
    Ok(if unmet.is_empty() { 0 } else { 1 })
}

fn print_llm_row(r: &LlmPlanResult, header: bool, costs: bool) {
    if header {
        print!(
            "{:<24} {:<12} {:>6} {:>12} {:>14} {:>11}",
            "policy", "gpu", "GPUs", "goodput/s", "binding model", "attainment"
        );
        if costs {
            print!(" {:>9} {:>9}", "$/hour", "$/Mreq");
        }
        println!("  GPU counts replayed (+ met, - not)");
    }
    let mut gpus = match r.gpus {
        Some(n) => n.to_string(),
        None => format!(">{}", r.max_gpus),
    };
    if !r.exact {
        gpus.push('*');
    }
    print!(
        "{:<24} {:<12} {:>6} {:>12.3} {:>14} {:>10.1}%",
        r.policy,
        r.gpu,
        gpus,
        r.goodput_rps,
        r.binding_model,
        100.0 * r.binding_attainment
    );
    if costs {
        match (r.cost_per_hour, r.cost_per_million_requests) {
            (Some(h), Some(m)) => print!(" {h:>9.2} {m:>9.3}"),
            _ => print!(" {:>9} {:>9}", "-", "-"),
        }
    }
    let probes = r
        .probes
        .iter()
        .map(|p| format!("{}{}", p.gpus, if p.meets { "+" } else { "-" }))
        .collect::<Vec<_>>()
        .join(" ");
    println!("  {probes}");
}

/// The trace at `path`, its arrivals rescaled to a mean of `rate` `unit`/s (`--rate`) or by
/// `rate_scale` (`--rate-scale`).
fn load_at_rate(
    path: &std::path::Path,
    rate: Option<f64>,
    rate_scale: Option<f64>,
    unit: &str,
) -> Result<Trace> {
    let mut trace = Trace::load(path)?;
    if let Some(r) = rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Usage(format!(
                "--rate must be a positive number of {unit}/s, got {}",
                crate::error::num(r)
            )));
        }
        if trace.len() < 2 {
            return Err(Error::file(
                &trace.path,
                format!("--rate rescales the trace's mean rate, which needs at least two {unit}"),
            ));
        }
        let k = r / trace.offered_rate();
        trace.scale_rate(k)?;
    } else if let Some(k) = rate_scale {
        trace.scale_rate(k)?;
    }
    Ok(trace)
}

/// Write `out/plan.json` (`text`) and the GPUs-needed plot: one panel per GPU kind of `kinds`,
/// one bar per result of that kind (`bars` yields gpu kind, policy, GPUs needed, the bound, and
/// whether no count can meet the SLA), in result order.
fn write_plan<'r, I: Iterator<Item = (&'r str, &'r str, Option<usize>, usize, bool)>>(
    out: &std::path::Path,
    text: String,
    kinds: &[String],
    title: String,
    quiet: bool,
    bars: impl Fn() -> I,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write_atomic(&out.join("plan.json"), text.as_bytes())?;
    let panels = kinds
        .iter()
        .map(|g| {
            let bars = bars()
                .filter(|b| b.0 == g)
                .enumerate()
                .map(|(k, (_, policy, gpus, max_gpus, unreachable))| NeededBar {
                    policy: policy.to_string(),
                    color: k,
                    gpus,
                    max_gpus,
                    unreachable,
                })
                .collect();
            (g.clone(), bars)
        })
        .collect();
    plot::save(&GpusNeeded { title, panels }, out, "gpus-needed")?;
    if !quiet {
        println!("wrote {}/plan.json and gpus-needed.png/svg", out.display());
    }
    Ok(())
}
