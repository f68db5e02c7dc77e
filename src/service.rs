//! The service model: how long a batch really runs (service-time noise) and how queued queries
//! merge into batches (server-side dynamic batching). Both are off by default, and then every
//! query runs alone for exactly its profiled latency, the semantics every closed-form test and
//! shipped figure rely on.
//!
//! Both are set per run as policy-level parameters, so that sweeps and reports treat them like
//! any other parameter (`--service-noise`, `--batching` and `--seed` on the command line write
//! these keys):
//!
//! | key | value |
//! |---|---|
//! | `service_noise` | `none` (default), `lognormal:cv=X`, `profile`, `profile:cv=X` |
//! | `seed` | seed of the noise stream (default 1; shared with `random`'s layout draw, which uses its own stream) |
//! | `batching.max_batch`, `batching.max_delay_us` | a batcher in front of every instance |
//! | `batching.<model>.max_batch`, `batching.<model>.max_delay_us` | the same for one model |
//!
//! **Noise.** A batch's true service time is `L * exp(sigma * Z - sigma^2 / 2)` with `L` its
//! profiled latency, `sigma^2 = ln(1 + cv^2)` (a log-normal with mean `L` and coefficient of
//! variation `cv`) and `Z` a standard normal drawn for the batch's first (oldest) query from
//! the noise stream: `Z` is a pure function of (seed, query position), so a query meets the
//! same luck under every policy (common random numbers make policy comparisons sharper) and
//! no other stream moves. `profile` takes `cv = latency_std_ms / latency_ms` of the (model,
//! slice, batch) from the profile (see [`crate::profile::Series::std_ms`]); `profile:cv=X`
//! uses `X` where the profile has no std, and the run reports how many batches needed it.
//! Times are rounded to whole nanoseconds (at least 1).
//!
//! **Batching.** See [`crate::engine`] for how a batch forms; the rule of each model is its
//! own keys, else the global keys; a model with neither runs unbatched (max batch 1).

use crate::error::{Error, Result};
use crate::policy::PolicyParams;
use std::collections::BTreeMap;

/// Service-time noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Exactly the profiled latency.
    None,
    /// Log-normal with the profiled latency as its mean and this coefficient of variation.
    LogNormal { cv: f64 },
    /// Log-normal with the profiled std; `fallback_cv` where the profile has none.
    Profile { fallback_cv: Option<f64> },
}

impl Noise {
    /// Parse `none`, `lognormal:cv=X`, `profile` or `profile:cv=X`.
    pub fn parse(s: &str) -> Result<Noise> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "service noise '{s}': {why}; expected none, lognormal:cv=X (X >= 0), profile or profile:cv=X"
            ))
        };
        let cv = |rest: &str| -> Result<f64> {
            let v = rest
                .strip_prefix("cv=")
                .ok_or_else(|| bad("expected cv=X after ':'"))?;
            let x: f64 = v
                .trim()
                .parse()
                .map_err(|_| bad(&format!("'{v}' is not a number")))?;
            if !(x.is_finite() && x >= 0.0) {
                return Err(bad("cv must be a finite number >= 0"));
            }
            Ok(x)
        };
        let s2 = s.trim();
        let (kind, rest) = match s2.split_once(':') {
            Some((k, r)) => (k.trim(), Some(r.trim())),
            None => (s2, None),
        };
        match (kind, rest) {
            ("none", None) => Ok(Noise::None),
            ("lognormal", Some(r)) => Ok(Noise::LogNormal { cv: cv(r)? }),
            ("lognormal", None) => Err(bad("lognormal needs a cv")),
            ("profile", None) => Ok(Noise::Profile { fallback_cv: None }),
            ("profile", Some(r)) => Ok(Noise::Profile {
                fallback_cv: Some(cv(r)?),
            }),
            _ => Err(bad("unknown kind")),
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Noise::None
    }
}

impl std::fmt::Display for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Noise::None => f.write_str("none"),
            Noise::LogNormal { cv } => write!(f, "lognormal:cv={cv}"),
            Noise::Profile { fallback_cv: None } => f.write_str("profile"),
            Noise::Profile {
                fallback_cv: Some(cv),
            } => write!(f, "profile:cv={cv}"),
        }
    }
}

/// The batcher of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BatchRule {
    /// Largest summed batch the batcher forms (a single query larger than this runs alone).
    pub max_batch: u32,
    /// How long an otherwise idle instance waits for more queries, counted from the arrival of
    /// the batch's oldest member (ns).
    pub max_delay_ns: u64,
}

impl BatchRule {
    /// No merging: every query runs alone, at once.
    pub const OFF: BatchRule = BatchRule {
        max_batch: 1,
        max_delay_ns: 0,
    };
}

/// Batching as given: global and per-model keys, before the trace's models are known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchingSpec {
    pub max_batch: Option<u32>,
    pub max_delay_us: Option<f64>,
    /// model -> (max_batch, max_delay_us).
    pub per_model: BTreeMap<String, (Option<u32>, Option<f64>)>,
}

