//! The sweep file: a TOML description of a comparison matrix. Every key is checked: an unknown
//! key or a value of the wrong type is an error naming it (and its line) and what was expected.
//! `experiments/bench-all.toml` and `experiments/ci.toml` document every key.

use crate::error::{Error, Result};
use crate::policy::DEFAULT_BASELINE;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn default_seeds() -> Vec<u64> {
    vec![1]
}
fn default_percentile() -> f64 {
    99.0
}
fn default_tolerance() -> f64 {
    0.01
}
fn default_reference() -> f64 {
    0.6
}

/// A sweep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// A name for the report.
    pub name: String,
    /// GPU kind (`mig-replay gpu list`).
    pub gpu: String,
    /// GPUs in the server.
    pub gpus: usize,
    /// Profile Parquet file.
    pub profiles: PathBuf,
    /// Seeds: each seeds the generated workloads and the `random` partitioner.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// The latency percentile that must meet the SLA (peaks) and that the verdict reports.
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    /// Peaks judge one percentile over every query against the workload's `sla_ms`, instead
    /// of every model's percentile against its own SLA.
    #[serde(default)]
    pub pooled: bool,
    /// Relative width at which a peak bisection stops.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Offered loads as fractions of the best policy's peak (per workload and seed).
    #[serde(default)]
    pub loads: Vec<f64>,
    /// Offered loads as absolute rate scales (instead of, or besides, `loads`).
    #[serde(default)]
    pub rate_scales: Vec<f64>,
    /// The load (a fraction of the best peak) at which the verdict reports the percentile and
    /// the latency CDF and heat maps are drawn; added to `loads` if missing.
    #[serde(default = "default_reference")]
    pub reference_load: f64,
    /// The policy (label) the verdict's ratios are relative to; default `fcfs` when the matrix
    /// has it, else the first policy.
    #[serde(default)]
    pub baseline: Option<String>,
    /// The policies (labels) whose busy-fraction and batch-by-slice heat maps the report draws
    /// per workload; default: for each scheduler whose registry entry asks for heat maps, the
    /// first policy with it, preferring a partitioner whose entry asks for its layout.
    #[serde(default)]
    pub heat_maps: Option<Vec<String>>,
    /// Capacity planning: for every workload (at its own rate) and policy, the fewest GPUs of
    /// the sweep's kind meeting every model's SLA at `percentile`, per seed (`mig-replay plan`);
    /// the report leads with it. Absent: no plan.
    #[serde(default)]
    pub plan: Option<PlanSpec>,
    /// Workloads.
    #[serde(rename = "workload")]
    pub workloads: Vec<WorkloadSpec>,
    /// Policies.
    #[serde(rename = "policy")]
    pub policies: Vec<PolicySpec>,
}

fn default_plan_max_gpus() -> usize {
    crate::drive::capacity::DEFAULT_MAX_GPUS
}
fn default_plan_search() -> String {
    "auto".into()
}

/// The `plan` table: how the fewest GPUs are searched (`mig-replay plan`'s `--max-gpus` and
/// `--search`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// The largest count tried.
    #[serde(default = "default_plan_max_gpus")]
    pub max_gpus: usize,
    /// `auto` (default), `bisect` or `scan` (as `plan --search`).
    #[serde(default = "default_plan_search")]
    pub search: String,
}

impl PlanSpec {
    /// The search settings at the sweep's percentile and criterion.
    pub fn config(&self, cfg: &SweepConfig) -> Result<crate::drive::capacity::PlanConfig> {
        Ok(crate::drive::capacity::PlanConfig {
            percentile: cfg.percentile,
            pooled: cfg.pooled,
            max_gpus: self.max_gpus,
            search: crate::drive::capacity::Search::parse(&self.search)?,
        })
    }
}

