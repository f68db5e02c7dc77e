//! The service model: how long a batch really runs (service-time noise), how queued queries
//! merge into batches (server-side dynamic batching), and the per-run lookup of profiled
//! service times ([`ServiceTable`]). Noise and batching are off by default, and then every
//! query runs alone for exactly its profiled latency, the semantics every closed-form test and
//! shipped figure rely on.
//!
//! A run's [`ServiceModel`] is an input of its own, next to the policy: it is parsed once, at
//! the edge (the command line's `--service-noise`, `--batching`, `--seed`, or these keys in
//! `--param`, a policy TOML file or a sweep's `params`), into this typed value, and handed to
//! the replay. A bad value is exit 2 naming the key.
//!
//! | key | value |
//! |---|---|
//! | `service_noise` | `none` (default), `lognormal:cv=X`, `profile`, `profile:cv=X` |
//! | `seed` | seed of the noise stream (default 1; shared with `random`'s layout draw, which uses its own stream) |
//! | `batching.max_batch`, `batching.max_delay_us` | a batcher in front of every instance |
//! | `batching.<model>.max_batch`, `batching.<model>.max_delay_us` | the same for one model |
//!
//! **Noise** ([`noise`]). A batch's true service time is `L * exp(sigma * Z - sigma^2 / 2)`
//! with `L` its profiled latency, `sigma^2 = ln(1 + cv^2)` (a log-normal with mean `L` and
//! coefficient of variation `cv`) and `Z` a standard normal drawn for the batch's first
//! (oldest) query from the noise stream: `Z` is a pure function of (seed, query position), so a
//! query meets the same luck under every policy (common random numbers make policy comparisons
//! sharper) and no other stream moves. `profile` takes `cv = latency_std_ms / latency_ms` of
//! the (model, slice, batch) from the profile (see [`crate::profile::Series::std_ms`]);
//! `profile:cv=X` uses `X` where the profile has no std, and the run reports how many batches
//! needed it. Times are rounded to whole nanoseconds (at least 1).
//!
//! **Batching.** See [`crate::server::batcher`] for how a batch forms; the rule of each model
//! is its own keys, else the global keys; a model with neither runs unbatched (max batch 1).

pub mod noise;
pub mod table;

pub use noise::NoiseStream;
pub use table::ServiceTable;

use crate::error::{Error, Result};
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
                "service noise '{s}': {why}; expected none, lognormal:cv=X (0 <= X <= 100), profile or profile:cv=X"
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
            if !(x.is_finite() && (0.0..=100.0).contains(&x)) {
                return Err(bad("cv must be a finite number >= 0 (at most 100)"));
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

    /// Whether these keys let some model merge queries (a max_batch above 1 among them).
    pub fn can_merge(&self) -> bool {
        self.max_batch.unwrap_or(1) > 1 || self.per_model.values().any(|(b, _)| b.unwrap_or(1) > 1)
    }

    /// Set one `batching.*` key (`rest` is what follows `batching.`).
    fn set(&mut self, key: &str, rest: &str, v: &str) -> Result<()> {
        let (model, field) = match rest.rsplit_once('.') {
            Some((m, f)) => (Some(m), f),
            None => (None, rest),
        };
        let slot = model.map(|m| self.per_model.entry(m.to_string()).or_default());
        match field {
            "max_batch" => {
                let b = parse_max_batch(key, v)?;
                match slot {
                    Some(sl) => sl.0 = Some(b),
                    None => self.max_batch = Some(b),
                }
            }
            "max_delay_us" => {
                let d = parse_delay_us(key, v)?;
                match slot {
                    Some(sl) => sl.1 = Some(d),
                    None => self.max_delay_us = Some(d),
                }
            }
            _ => {
                return Err(Error::Usage(format!(
                    "unknown parameter '{key}': expected batching.max_batch, batching.max_delay_us, batching.<model>.max_batch or batching.<model>.max_delay_us"
                )));
            }
        }
        Ok(())
    }
}

fn bad_value(k: &str, v: &str, what: &str) -> Error {
    Error::Usage(format!("parameter '{k}': '{v}' is not {what}"))
}

fn parse_max_batch(k: &str, v: &str) -> Result<u32> {
    v.trim()
        .parse()
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| bad_value(k, v, "an integer >= 1"))
}

