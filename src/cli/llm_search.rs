//! What `peak` and `plan` share on an LLM trace (its `--profiles` an LLM profile file, TOML):
//! the flags refused, the policies, the prices. Each command's LLM branch is in its own file
//! (`peak_llm`, `plan_llm`), judged by the goodput criterion of [`crate::drive::llm_search`].

use super::ParamArgs;
use crate::error::{Error, Result};
use crate::llm::params::LlmParams;
use crate::metrics::llm::Slo;
use crate::policy::router::LlmPolicy;
use std::collections::BTreeMap;
use std::path::Path;

/// Refuse the flags of `ParamArgs` an LLM replay has no use for (its parameters are
/// `--param llm.*`).
pub(super) fn refuse_dnn_params(p: &ParamArgs) -> Result<()> {
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
pub(super) fn policies(given: &[String]) -> Result<Vec<LlmPolicy>> {
    for (i, p) in given.iter().enumerate() {
        if given[..i].contains(p) {
            return Err(Error::Usage(format!(
                "--policy {p} is given twice; name each policy once"
            )));
        }
    }
    given.iter().map(|p| LlmPolicy::parse(p)).collect()
}

pub(super) fn line<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Other(e.to_string()))
}

/// `--cost KIND=PRICE` of an LLM plan: KIND one of the `--gpu` kinds (as the profiles name
/// them, case aside).
pub(super) fn llm_prices(cost: &[String], kinds: &[String]) -> Result<BTreeMap<String, f64>> {
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

/// Whether `--profiles` names an LLM profile file (TOML) rather than a DNN profile (Parquet).
pub(super) fn is_llm_profiles(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// The `llm.*` parameters of `--param` (every other key refused: an LLM run has no policy
/// parameters yet).
pub(super) fn llm_params(pairs: &[String]) -> Result<LlmParams> {
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
pub(super) fn slos(given: &[String]) -> Result<BTreeMap<String, Slo>> {
    let mut m = BTreeMap::new();
    for s in given {
        let (model, slo) = Slo::parse(s)?;
        if m.insert(model.clone(), slo).is_some() {
            return Err(Error::Usage(format!("--slo: model {model} is given twice")));
        }
    }
    Ok(m)
}
