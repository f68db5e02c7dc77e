//! Declared policy parameters: every partitioner and scheduler lists the keys it accepts with a
//! type, a default and a one-line meaning; values arrive as text (`--param key=value`, a policy
//! TOML file, or the `--slice`/`--layout` shortcuts) and are validated against those
//! declarations before anything runs, so a typo is an error naming the key and what is valid.

use crate::error::{Error, Result};
use crate::server::reconfig::{Drain, ReconfigModel, ReconfigRules};
use crate::service::ServiceModel;
use crate::sla::SlaSpec;
use std::collections::BTreeMap;
use std::path::Path;

/// `seed`: the seed of a half's own random stream (`random`'s layout draw). A run's `--seed`
/// also seeds the service-noise stream; each uses its own stream.
pub const SEED: ParamSpec = ParamSpec {
    name: "seed",
    kind: ParamKind::UInt,
    default: Some("1"),
    help: "seed of the layout draw",
};

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A finite number in `[min, max]`.
    Float { min: f64, max: f64 },
    /// A finite number > 0.
    Positive,
    /// A non-negative integer.
    UInt,
    /// A MIG slice name of the server's GPU (`1g.10gb`, or just `1g`); checked when the policy
    /// meets the GPU.
    Slice,
    /// A MIG layout (`4g.40gb+2g.20gb+1g.10gb`), or one per GPU separated by commas; checked
    /// when the policy meets the GPU.
    Layout,
    /// One of these words.
    Choice(&'static [&'static str]),
}

impl ParamKind {
    /// How the type is written in `policy list`.
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Float { min, max } => format!("number in [{min}, {max}]"),
            ParamKind::Positive => "number > 0".into(),
            ParamKind::UInt => "integer >= 0".into(),
            ParamKind::Slice => "MIG slice".into(),
            ParamKind::Layout => "MIG layout".into(),
            ParamKind::Choice(c) => format!("one of {}", c.join(", ")),
        }
    }

    fn check(&self, v: &str) -> std::result::Result<(), String> {
        let num = || {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("'{v}' is not a number"))
        };
        match *self {
            ParamKind::Float { min, max } => {
                let x = num()?;
                if !(min..=max).contains(&x) {
                    return Err(format!(
                        "{} is out of range; expected a number in [{}, {}]",
                        crate::error::num(x),
                        crate::error::num(min),
                        crate::error::num(max)
                    ));
                }
            }
            ParamKind::Positive => {
                if num()? <= 0.0 {
                    return Err(format!("'{v}' is not > 0; expected a number > 0"));
                }
            }
            ParamKind::UInt => {
                v.parse::<u64>()
                    .map_err(|_| format!("'{v}' is not an integer >= 0"))?;
            }
            ParamKind::Slice | ParamKind::Layout => {
                if v.trim().is_empty() {
                    return Err("empty value".into());
                }
            }
            ParamKind::Choice(c) => {
                if !c.contains(&v) {
                    return Err(format!("'{v}' is not one of {}", c.join(", ")));
                }
            }
        }
        Ok(())
    }
}

/// One declared parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// The key. A key ending in `.<model>` declares a family: `sla.<model>` accepts
    /// `sla.resnet50`, `sla.bert-base`, ...
    pub name: &'static str,
    pub kind: ParamKind,
    /// The default as text; `None` when the parameter is required, `Some("")` when it is
    /// optional with no default.
    pub default: Option<&'static str>,
    pub help: &'static str,
}

impl ParamSpec {
    /// Whether `key` is this parameter (or a member of its family).
    pub fn matches(&self, key: &str) -> bool {
        match self.name.strip_suffix("<model>") {
            Some(prefix) => key.len() > prefix.len() && key.starts_with(prefix),
            None => key == self.name,
        }
    }

    fn is_family(&self) -> bool {
        self.name.ends_with("<model>")
    }
}

/// Raw parameters as given by the user, before validation: key -> text value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyParams {
    pub values: BTreeMap<String, String>,
}