impl BatchingSpec {
    /// The rule of each trace model (models without a rule: [`BatchRule::OFF`]).
    pub fn resolve(&self, models: &[String]) -> Result<Vec<BatchRule>> {
        for m in self.per_model.keys() {
            if !models.iter().any(|x| x == m) {
                return Err(Error::Usage(format!(
                    "parameter 'batching.{m}.*': the trace has no model '{m}' (its models: {})",
                    models.join(", ")
                )));
            }
        }
        Ok(models
            .iter()
            .map(|m| {
                let (b, d) = self.per_model.get(m).copied().unwrap_or((None, None));
                let max_batch = b.or(self.max_batch).unwrap_or(1);
                let delay_us = d.or(self.max_delay_us).unwrap_or(0.0);
                BatchRule {
                    max_batch,
                    max_delay_ns: (delay_us * 1e3).round() as u64,
                }
            })
            .collect())
    }
}

/// The service model of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceModel {
    pub noise: Noise,
    /// Seed of the noise stream.
    pub seed: u64,
    /// `None`: no batcher (every query runs alone, the default).
    pub batching: Option<BatchingSpec>,
}

impl Default for ServiceModel {
    fn default() -> Self {
        ServiceModel {
            noise: Noise::None,
            seed: 1,
            batching: None,
        }
    }
}

/// Whether `key` is a service-model parameter (taken by every policy).
pub fn is_service_key(key: &str) -> bool {
    key == "service_noise" || key == "seed" || key.starts_with("batching.")
}

/// The service-model keys, for `policy list`.
pub const KEYS_HELP: &[(&str, &str)] = &[
    (
        "service_noise",
        "none (default) | lognormal:cv=X | profile | profile:cv=X: true service time drawn around the profiled latency (shortcut: --service-noise)",
    ),
    (
        "seed",
        "seed of the noise stream (default 1; shortcut: --seed)",
    ),
    (
        "batching.max_batch",
        "dynamic batching: largest summed batch per instance (shortcut: --batching max_batch=B,max_delay_us=D)",
    ),
    (
        "batching.max_delay_us",
        "dynamic batching: longest wait for more queries, from the oldest member's arrival (us, default 0)",
    ),
    (
        "batching.<model>.max_batch",
        "the same for one model (also batching.<model>.max_delay_us)",
    ),
];

impl ServiceModel {
    /// The batching rule of each trace model (empty without batching).
    pub fn batch_rules(&self, models: &[String]) -> Result<Vec<BatchRule>> {
        match &self.batching {
            Some(b) => b.resolve(models),
            None => Ok(Vec::new()),
        }
    }

    /// Read the service-model keys of `p` (other keys are ignored).
    pub fn from_params(p: &PolicyParams) -> Result<ServiceModel> {
        let mut s = ServiceModel::default();
        let bad = |k: &str, v: &str, what: &str| {
            Error::Usage(format!("parameter '{k}': '{v}' is not {what}"))
        };
        let mut batching = BatchingSpec::default();
        let mut any_batching = false;
        for (k, v) in &p.values {
            let v = v.trim();
            if k == "service_noise" {
                s.noise = Noise::parse(v)?;
            } else if k == "seed" {
                s.seed = v.parse().map_err(|_| bad(k, v, "an integer >= 0"))?;
            } else if let Some(rest) = k.strip_prefix("batching.") {
                any_batching = true;
                let (model, field) = match rest.rsplit_once('.') {
                    Some((m, f)) => (Some(m), f),
                    None => (None, rest),
                };
                let slot = match model {
                    Some(m) => Some(batching.per_model.entry(m.to_string()).or_default()),
                    None => None,
                };
                match field {
                    "max_batch" => {
                        let b: u32 = v
                            .parse()
                            .ok()
                            .filter(|&b| b >= 1)
                            .ok_or_else(|| bad(k, v, "an integer >= 1"))?;
                        match slot {
                            Some(sl) => sl.0 = Some(b),
                            None => batching.max_batch = Some(b),
                        }
                    }
                    "max_delay_us" => {
                        let d: f64 = v
                            .parse()
                            .ok()
                            .filter(|d: &f64| d.is_finite() && *d >= 0.0)
                            .ok_or_else(|| bad(k, v, "a number of microseconds >= 0"))?;
                        match slot {
                            Some(sl) => sl.1 = Some(d),
                            None => batching.max_delay_us = Some(d),
                        }
                    }
                    _ => {
                        return Err(Error::Usage(format!(
                            "unknown parameter '{k}': expected batching.max_batch, batching.max_delay_us, batching.<model>.max_batch or batching.<model>.max_delay_us"
                        )));
                    }
                }
            }
        }
        if any_batching {
            s.batching = Some(batching);
        }
        Ok(s)
    }