/// One workload: a trace file or a generator, and its SLA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub name: String,
    /// A trace Parquet file.
    pub trace: Option<PathBuf>,
    /// Rescale the trace file's time to this mean rate (queries/s).
    pub rate: Option<f64>,
    /// A generated trace (seeded by each sweep seed).
    pub generate: Option<GenSpec>,
    /// The SLA (ms) of every model (as `--sla-ms`): the percentile must meet it, every query is
    /// judged by it, and SLA-aware policies get it.
    pub sla_ms: f64,
    /// Per-model SLAs (ms) overriding `sla_ms` for those models (as `sla.<model>`).
    #[serde(default)]
    pub sla: BTreeMap<String, f64>,
    /// The absolute offered rate (queries/s) at which the verdict reports the percentile and
    /// draws the CDF and heat maps, the same for every policy and every report (the regression
    /// gate needs it fixed); default: `reference_load` x the best policy's peak.
    #[serde(default)]
    pub reference_qps: Option<f64>,
    /// What the seeds replicate for a trace file: `same` (default; every seed replays the whole
    /// trace, so a deterministic policy gives one sample) or `windows` (the trace is cut into as
    /// many windows of equal query count as there are seeds, seed k replaying window k: the
    /// replicates come from the traffic itself).
    #[serde(default)]
    pub replicates: Option<String>,
}

impl WorkloadSpec {
    /// The workload's SLAs, with the default rule's parameters `rule` (which apply to no model
    /// here: `sla_ms` gives every model an SLA).
    pub fn slas(&self, rule: crate::sla::SlaRule) -> crate::sla::SlaSpec {
        crate::sla::SlaSpec {
            global_ms: Some(self.sla_ms),
            per_model: self.sla.clone(),
            rule,
        }
    }
}

/// `trace gen` as a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenSpec {
    /// Mean arrival rate, queries/s (the base rate that segments and a rate shape vary).
    pub rate: f64,
    /// Stop after this many queries, or at `duration_s` of trace time (exactly one of them).
    #[serde(default)]
    pub queries: Option<u64>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Time-varying traffic, as `trace gen`'s options (paths relative to where you run, as
    /// `profiles`): phases with their own rate and batch law from a segments TOML
    /// (`--segments`), and a rate shape CSV (`--rate-shape`) whose times are divided by
    /// `shape_compress` (`--shape-compress`, default 1). Every seed draws the trace anew.
    #[serde(default)]
    pub segments: Option<PathBuf>,
    #[serde(default)]
    pub rate_shape: Option<PathBuf>,
    #[serde(default)]
    pub shape_compress: Option<f64>,
    /// Models, optionally weighted: `["resnet50:3", "bert-base:1"]`.
    pub models: Vec<String>,
    #[serde(default = "two")]
    pub batch_mu: f64,
    #[serde(default = "one")]
    pub batch_sigma: f64,
    #[serde(default = "max_batch")]
    pub max_batch: u32,
    /// `poisson` (default) or `gamma` (with `cv`).
    #[serde(default)]
    pub arrivals: Option<String>,
    #[serde(default)]
    pub cv: Option<f64>,
}

impl GenSpec {
    /// What the report says of the generated workload.
    pub fn describe(&self) -> String {
        let arrivals = match (self.arrivals.as_deref(), self.cv) {
            (Some("gamma"), cv) => format!("gamma (cv {})", cv.unwrap_or(2.0)),
            _ => "Poisson".to_string(),
        };
        let length = match (self.queries, self.duration_s) {
            (Some(n), _) => format!("{n} queries"),
            (None, Some(d)) => format!("{d} s"),
            (None, None) => String::new(),
        };
        let mut s = format!(
            "generated: {arrivals} {} q/s, {length}, {}, log-normal batches mu {} sigma {} max {}",
            self.rate,
            self.models.join(" + "),
            self.batch_mu,
            self.batch_sigma,
            self.max_batch
        );
        if let Some(p) = &self.segments {
            s += &format!(", segments {}", p.display());
        }
        if let Some(p) = &self.rate_shape {
            s += &format!(
                ", rate shape {} compressed {}x",
                p.display(),
                self.shape_compress.unwrap_or(1.0)
            );
        }
        s + ", seeded per seed"
    }
}

fn two() -> f64 {
    2.0
}
fn one() -> f64 {
    1.0
}
fn max_batch() -> u32 {
    128
}