/// A batching delay: finite, >= 0, and at most the longest replayable time (2^62 ns), so that
/// an arrival plus its delay cannot overflow simulated time.
fn parse_delay_us(k: &str, v: &str) -> Result<f64> {
    let max_us = crate::trace::MAX_TIME_NS as f64 / 1e3;
    v.trim()
        .parse()
        .ok()
        .filter(|d: &f64| d.is_finite() && *d >= 0.0 && *d <= max_us)
        .ok_or_else(|| {
            bad_value(
                k,
                v,
                &format!("a number of microseconds in [0, {max_us:.0}] (2^62 ns)"),
            )
        })
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
        ServiceModel::EXACT
    }
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
    /// The default model: profiled service times exactly (no noise), no batcher, seed 1.
    pub const EXACT: ServiceModel = ServiceModel {
        noise: Noise::None,
        seed: 1,
        batching: None,
    };

    /// Whether `key` is one of the service model's keys.
    pub fn is_key(key: &str) -> bool {
        key == "service_noise" || key == "seed" || key.starts_with("batching.")
    }

    /// Parse the service model's keys among `pairs` (others are ignored): the one place their
    /// values are read.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ServiceModel> {
        let mut s = ServiceModel::default();
        let mut batching = BatchingSpec::default();
        let mut any_batching = false;
        for (k, v) in pairs {
            let v = v.trim();
            if k == "service_noise" {
                s.noise = Noise::parse(v)?;
            } else if k == "seed" {
                s.seed = v.parse().map_err(|_| bad_value(k, v, "an integer >= 0"))?;
            } else if let Some(rest) = k.strip_prefix("batching.") {
                any_batching = true;
                batching.set(k, rest, v)?;
            }
        }
        if any_batching {
            s.batching = Some(batching);
        }
        Ok(s)
    }

    /// Apply the command line's `--batching max_batch=B[,max_delay_us=D]` (the global keys;
    /// per-model keys given elsewhere stay) or `--batching none` (no batcher at all).
    pub fn set_batching(&mut self, s: &str) -> Result<()> {
        let s = s.trim();
        if s == "none" {
            self.batching = None;
            return Ok(());
        }
        let mut b = self.batching.take().unwrap_or_default();
        let mut seen = Vec::new();
        for part in s.split(',') {
            let bad = || {
                Error::Usage(format!(
                    "--batching '{s}': expected max_batch=B[,max_delay_us=D] or none"
                ))
            };
            let (k, v) = part.split_once('=').ok_or_else(bad)?;
            let k = k.trim();
            if k != "max_batch" && k != "max_delay_us" {
                return Err(Error::Usage(format!(
                    "--batching '{s}': unknown key '{k}'; expected max_batch and max_delay_us"
                )));
            }
            if seen.contains(&k) {
                return Err(Error::Usage(format!(
                    "--batching '{s}': '{k}' is given twice; give each key once"
                )));
            }
            seen.push(k);
            b.set(&format!("batching.{k}"), k, v.trim())?;
        }
        self.batching = Some(b);
        Ok(())
    }

    /// The batching rule of each trace model (empty without batching).
    pub fn batch_rules(&self, models: &[String]) -> Result<Vec<BatchRule>> {
        match &self.batching {
            Some(b) => b.resolve(models),
            None => Ok(Vec::new()),
        }
    }

    /// Whether every batch runs alone for exactly its profiled latency.
    pub fn is_exact(&self) -> bool {
        self.noise.is_none() && self.batching.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let s = ServiceModel::from_pairs([
            ("batching.max_batch", "8"),
            ("batching.bert-base.max_delay_us", "250"),
        ])
        .unwrap();
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
        let mut m = ServiceModel::default();
        assert!(m.set_batching("max_batch=0x").is_err());
        assert!(m.set_batching("size=3").is_err());
        m.set_batching("max_batch=4,max_delay_us=10").unwrap();
        assert_eq!(
            m.batch_rules(&["a".into()]).unwrap(),
            vec![BatchRule {
                max_batch: 4,
                max_delay_ns: 10_000
            }]
        );
        m.set_batching("none").unwrap();
        assert!(m.is_exact());
        assert!(ServiceModel::from_pairs([("batching.max_batch", "0")]).is_err());
    }
}
