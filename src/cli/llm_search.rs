//! `peak` and `plan` on an LLM trace (its `--profiles` an LLM profile file, TOML): the goodput
//! criterion of [`crate::drive::llm_search`] over the replica replay of `run`'s LLM branch.

use super::ParamArgs;
use super::peak::PeakArgs;
use super::plan::PlanArgs;
use super::run_llm::{is_llm_profiles, llm_params, slos};
use crate::drive::capacity::Search;
use crate::drive::llm::LlmScenario;
use crate::drive::llm_search::{
    DEFAULT_ATTAINMENT, LlmPeakResult, LlmPlanResult, find_llm_peak, plan_llm as plan_one,
};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::llm::profile::LlmProfiles;
use crate::plot::{self, GpusNeeded, NeededBar};
use crate::policy::router::LlmPolicy;
use crate::trace::Trace;
use std::collections::BTreeMap;

/// Refuse the flags of `ParamArgs` an LLM replay has no use for (its parameters are
/// `--param llm.*`).
fn refuse_dnn_params(p: &ParamArgs) -> Result<()> {
    for (given, flag) in [
        (p.policy_config.is_some(), "--policy-config"),
        (p.slice.is_some(), "--slice"),
        (p.layout.is_some(), "--layout"),
        (p.service_noise.is_some(), "--service-noise"),
        (p.batching.is_some(), "--batching"),
        (p.seed.is_some(), "--seed"),
        (p.repartition.is_some(), "--repartition"),
    ] {
        if given {
            return Err(Error::Usage(format!(
                "{flag} is not available for an LLM replay (its parameters are --param llm.*)"
            )));
        }
    }
    Ok(())
}

/// Every `--policy` parsed, each named once.
fn policies(given: &[String]) -> Result<Vec<LlmPolicy>> {
    for (i, p) in given.iter().enumerate() {
        if given[..i].contains(p) {
            return Err(Error::Usage(format!(
                "--policy {p} is given twice; name each policy once"
            )));
        }
    }
    given.iter().map(|p| LlmPolicy::parse(p)).collect()
}

fn line<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Other(e.to_string()))
}

/// `peak` on an LLM trace.
pub fn peak_llm(a: PeakArgs) -> Result<i32> {
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

/// `--cost KIND=PRICE` of an LLM plan: KIND one of the `--gpu` kinds (as the profiles name
/// them, case aside).
fn llm_prices(cost: &[String], kinds: &[String]) -> Result<BTreeMap<String, f64>> {
    let mut m = BTreeMap::new();
    for c in cost {
        let (k, v) = c.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--cost takes KIND=PRICE (a GPU kind and its price per GPU-hour), got '{c}'"
            ))
        })?;
        let kind = kinds
            .iter()
            .find(|g| g.eq_ignore_ascii_case(k.trim()))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--cost names {}, which is not one of the --gpu kinds planned ({})",
                    k.trim(),
                    kinds.join(", ")
                ))
            })?;
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
        if m.insert(kind.clone(), p).is_some() {
            return Err(Error::Usage(format!(
                "--cost names {kind} twice; give one price per GPU kind"
            )));
        }
    }
    Ok(m)
}

/// `plan` on an LLM trace.
pub fn plan_llm(a: PlanArgs) -> Result<i32> {
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
    let mut trace = Trace::load(&a.trace)?;
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Usage(format!(
                "--rate must be a positive number of requests/s, got {}",
                crate::error::num(r)
            )));
        }
        if trace.len() < 2 {
            return Err(Error::file(
                &trace.path,
                "--rate rescales the trace's mean rate, which needs at least two requests",
            ));
        }
        let k = r / trace.offered_rate();
        trace.scale_rate(k)?;
    } else if let Some(k) = a.rate_scale {
        trace.scale_rate(k)?;
    }
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
            .find(|f| trace.models.iter().all(|m| f.find(gpu, "whole", m).is_some()))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no --profiles file profiles every model of the trace ({}) on {gpu} (whole GPU); the files hold: {}",
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
                profiles: profiles,
                gpu: gpu.clone(),
                gpus: a.max_gpus,
                policy: *policy,
                params: params.clone(),
                slos: slos.clone(),
            };
            let r = plan_one(&s, attainment, a.max_gpus, search, prices.get(gpu).copied())?;
            if a.json {
                println!("{}", line(&r)?);
            } else {
                print_row(&r, results.is_empty(), !prices.is_empty());
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
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let mut text =
            serde_json::to_string_pretty(&results).map_err(|e| Error::Other(e.to_string()))?;
        text.push('\n');
        write_atomic(&out.join("plan.json"), text.as_bytes())?;
        let panels = a
            .gpus
            .iter()
            .map(|g| {
                let bars = results
                    .iter()
                    .filter(|r| &r.gpu == g)
                    .enumerate()
                    .map(|(k, r)| NeededBar {
                        policy: r.policy.clone(),
                        color: k,
                        gpus: r.gpus,
                        max_gpus: r.max_gpus,
                        unreachable: false,
                    })
                    .collect();
                (g.clone(), bars)
            })
            .collect();
        plot::save(
            &GpusNeeded {
                title: format!(
                    "GPUs needed: {} at {:.1} requests/s, {:.0}% of requests within SLO",
                    a.trace.display(),
                    results.first().map_or(0.0, |r| r.rate_rps),
                    100.0 * attainment
                ),
                panels,
            },
            out,
            "gpus-needed",
        )?;
        if !a.json {
            println!("wrote {}/plan.json and gpus-needed.png/svg", out.display());
        }
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

fn print_row(r: &LlmPlanResult, header: bool, costs: bool) {
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