/// One policy of the matrix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// `PART+SCHED` or an alias.
    pub name: String,
    /// How the report names it (default: the name and its parameters).
    pub label: Option<String>,
    /// Policy parameters (as `--param`).
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
}

impl PolicySpec {
    /// A `name` written as reports label policies (`homogeneous[slice=1g]`): move its
    /// parameters into `params`, keeping the label.
    fn unlabel(&mut self, path: &Path) -> Result<()> {
        if !self.name.contains('[') {
            return Ok(());
        }
        let (name, own) = crate::policy::params::split_label(&self.name)
            .map_err(|e| Error::file(path, format!("key 'policy.name': {e}")))?;
        let name = name.to_string();
        for (k, v) in own.values {
            if self.params.contains_key(&k) {
                return Err(Error::file(
                    path,
                    format!(
                        "key 'policy.params': '{k}' is given twice for policy '{}' (in its name and in params)",
                        self.name
                    ),
                ));
            }
            self.params.insert(k, toml::Value::String(v));
        }
        self.label.get_or_insert_with(|| self.name.clone());
        self.name = name;
        Ok(())
    }

    /// The label: given, or `name` plus its parameters (`homogeneous[slice=1g]`).
    pub fn label(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        if self.params.is_empty() {
            return self.name.clone();
        }
        let p: Vec<String> = self
            .flat_params()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}[{}]", self.name, p.join(","))
    }

    /// The parameters as `--param` pairs: nested tables flatten to dotted keys
    /// (`batching = { max_batch = 32 }` is `batching.max_batch=32`).
    pub fn flat_params(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, k: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
            let key = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => {
                    for (k2, v2) in t {
                        walk(&key, k2, v2, out);
                    }
                }
                other => out.push((key, value_text(other))),
            }
        }
        let mut out = Vec::new();
        for (k, v) in &self.params {
            walk("", k, v, &mut out);
        }
        out.sort();
        out
    }
}

/// A TOML value as the text a `--param` would carry.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A name as plot files carry it (`plots/latency-SLUG.png`): every character but ASCII letters
/// and digits becomes `-`.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The first value that appears twice.
fn first_repeat(mut v: impl Iterator<Item = String>) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.find(|x| !seen.insert(x.clone()))
}

impl SweepConfig {
    /// The label of the baseline policy of the ratios.
    pub fn baseline(&self) -> String {
        let labels: Vec<String> = self.policies.iter().map(|p| p.label()).collect();
        match &self.baseline {
            Some(b) => b.clone(),
            None if labels.iter().any(|l| l == DEFAULT_BASELINE) => DEFAULT_BASELINE.to_string(),
            None => labels[0].clone(),
        }
    }

