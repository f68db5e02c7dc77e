//! `mig-replay run` on an LLM trace (its `--profiles` an LLM profile file, TOML): the replica
//! replay of [`crate::drive::llm`], `summary.json` and `queries.parquet`.

use super::run::RunArgs;
use crate::drive::llm::{LlmScenario, replay};
use crate::error::{Error, Result};
use crate::llm::params::LlmParams;
use crate::llm::profile::LlmProfiles;
use crate::metrics::llm::Slo;
use crate::policy::router::LlmPolicy;
use crate::report::InputFile;
use crate::report::llm::{LlmSummary, write_queries};
use crate::trace::Trace;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Whether `--profiles` names an LLM profile file (TOML) rather than a DNN profile (Parquet).
pub fn is_llm_profiles(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// The `llm.*` parameters of `--param` (every other key refused: an LLM run has no policy
/// parameters yet).
pub fn llm_params(pairs: &[String]) -> Result<LlmParams> {
    let kv: Vec<(&str, &str)> = pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .ok_or_else(|| Error::Usage(format!("--param '{p}': expected key=value")))
        })
        .collect::<Result<_>>()?;
    LlmParams::from_pairs(kv.iter().map(|(k, v)| (k.trim(), v.trim())))
}

/// `--slo MODEL:ttft_ms=..,tpot_ms=..` (repeatable) by model.
pub fn slos(given: &[String]) -> Result<BTreeMap<String, Slo>> {
    let mut m = BTreeMap::new();
    for s in given {
        let (model, slo) = Slo::parse(s)?;
        if m.insert(model.clone(), slo).is_some() {
            return Err(Error::Usage(format!("--slo: model {model} is given twice")));
        }
    }
    Ok(m)
}

pub fn run_llm(a: RunArgs) -> Result<i32> {
    let t0 = Instant::now();
    for (given, flag) in [
        (
            a.sla_ms.is_some(),
            "--sla-ms (an LLM run's SLOs are --slo MODEL:ttft_ms=..,tpot_ms=..)",
        ),
        (a.params.policy_config.is_some(), "--policy-config"),
        (a.params.slice.is_some(), "--slice"),
        (a.params.layout.is_some(), "--layout"),
        (a.params.service_noise.is_some(), "--service-noise"),
        (a.params.batching.is_some(), "--batching"),
        (a.timeline_s.is_some(), "--timeline-s"),
        (a.stream, "--stream"),
    ] {
        if given {
            return Err(Error::Usage(format!(
                "{flag} is not available for an LLM replay"
            )));
        }
    }
    crate::trace::check_rate_scale(a.rate_scale, 0)?;
    super::run::check_out_dir(&a.out, &["summary.json", "queries.parquet"])?;
    let policy = LlmPolicy::parse(&a.policy)?;
    let params = llm_params(&a.params.param)?;
    let slos = slos(&a.slo)?;
    let mut trace = Trace::load(&a.server.trace)?;
    trace.scale_rate(a.rate_scale)?;
    let profiles = LlmProfiles::load(&a.server.profiles)?;
    let s = LlmScenario {
        trace: &trace,
        profiles: &profiles,
        gpu: a.server.gpu.clone(),
        gpus: a.server.gpus,
        policy,
        params,
        slos,
    };
    let t_load = t0.elapsed();
    let r = replay(&s)?;
    let t_sim = t0.elapsed() - t_load;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "trace".to_string(),
        InputFile {
            path: trace.path.display().to_string(),
            sha256: trace.sha256.get()?,
        },
    );
    inputs.insert(
        "profiles".to_string(),
        InputFile {
            path: profiles.path.display().to_string(),
            sha256: crate::io::sha256_hex(
                &std::fs::read(&profiles.path).map_err(|e| Error::io(&profiles.path, e))?,
            ),
        },
    );
    let summary = LlmSummary {
        kind: "llm",
        policy: policy.name(),
        gpu: s.gpu.clone(),
        gpus: s.gpus,
        params: s.params.clone(),
        replicas: r.replicas.clone(),
        rate_scale: a.rate_scale,
        metrics: r.metrics.clone(),
        inputs,
        mig_replay_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if !a.no_queries {
        write_queries(&a.out.join("queries.parquet"), &trace, &r)?;
    }
    summary.write(&a.out.join("summary.json"))?;
    if !a.quiet {
        print!("{}", summary.text());
        println!(
            "wrote {}/summary.json{} (load {:.0} ms, replay {:.0} ms, total {:.0} ms)",
            a.out.display(),
            if a.no_queries {
                ""
            } else {
                " and queries.parquet"
            },
            t_load.as_secs_f64() * 1e3,
            t_sim.as_secs_f64() * 1e3,
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(0)
}