    /// Whether every batch runs alone for exactly its profiled latency.
    pub fn is_exact(&self) -> bool {
        self.noise.is_none() && self.batching.is_none()
    }
}

/// Parse `--batching max_batch=B,max_delay_us=D` (or `none`) into parameter keys.
pub fn batching_assignments(s: &str) -> Result<Vec<(String, String)>> {
    let s = s.trim();
    if s == "none" {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--batching '{s}': expected max_batch=B[,max_delay_us=D] or none"
            ))
        })?;
        let k = k.trim();
        if k != "max_batch" && k != "max_delay_us" {
            return Err(Error::Usage(format!(
                "--batching '{s}': unknown key '{k}'; expected max_batch and max_delay_us"
            )));
        }
        out.push((format!("batching.{k}"), v.trim().to_string()));
    }
    Ok(out)
}

/// SplitMix64: a counter-based generator, so a draw is a pure function of (stream, index).
#[inline]
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The noise stream: a standard normal per query position.
#[derive(Debug, Clone, Copy)]
pub struct NoiseStream {
    key: u64,
}

/// Purpose tag of the noise stream (other streams use other tags or other generators).
const NOISE_STREAM: u64 = 0x5345_5256_4943_4531; // "SERVICE1"

impl NoiseStream {
    pub fn new(seed: u64) -> NoiseStream {
        NoiseStream {
            key: splitmix(seed ^ NOISE_STREAM),
        }
    }

    /// The standard normal of query position `q` (Box-Muller on two 53-bit uniforms).
    #[inline]
    pub fn normal(&self, q: u32) -> f64 {
        let a = splitmix(self.key ^ (q as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let b = splitmix(a);
        let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64; // in (0, 1)
        let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal draw with mean `mean_ns` and coefficient of variation `cv` for query `q`.
    #[inline]
    pub fn draw(&self, mean_ns: u64, cv: f64, q: u32) -> u64 {
        if cv == 0.0 {
            return mean_ns;
        }
        let s2 = (cv * cv).ln_1p();
        let m = (s2.sqrt() * self.normal(q) - s2 / 2.0).exp();
        ((mean_ns as f64 * m).round() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_requested_mean_and_cv() {
        for cv in [0.1, 0.5, 1.0] {
            let s = NoiseStream::new(7);
            let n = 1_000_000u32;
            let mean_ns = 10_000_000u64;
            let (mut sum, mut sq) = (0.0, 0.0);
            for q in 0..n {
                let x = s.draw(mean_ns, cv, q) as f64;
                sum += x;
                sq += x * x;
            }
            let m = sum / n as f64;
            let var = sq / n as f64 - m * m;
            let got_cv = var.sqrt() / m;
            assert!((m / mean_ns as f64 - 1.0).abs() < 0.01, "cv {cv}: mean {m}");
            assert!((got_cv / cv - 1.0).abs() < 0.01, "cv {cv}: got {got_cv}");
        }
    }

    #[test]
    fn streams_differ_by_seed_and_are_pure() {
        let (a, b) = (NoiseStream::new(1), NoiseStream::new(2));
        assert_eq!(a.normal(5), NoiseStream::new(1).normal(5));
        assert_ne!(a.normal(5), b.normal(5));
        assert_eq!(a.draw(1000, 0.0, 3), 1000);
    }

    #[test]
    fn parse_noise_and_batching() {
        assert_eq!(Noise::parse("none").unwrap(), Noise::None);
        assert_eq!(
            Noise::parse("lognormal:cv=0.3").unwrap(),
            Noise::LogNormal { cv: 0.3 }
        );
        assert_eq!(
            Noise::parse("profile:cv=0.1").unwrap(),
            Noise::Profile {
                fallback_cv: Some(0.1)
            }
        );
        for bad in [
            "lognormal",
            "lognormal:cv=-1",
            "gauss",
            "profile:x=1",
            "lognormal:cv=a",
        ] {
            assert!(Noise::parse(bad).is_err(), "{bad}");
        }
        let p = PolicyParams::from_pairs(&[
            ("batching.max_batch", "8"),
            ("batching.bert-base.max_delay_us", "250"),
        ]);
        let s = ServiceModel::from_params(&p).unwrap();
        let rules = s
            .batching
            .unwrap()
            .resolve(&["resnet50".into(), "bert-base".into()])
            .unwrap();
        assert_eq!(
            rules,
            vec![
                BatchRule {
                    max_batch: 8,
                    max_delay_ns: 0
                },
                BatchRule {
                    max_batch: 8,
                    max_delay_ns: 250_000
                }
            ]
        );
        assert!(batching_assignments("max_batch=0x").is_ok());
        assert!(batching_assignments("size=3").is_err());
        let p = PolicyParams::from_pairs(&[("batching.max_batch", "0")]);
        assert!(ServiceModel::from_params(&p).is_err());
    }
}