    /// Read and check a sweep file.
    pub fn load(path: &Path) -> Result<SweepConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse and check the text of a sweep file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<SweepConfig> {
        let cfg: SweepConfig = toml::from_str(text).map_err(|e| {
            // Name the line and, when it is `key = value`, the key.
            let at = e
                .span()
                .map(|r| {
                    let start = r.start.min(text.len());
                    let line_no = text[..start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("");
                    match line.split_once('=') {
                        Some((k, _)) if !k.trim().is_empty() && !k.contains('{') => {
                            format!(" at line {line_no} (key '{}')", k.trim())
                        }
                        _ => format!(" at line {line_no}"),
                    }
                })
                .unwrap_or_default();
            Error::file(
                path,
                format!("bad sweep config{at}: {}", e.message().replace('\n', " ")),
            )
        })?;
        let mut cfg = cfg;
        for p in &mut cfg.policies {
            p.unlabel(path)?;
        }
        cfg.check(path)?;
        Ok(cfg)
    }

    pub(crate) fn check(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, what: String| Err(Error::file(path, format!("key '{key}': {what}")));
        if let Err(e) = crate::scenario::check_gpus(self.gpus, "the GPU count") {
            return bad("gpus", e.to_string());
        }
        if self.seeds.len() > 1000 {
            return bad("seeds", format!("{} seeds; at most 1000", self.seeds.len()));
        }
        if self.loads.len() + self.rate_scales.len() > 1000 {
            return bad("loads", "more than 1000 loads".into());
        }
        if self.seeds.is_empty() {
            return bad("seeds", "expected at least one seed".into());
        }
        if self.name.is_empty()
            || self.name == "."
            || self.name == ".."
            || self.name.contains(['/', '\\'])
        {
            return bad(
                "name",
                format!(
                    "'{}': expected a name for the report folder (reports/NAME), without '/' or '\\' and not '.' or '..'",
                    self.name
                ),
            );
        }
        if let Some(d) = first_repeat(self.seeds.iter().map(|s| s.to_string())) {
            return bad(
                "seeds",
                format!(
                    "seed {d} appears twice; replicates of one seed are identical, so the seeds must differ"
                ),
            );
        }
        for (k, v) in [("loads", &self.loads), ("rate_scales", &self.rate_scales)] {
            if let Some(d) = first_repeat(v.iter().map(|x| crate::error::num(*x))) {
                return bad(k, format!("{d} appears twice; expected distinct values"));
            }
        }
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return bad(
                "percentile",
                format!("{} is not in (0, 100]", self.percentile),
            );
        }
        // The plan's settings, checked as `plan` checks its flags (the percentile is checked
        // above), each error named by its key.
        if let Some(p) = &self.plan
            && let Err(e) = p.config(self).and_then(|c| c.check())
        {
            let m = e.to_string();
            let key = if m.contains("--search") {
                "plan.search"
            } else {
                "plan.max_gpus"
            };
            return bad(
                key,
                m.replace("--max-gpus", "max_gpus")
                    .replace("--search", "search"),
            );
        }
        if !(self.tolerance >= crate::drive::peak::MIN_TOLERANCE && self.tolerance < 1.0) {
            return bad(
                "tolerance",
                format!(
                    "{} is not in [{:e}, 1)",
                    self.tolerance,
                    crate::drive::peak::MIN_TOLERANCE
                ),
            );
        }
        for (k, v) in [("loads", &self.loads), ("rate_scales", &self.rate_scales)] {
            if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return bad(
                    k,
                    format!("{} is not a positive number", crate::error::num(*x)),
                );
            }
        }
        if self.loads.is_empty() && self.rate_scales.is_empty() {
            return bad(
                "loads",
                "give `loads` (fractions of the best peak) or `rate_scales`".into(),
            );
        }
        if !(self.reference_load.is_finite() && self.reference_load > 0.0) {
            return bad(
                "reference_load",
                format!("{} is not a positive number", self.reference_load),
            );
        }
        if self.workloads.is_empty() {
            return bad("workload", "expected at least one [[workload]]".into());
        }
        if self.policies.is_empty() {
            return bad("policy", "expected at least one [[policy]]".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for w in &self.workloads {
            if !names.insert(&w.name) {
                return bad("workload.name", format!("'{}' appears twice", w.name));
            }
            if let Some(g) = &w.generate {
                if g.queries.is_some() == g.duration_s.is_some() {
                    return bad(
                        "workload.generate",
                        format!(
                            "workload '{}': give exactly one of `queries` and `duration_s`",
                            w.name
                        ),
                    );
                }
                for (key, v) in [
                    ("duration_s", g.duration_s),
                    ("shape_compress", g.shape_compress),
                ] {
                    if let Some(x) = v
                        && !(x.is_finite() && x > 0.0)
                    {
                        return bad(
                            &format!("workload.generate.{key}"),
                            format!("workload '{}': {x} is not a positive number", w.name),
                        );
                    }
                }
                if g.shape_compress.is_some() && g.rate_shape.is_none() {
                    return bad(
                        "workload.generate.shape_compress",
                        format!(
                            "workload '{}': `shape_compress` compresses a `rate_shape`, and none is given",
                            w.name
                        ),
                    );
                }
            }
            match (&w.trace, &w.generate) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return bad(
                        "workload.trace",
                        format!(
                            "workload '{}': give exactly one of `trace` and `generate`",
                            w.name
                        ),
                    );
                }
            }
            if let Some(r) = w.reference_qps
                && !(r.is_finite() && r > 0.0)
            {
                return bad(
                    "workload.reference_qps",
                    format!("workload '{}': {r} is not a positive number", w.name),
                );
            }
            match w.replicates.as_deref() {
                None | Some("same") => {}
                Some("windows") if w.trace.is_some() => {}
                Some("windows") => {
                    return bad(
                        "workload.replicates",
                        format!(
                            "workload '{}': `windows` cuts a trace file; a generated workload is drawn anew per seed already",
                            w.name
                        ),
                    );
                }
                Some(other) => {
                    return bad(
                        "workload.replicates",
                        format!(
                            "workload '{}': '{other}'; expected \"same\" or \"windows\"",
                            w.name
                        ),
                    );
                }
            }
            if let Some((m, x)) = w.sla.iter().find(|(_, x)| !(x.is_finite() && **x > 0.0)) {
                return bad(
                    "workload.sla",
                    format!(
                        "workload '{}': model '{m}': {x} is not a positive number",
                        w.name
                    ),
                );
            }
            if let Err(e) =
                crate::scenario::check_sla_ms(w.sla_ms, &format!("workload '{}': the SLA", w.name))
            {
                return bad("workload.sla_ms", e.to_string());
            }
        }
        // A number or a boolean written as a string is a wrong type (the parameters that take
        // text, such as a slice or a layout, never read as a number).
        for p in &self.policies {
            fn quoted(prefix: &str, t: &toml::Table) -> Option<(String, String)> {
                t.iter().find_map(|(k, v)| {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match v {
                        toml::Value::Table(t) => quoted(&key, t),
                        toml::Value::String(s)
                            if s.trim().parse::<f64>().is_ok() || s == "true" || s == "false" =>
                        {
                            Some((key, s.clone()))
                        }
                        _ => None,
                    }
                })
            }
            let table: toml::Table = p.params.clone().into_iter().collect();
            if let Some((k, v)) = quoted("", &table) {
                return bad(
                    "policy.params",
                    format!(
                        "policy '{}': '{k}' is the string \"{v}\"; expected a number or a boolean, without quotes ({k} = {v})",
                        p.label()
                    ),
                );
            }
        }
        let mut labels = std::collections::BTreeSet::new();
        for p in &self.policies {
            if !labels.insert(p.label()) {
                return bad(
                    "policy.label",
                    format!(
                        "'{}' appears twice; give each a distinct `label`",
                        p.label()
                    ),
                );
            }
        }
        // Plot files are named by slugs of the workload names and policy labels: two names
        // with one slug (`a/b`, `a-b`) would write the same files.
        let per_workload = self
            .workloads
            .iter()
            .map(|w| (format!("workload '{}'", w.name), slug(&w.name)));
        let per_pair = self.workloads.iter().flat_map(|w| {
            self.policies.iter().map(move |p| {
                (
                    format!("workload '{}' with policy '{}'", w.name, p.label()),
                    format!("{}-{}", slug(&w.name), slug(&p.label())),
                )
            })
        });
        // Keyed by (kind, stem): workload plots and pair plots have distinct prefixes.
        let mut seen: BTreeMap<(u8, String), String> = BTreeMap::new();
        for (kind, (what, stem)) in per_workload.map(|x| (0, x)).chain(per_pair.map(|x| (1, x))) {
            if let Some(other) = seen.insert((kind, stem.clone()), what.clone()) {
                return bad(
                    "workload.name",
                    format!(
                        "{other} and {what} would write the same plot files (named '{stem}'); give names that differ in their letters or digits"
                    ),
                );
            }
        }
        let known = |key: &str, l: &String| {
            if labels.contains(l) {
                Ok(())
            } else {
                bad(
                    key,
                    format!(
                        "'{l}' is not a policy of this sweep; expected one of the labels: {}",
                        labels.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            }
        };
        if let Some(b) = &self.baseline {
            known("baseline", b)?;
        }
        for h in self.heat_maps.iter().flatten() {
            known("heat_maps", h)?;
        }
        Ok(())
    }
}