impl PolicyParams {
    /// Parameters from `(key, value)` pairs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> PolicyParams {
        PolicyParams {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Set one parameter (a later value replaces an earlier one).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    /// Parse `key=value` (from `--param`).
    pub fn parse_assignment(&mut self, s: &str) -> Result<()> {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--param '{s}': expected key=value (e.g. theta=0.8)"
            ))
        })?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(Error::Usage(format!(
                "--param '{s}': expected key=value with a non-empty key and value"
            )));
        }
        self.set(k, v);
        Ok(())
    }

    /// Read a policy TOML file: `key = value` pairs, where nested tables flatten to dotted
    /// keys (`[sla]` with `resnet50 = 40`, or `sla.resnet50 = 40`, is the key `sla.resnet50`).
    /// Values may be numbers, strings or booleans.
    pub fn load_toml(path: &Path) -> Result<PolicyParams> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // One line: the position and the parser's message.
            let at = e
                .span()
                .map(|r| {
                    let before = &text[..r.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(" at line {line}, column {col}")
                })
                .unwrap_or_default();
            Error::file(
                path,
                format!("not valid TOML{at}: {}", e.message().replace('\n', " ")),
            )
        })?;
        let mut p = PolicyParams::default();
        flatten(path, "", &table, &mut p)?;
        Ok(p)
    }

    /// `k=v,k=v` in key order (how reports name a parameter set).
    pub fn text(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `self` with `other`'s values added on top (other wins).
    pub fn merged(mut self, other: &PolicyParams) -> PolicyParams {
        for (k, v) in &other.values {
            self.values.insert(k.clone(), v.clone());
        }
        self
    }
}

/// Split a policy as reports label it, `name[key=value,key=value]`, into its name and the
/// parameters it carries; a plain name carries none. A value may contain commas (a per-GPU
/// layout list: `fixed[layout=4g+3g,7g]`): a piece without `=` continues the previous value.
pub fn split_label(label: &str) -> Result<(&str, PolicyParams)> {
    let label = label.trim();
    let Some(open) = label.find('[') else {
        return Ok((label, PolicyParams::default()));
    };
    let bad = |why: &str| {
        Error::Usage(format!(
            "policy '{label}': {why}; expected NAME or NAME[key=value,...], e.g. homogeneous[slice=1g]"
        ))
    };
    let inner = label[open + 1..]
        .strip_suffix(']')
        .ok_or_else(|| bad("no closing ']'"))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in inner.split(',') {
        match piece.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                pairs.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => match pairs.last_mut() {
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(piece.trim());
                }
                None => return Err(bad(&format!("'{piece}' is not key=value"))),
            },
        }
    }
    let mut p = PolicyParams::default();
    for (k, v) in pairs {
        if v.is_empty() {
            return Err(bad(&format!("parameter '{k}' has no value")));
        }
        p.set(&k, v);
    }
    Ok((label[..open].trim(), p))
}

/// The reconfiguration rules' keys (`reconfig.<key>`, [`crate::server::reconfig`]).
pub const RECONFIG_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "cost_s",
        kind: ParamKind::Float { min: 0.0, max: 1e9 },
        default: Some("6"),
        help: "seconds a freed region is down before its new instances join (MIGRator's reported overhead)",
    },
    ParamSpec {
        name: "max_concurrent",
        kind: ParamKind::UInt,
        default: Some("1"),
        help: "the most GPUs reconfiguring at once (rolling), >= 1",
    },
    ParamSpec {
        name: "drain",
        kind: ParamKind::Choice(&["instances", "gpu"]),
        default: Some("instances"),
        help: "destroy only the instances that change (partial reconfiguration), or every instance of a changing GPU",
    },
];

/// Whether `key` is one of the reconfiguration rules' (`reconfig.*`).
pub fn is_reconfig_key(key: &str) -> bool {
    key.starts_with("reconfig.")
}

/// The reconfiguration rules among `given` (keys `reconfig.<key>`, others ignored), validated:
/// an unknown key or a bad value is an error naming it.
fn reconfig_rules(given: &PolicyParams) -> Result<ReconfigRules> {
    let mut own = PolicyParams::default();
    for (k, v) in &given.values {
        let Some(r) = k.strip_prefix("reconfig.") else {
            continue;
        };
        if !RECONFIG_PARAMS.iter().any(|s| s.matches(r)) {
            return Err(Error::Usage(format!(
                "unknown parameter '{k}': expected one of {}",
                RECONFIG_PARAMS
                    .iter()
                    .map(|s| format!("reconfig.{}", s.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        own.set(r, v.clone());
    }
    let rp = Params::resolve("reconfig", RECONFIG_PARAMS, &own)?;
    let max_concurrent = rp.u64("max_concurrent").unwrap_or(1);
    if max_concurrent == 0 || max_concurrent > u32::MAX as u64 {
        return Err(Error::Usage(format!(
            "reconfig.max_concurrent must be between 1 and {}, got {max_concurrent}",
            u32::MAX
        )));
    }
    let model = ReconfigModel {
        cost_ns: super::secs_to_ns(rp.f64("cost_s").unwrap_or(6.0)),
        max_concurrent: max_concurrent as u32,
        drain: if rp.get("drain") == Some("gpu") {
            Drain::Gpu
        } else {
            Drain::Instances
        },
    };
    Ok(ReconfigRules {
        model,
        given: own.values,
    })
}

/// Every reconfiguration rule with its value (as given, else its default), prefixed as given
/// (`reconfig.cost_s`, ...): how a reconfigurable run's parameters name its rules.
pub fn reconfig_keys(rules: &ReconfigRules) -> Result<BTreeMap<String, String>> {
    let given = PolicyParams {
        values: rules.given.clone(),
    };
    let rp = Params::resolve("reconfig", RECONFIG_PARAMS, &given)?;
    Ok(rp
        .values()
        .iter()
        .map(|(k, v)| (format!("reconfig.{k}"), v.clone()))
        .collect())
}

/// The keys a run was given (a policy TOML file, `--param`, the shortcuts, a sweep's `params`),
/// split at the edge: the service model's keys parsed once into a typed [`ServiceModel`], the
/// SLA keys (`sla.<model>`, the default rule's) into an [`SlaSpec`], the reconfiguration rules
/// (`reconfig.*`) into [`ReconfigRules`], the others the policy's parameters (the repartitioner,
/// `repartition.*`, is a half of the policy).
#[derive(Debug, Clone, Default)]
pub struct RunParams {
    /// Every key that is neither the service model's, an SLA's nor a reconfiguration rule's.
    pub policy: PolicyParams,
    pub service: ServiceModel,
    /// The SLAs (`--sla-ms` is added by the command line).
    pub slas: SlaSpec,
    /// The reconfiguration rules (a server that never reconfigures refuses any given).
    pub reconfig: ReconfigRules,
    /// `seed`, when given: it seeds the noise stream, and also a policy half that declares a
    /// `seed` ([`SEED`]: `random`'s layout draw, on its own stream).
    pub seed: Option<u64>,
}

impl RunParams {
    /// Split `given` into the service model, the SLAs and the reconfiguration rules (parsed
    /// here, once) and the policy's keys.
    pub fn split(given: PolicyParams) -> Result<RunParams> {
        let pairs = || given.values.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let service = ServiceModel::from_pairs(pairs())?;
        let slas = SlaSpec::from_pairs(pairs())?;
        let reconfig = reconfig_rules(&given)?;
        let seed = given.values.contains_key("seed").then_some(service.seed);
        let mut policy = given;
        policy
            .values
            .retain(|k, _| !ServiceModel::is_key(k) && !SlaSpec::is_key(k) && !is_reconfig_key(k));
        Ok(RunParams {
            policy,
            service,
            slas,
            reconfig,
            seed,
        })
    }

    /// Set the run's seed (`--seed`): the noise stream's and a policy's `seed`.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = Some(seed);
        self.service.seed = seed;
    }

    /// The parameters of a policy: the policy keys, plus the run's `seed` when one of its
    /// halves declares one (`declares_seed`, from [`crate::policy::Registry::declares`]).
    pub fn for_policy(&self, declares_seed: bool) -> PolicyParams {
        let mut p = self.policy.clone();
        if let (Some(s), true) = (self.seed, declares_seed) {
            p.set("seed", s.to_string());
        }
        p
    }
}

fn flatten(path: &Path, prefix: &str, t: &toml::Table, out: &mut PolicyParams) -> Result<()> {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let s = match v {
            toml::Value::Table(inner) => {
                flatten(path, &key, inner, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(Error::file(
                    path,
                    format!(
                        "key '{key}': a {} is not a parameter value; expected a number or a string",
                        other.type_str()
                    ),
                ));
            }
        };
        out.set(&key, s);
    }
    Ok(())
}

/// Validated parameters of one half of a policy: every declared key with its value (given or
/// default), ready for typed reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Validate `given` against `specs` for `owner` (a partitioner or scheduler name). Keys
    /// not declared here are left for the other half; the caller checks that every key was
    /// taken by one of them.
    pub fn resolve(owner: &str, specs: &[ParamSpec], given: &PolicyParams) -> Result<Params> {
        let mut values = BTreeMap::new();
        for spec in specs {
            let mut found = false;
            for (k, v) in given.values.iter().filter(|(k, _)| spec.matches(k)) {
                spec.kind
                    .check(v)
                    .map_err(|e| Error::Usage(format!("parameter '{k}' of '{owner}': {e}")))?;
                values.insert(k.clone(), v.clone());
                found = true;
            }
            if !found && !spec.is_family() {
                match spec.default {
                    None => {
                        let hint = match spec.name {
                            "slice" => " --slice (e.g. --slice 1g.10gb) or",
                            "layout" => " --layout (e.g. --layout 4g.40gb+2g.20gb+1g.10gb) or",
                            _ => "",
                        };
                        return Err(Error::Usage(format!(
                            "policy '{owner}' needs{hint} --param {}=<{}>",
                            spec.name,
                            spec.kind.describe()
                        )));
                    }
                    Some("") => {}
                    Some(d) => {
                        values.insert(spec.name.to_string(), d.to_string());
                    }
                }
            }
        }
        Ok(Params { values })
    }

    /// The text value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A number (validated at resolve time).
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// An integer (validated at resolve time).
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// Every `prefix<model>` key as model -> number (e.g. `sla.` -> per-model SLAs).
    pub fn family_f64(&self, prefix: &str) -> BTreeMap<String, f64> {
        self.values
            .iter()
            .filter_map(|(k, v)| {
                let m = k.strip_prefix(prefix)?;
                Some((m.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    /// All values, for reports.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "theta",
            kind: ParamKind::Float {
                min: 0.01,
                max: 1.0,
            },
            default: Some("0.8"),
            help: "",
        },
        ParamSpec {
            name: "sla.<model>",
            kind: ParamKind::Positive,
            default: Some(""),
            help: "",
        },
        ParamSpec {
            name: "slice",
            kind: ParamKind::Slice,
            default: None,
            help: "",
        },
    ];

    #[test]
    fn the_reconfiguration_rules_are_split_off_typed() {
        let run = RunParams::split(PolicyParams::from_pairs(&[
            ("repartition.name", "periodic"),
            ("reconfig.cost_s", "0.25"),
            ("reconfig.max_concurrent", "3"),
            ("theta", "0.5"),
        ]))
        .unwrap();
        // 0.25 s = 250,000,000 ns; the drain keeps its default.
        assert_eq!(
            run.reconfig.model,
            ReconfigModel {
                cost_ns: 250_000_000,
                max_concurrent: 3,
                drain: Drain::Instances,
            }
        );
        let keys: Vec<&str> = run.policy.values.keys().map(String::as_str).collect();
        assert_eq!(keys, ["repartition.name", "theta"]);
        // Reports name every rule, the given ones as given.
        let named = reconfig_keys(&run.reconfig).unwrap();
        let named: Vec<(&str, &str)> = named
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("reconfig.cost_s", "0.25"),
                ("reconfig.drain", "instances"),
                ("reconfig.max_concurrent", "3")
            ]
        );
        for (k, v, want) in [
            ("reconfig.speed", "1", "unknown parameter 'reconfig.speed'"),
            ("reconfig.cost_s", "-1", "parameter 'cost_s' of 'reconfig'"),
            (
                "reconfig.max_concurrent",
                "0",
                "reconfig.max_concurrent must be between 1",
            ),
            (
                "reconfig.drain",
                "some",
                "'some' is not one of instances, gpu",
            ),
        ] {
            let e = RunParams::split(PolicyParams::from_pairs(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{k}={v}: {e}");
        }
    }

    #[test]
    fn labels() {
        let (n, p) = split_label("homogeneous[slice=1g]").unwrap();
        assert_eq!((n, p.text()), ("homogeneous", "slice=1g".to_string()));
        let (n, p) = split_label("fixed[layout=4g+3g,7g,theta=0.5]").unwrap();
        assert_eq!(n, "fixed");
        assert_eq!(p.values["layout"], "4g+3g,7g");
        assert_eq!(p.values["theta"], "0.5");
        assert_eq!(
            split_label("paris+elsa").unwrap().1,
            PolicyParams::default()
        );
        for bad in ["x[slice=1g", "x[1g]", "x[slice=]"] {
            assert!(split_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_families_and_errors() {
        let p = Params::resolve(
            "x",
            SPECS,
            &PolicyParams::from_pairs(&[("slice", "1g"), ("sla.resnet50", "40")]),
        )
        .unwrap();
        assert_eq!(p.f64("theta"), Some(0.8));
        assert_eq!(p.family_f64("sla.").get("resnet50"), Some(&40.0));
        let e = Params::resolve("x", SPECS, &PolicyParams::from_pairs(&[("theta", "2")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("parameter 'theta' of 'x'") && e.contains("[0.01, 1]"),
            "{e}"
        );
        let e = Params::resolve("x", SPECS, &PolicyParams::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs --slice"), "{e}");
        assert!(SPECS[1].matches("sla.bert-base") && !SPECS[1].matches("sla."));
    }
}
