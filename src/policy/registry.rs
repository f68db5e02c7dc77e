//! Names to entries: partitioners, schedulers, and aliases for common pairs. A policy name is
//! `PART+SCHED` or an alias (`fcfs` = `whole+fifo`, ...). Every half declares its parameters,
//! and a scheduler what the drivers need to know about it (its relative cost, its heat maps),
//! so a half registered from outside the crate is treated exactly like a built-in one.
//! [`Registry::build`] rejects an unknown name, an unknown key or a bad value with one line
//! naming it and what is valid.

use super::params::{
    ParamSpec, Params, PolicyParams, RECONFIG_PARAMS, RunParams, is_reconfig_key, split_label,
};
use super::{Partitioner, Repartitioner, SchedContext, Scheduler};
use crate::error::{Error, Result};
use crate::service::{self, ServiceModel};
use crate::sla::{self, SlaSpec};
use std::collections::BTreeMap;

/// Appended to an unknown half's error: a half registered by a plugin is known only to the
/// binary that registers it.
const PLUGIN_HINT: &str = "; a partitioner or scheduler of your own is known only to the binary that registers it (docs/PLUGINS.md): run that binary instead";

/// The policy a sweep's ratios are relative to, unless its file names another (`baseline`).
pub const DEFAULT_BASELINE: &str = "fcfs";

/// How to build a named partitioner.
#[derive(Clone)]
pub struct PartitionerEntry {
    pub name: &'static str,
    pub help: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params) -> Result<Box<dyn Partitioner>>,
    /// Sweeps draw their heat maps on this partitioner's layout when the matrix has a policy
    /// with it (the same layout under each scheduler, so the maps differ by the scheduler
    /// alone).
    pub heat_map_layout: bool,
    /// Every GPU gets the same layout whatever the count (whole GPUs, homogeneous): one more
    /// GPU adds identical instances. With an `fcfs_earliest_free` scheduler, exact service and
    /// no repartitioner, more GPUs never lengthen a query's wait, so `plan` may bisect the
    /// count ([`crate::drive::capacity`]).
    pub same_layout_every_gpu: bool,
}

/// A scheduler's expected cost per replayed query, relative to the others, under each kind of
/// service model (used to balance sharded sweeps; [`Cost::of`]). The unit is half of `fcfs`'s
/// cost on exact service; measured on paper-resnet50 (100k queries, 8 A100-80GB, release
/// build): `fifo` 2 exact or noisy (11 ms), 3 batched (17 ms); `elsa` and `least-loaded` 4
/// exact (23 ms), 16 noisy (84 ms: a scan of every instance per query), 30 batched (161 ms:
/// the scan predicts how each queue batches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub exact: u64,
    pub noisy: u64,
    pub batched: u64,
}

impl Cost {
    /// What a scheduler that declares nothing is assumed to cost: twice `fifo`'s exact cost.
    pub const UNKNOWN: Cost = Cost {
        exact: 4,
        noisy: 4,
        batched: 4,
    };

    /// The cost under service model `s`.
    pub fn of(&self, s: &ServiceModel) -> u64 {
        if s.batching.is_some() {
            self.batched
        } else if !s.noise.is_none() {
            self.noisy
        } else {
            self.exact
        }
    }
}

/// How to build a named scheduler. Schedulers are built after partitioning, with the server
/// and the profile estimates in hand ([`SchedContext`]).
#[derive(Clone)]
pub struct SchedulerEntry {
    pub name: &'static str,
    pub help: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params, &SchedContext) -> Result<Box<dyn Scheduler>>,
    /// Relative cost per replayed query (shard balancing); [`Cost::UNKNOWN`] if unmeasured.
    pub cost: Cost,
    /// Sweeps draw the busy-fraction and batch-by-slice heat maps of one policy with this
    /// scheduler per workload (by default; a sweep file's `heat_maps` names them instead).
    pub heat_maps: bool,
    /// The scheduler needs an SLA for every model: the run fills the ones not given with the
    /// default rule ([`crate::sla`]), and judges queries by them.
    pub needs_sla: bool,
    /// One queue served in arrival order, each query on the first instance to be free (plain
    /// FIFO): over identical instances, an FCFS multi-server queue (see
    /// `PartitionerEntry::same_layout_every_gpu`).
    pub fcfs_earliest_free: bool,
}

/// How to build a named repartitioner (`--repartition NAME`, `repartition.name` in a policy file
/// or label); its parameters are given as `repartition.<key>`.
#[derive(Clone)]
pub struct RepartitionerEntry {
    pub name: &'static str,
    pub help: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params) -> Result<Box<dyn Repartitioner>>,
    /// It reads the trace ahead of the simulated clock (perfect foresight): reports label it.
    pub reads_ahead: bool,
}

/// A policy's repartitioner: which one and its parameters (the reconfiguration rules it is
/// applied under are the run's, [`crate::server::reconfig::ReconfigRules`]).
#[derive(Clone)]
pub struct RepartitionSetup {
    pub name: &'static str,
    /// Its own parameters (keys without the `repartition.` prefix).
    pub params: Params,
    pub reads_ahead: bool,
    build: fn(&Params) -> Result<Box<dyn Repartitioner>>,
}

impl RepartitionSetup {
    /// `static`: never reconfigures.
    pub fn fixed() -> RepartitionSetup {
        let e = super::builtin_repartitioners()
            .into_iter()
            .find(|e| e.name == super::STATIC_REPARTITIONER)
            .expect("built in");
        RepartitionSetup {
            name: e.name,
            params: Params::default(),
            reads_ahead: false,
            build: e.build,
        }
    }
    /// Whether it never reconfigures.
    pub fn is_static(&self) -> bool {
        self.name == super::STATIC_REPARTITIONER
    }
    /// A fresh repartitioner (one per replay).
    pub fn build(&self) -> Result<Box<dyn Repartitioner>> {
        (self.build)(&self.params)
    }
    /// Every key with its value, prefixed as given (`repartition.name`,
    /// `repartition.period_s`, ...).
    pub fn keys(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("repartition.name".to_string(), self.name.to_string());
        for (k, v) in self.params.values() {
            m.insert(format!("repartition.{k}"), v.clone());
        }
        m
    }
}

/// Whether `key` belongs to the repartitioner (`repartition.*`).
pub fn is_repartition_key(key: &str) -> bool {
    key.starts_with("repartition.")
}

/// A short name for a (partitioner, scheduler) pair.
#[derive(Debug, Clone)]
pub struct Alias {
    pub name: &'static str,
    pub partitioner: &'static str,
    pub scheduler: &'static str,
}

/// Builds the scheduler of a policy once the server exists.
pub type SchedulerFactory = Box<dyn FnMut(&SchedContext) -> Result<Box<dyn Scheduler>>>;

/// A built policy: a partitioner and the factory of its scheduler.
pub struct Policy {
    /// The name as given (`fcfs`, `paris+elsa`).
    pub name: String,
    pub partitioner_name: String,
    pub scheduler_name: String,
    /// Every parameter of both halves with its value (given or default).
    pub params: BTreeMap<String, String>,
    pub partitioner: Box<dyn Partitioner>,
    pub scheduler: SchedulerFactory,
    /// The scheduler needs an SLA for every model (its entry's `needs_sla`).
    pub needs_sla: bool,
    /// The repartitioner (`static` unless one was asked for).
    pub repartition: RepartitionSetup,
    /// Its partitioner gives every GPU the same layout and its scheduler is plain FIFO (both
    /// entries declare it): under exact service and no repartitioner, more GPUs never hurt.
    pub identical_fcfs: bool,
}

impl Policy {
    /// Pair a partitioner with a ready-made scheduler (for code that builds its own policy
    /// without a registry). Such a policy replays once.
    pub fn new(
        name: &str,
        partitioner: impl Partitioner + 'static,
        scheduler: impl Scheduler + 'static,
    ) -> Policy {
        let mut slot: Option<Box<dyn Scheduler>> = Some(Box::new(scheduler));
        let n = name.to_string();
        Policy {
            name: name.to_string(),
            partitioner_name: name.to_string(),
            scheduler_name: name.to_string(),
            params: BTreeMap::new(),
            partitioner: Box::new(partitioner),
            needs_sla: false,
            repartition: RepartitionSetup::fixed(),
            identical_fcfs: false,
            scheduler: Box::new(move |_| {
                slot.take().ok_or_else(|| {
                    Error::Usage(format!(
                        "policy '{n}' was built with a ready-made scheduler and has already replayed once; build it again"
                    ))
                })
            }),
        }
    }
}

/// `p` with a label's own parameters added (a key given both ways must agree).
fn with_label_params(label: &str, mut p: PolicyParams, own: PolicyParams) -> Result<PolicyParams> {
    for (k, v) in own.values {
        if let Some(old) = p.values.get(&k)
            && *old != v
        {
            return Err(Error::Usage(format!(
                "parameter '{k}' of policy '{label}' is given twice: '{v}' in its name and '{old}' by --param, --slice, --layout or the policy file"
            )));
        }
        p.set(&k, v);
    }
    Ok(p)
}

/// Partitioners, schedulers and aliases by name.
#[derive(Clone)]
pub struct Registry {
    partitioners: Vec<PartitionerEntry>,
    schedulers: Vec<SchedulerEntry>,
    repartitioners: Vec<RepartitionerEntry>,
    aliases: Vec<Alias>,
}

impl Registry {
    /// The built-in partitioners (`whole`, `homogeneous`, `fixed`, `paris`, `random`),
    /// schedulers (`fifo`, `elsa`, `least-loaded`) and aliases (`fcfs`, `homogeneous`,
    /// `fixed`).
    pub fn builtin() -> Registry {
        Registry {
            partitioners: super::builtin_partitioners(),
            schedulers: super::builtin_schedulers(),
            repartitioners: super::builtin_repartitioners(),
            aliases: vec![
                Alias {
                    name: "fcfs",
                    partitioner: "whole",
                    scheduler: "fifo",
                },
                Alias {
                    name: "homogeneous",
                    partitioner: "homogeneous",
                    scheduler: "fifo",
                },
                Alias {
                    name: "fixed",
                    partitioner: "fixed",
                    scheduler: "fifo",
                },
            ],
        }
    }

    /// Add (or replace) a partitioner.
    pub fn register_partitioner(&mut self, e: PartitionerEntry) {
        self.partitioners.retain(|x| x.name != e.name);
        self.partitioners.push(e);
    }

    /// Add (or replace) a scheduler.
    pub fn register_scheduler(&mut self, e: SchedulerEntry) {
        self.schedulers.retain(|x| x.name != e.name);
        self.schedulers.push(e);
    }

    /// Add (or replace) a repartitioner.
    pub fn register_repartitioner(&mut self, e: RepartitionerEntry) {
        self.repartitioners.retain(|x| x.name != e.name);
        self.repartitioners.push(e);
    }

    pub fn repartitioners(&self) -> &[RepartitionerEntry] {
        &self.repartitioners
    }

    /// The repartitioner the keys `repartition.*` of `given` ask for (`static` when
    /// `repartition.name` is absent), validated.
    pub fn repartition_setup(&self, given: &PolicyParams) -> Result<RepartitionSetup> {
        let name = given
            .values
            .get("repartition.name")
            .map(String::as_str)
            .unwrap_or(super::STATIC_REPARTITIONER);
        let e = self
            .repartitioners
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown repartitioner '{name}': expected one of {}",
                    Self::names(&self.repartitioners, |e| e.name)
                ))
            })?;
        let mut own = PolicyParams::default();
        for (k, v) in &given.values {
            let Some(r) = k.strip_prefix("repartition.") else {
                continue;
            };
            if r == "name" {
                continue;
            }
            if !e.params.iter().any(|s| s.matches(r)) {
                return Err(Error::Usage(format!(
                    "unknown parameter '{k}' for repartitioner '{name}': {}",
                    if e.params.is_empty() {
                        "it takes none".to_string()
                    } else {
                        format!(
                            "expected one of {}",
                            e.params
                                .iter()
                                .map(|s| format!("repartition.{}", s.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )));
            }
            own.set(r, v.clone());
        }
        let params = Params::resolve(&format!("repartitioner {name}"), e.params, &own)?;
        Ok(RepartitionSetup {
            name: e.name,
            params,
            reads_ahead: e.reads_ahead,
            build: e.build,
        })
    }

    /// Add (or replace) an alias.
    pub fn register_alias(&mut self, a: Alias) {
        self.aliases.retain(|x| x.name != a.name);
        self.aliases.push(a);
    }

    pub fn partitioners(&self) -> &[PartitionerEntry] {
        &self.partitioners
    }
    pub fn schedulers(&self) -> &[SchedulerEntry] {
        &self.schedulers
    }
    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    fn names<T>(v: &[T], f: impl Fn(&T) -> &str) -> String {
        v.iter().map(f).collect::<Vec<_>>().join(", ")
    }

    /// The (partitioner, scheduler) a policy name (or label, `name[k=v,...]`) stands for.
    pub fn lookup(&self, name: &str) -> Result<(&PartitionerEntry, &SchedulerEntry)> {
        let name = name.split('[').next().unwrap_or(name).trim();
        let (p, s) = match self.aliases.iter().find(|a| a.name == name) {
            Some(a) => (a.partitioner, a.scheduler),
            None => name.split_once('+').ok_or_else(|| self.unknown(name))?,
        };
        let pe = self.partitioners.iter().find(|e| e.name == p.trim());
        let se = self.schedulers.iter().find(|e| e.name == s.trim());
        match (pe, se) {
            (Some(pe), Some(se)) => Ok((pe, se)),
            (None, _) => Err(Error::Usage(format!(
                "unknown partitioner '{p}' in policy '{name}': expected one of {}{PLUGIN_HINT}",
                Self::names(&self.partitioners, |e| e.name)
            ))),
            (_, None) => Err(Error::Usage(format!(
                "unknown scheduler '{s}' in policy '{name}': expected one of {}{PLUGIN_HINT}",
                Self::names(&self.schedulers, |e| e.name)
            ))),
        }
    }

    /// The scheduler half of `label` when it names a policy (`PART+SCHED` or an alias, possibly
    /// as `name[k=v,...]`), checked like [`Self::lookup`]; `None` for a partitioner's own name.
    pub fn scheduler_half(&self, label: &str) -> Result<Option<&SchedulerEntry>> {
        let name = label.split('[').next().unwrap_or(label).trim();
        if self.partitioners.iter().any(|e| e.name == name) {
            return Ok(None);
        }
        Ok(Some(self.lookup(name)?.1))
    }

    /// The partitioner named `name`, or the partitioner half of the policy `name` (for
    /// commands that only partition).
    pub fn lookup_partitioner(&self, name: &str) -> Result<&PartitionerEntry> {
        if let Some(e) = self.partitioners.iter().find(|e| e.name == name.trim()) {
            return Ok(e);
        }
        match self.lookup(name) {
            Ok((pe, _)) => Ok(pe),
            Err(_) if !name.contains('+') => Err(Error::Usage(format!(
                "unknown partitioner '{name}': expected one of {}, or a policy (PART+SCHED or an alias: {})",
                Self::names(&self.partitioners, |e| e.name),
                Self::names(&self.aliases, |a| a.name),
            ))),
            Err(e) => Err(e),
        }
    }

    fn unknown(&self, name: &str) -> Error {
        Error::Usage(format!(
            "unknown policy '{name}': expected PART+SCHED with PART one of {} and SCHED one of {}, or an alias: {}",
            Self::names(&self.partitioners, |e| e.name),
            Self::names(&self.schedulers, |e| e.name),
            Self::names(&self.aliases, |a| a.name),
        ))
    }

    /// Whether a half of policy `name` declares the parameter `key`.
    pub fn declares(&self, name: &str, key: &str) -> Result<bool> {
        let (pe, se) = self.lookup(name)?;
        Ok(pe.params.iter().chain(se.params).any(|s| s.matches(key)))
    }

    /// Check `given` against the parameters the halves declare: every key must be declared by
    /// one of them (a key both declare goes to both). The service model's keys are not the
    /// policy's: split them off first ([`super::RunParams`]).
    fn check_keys(
        &self,
        name: &str,
        specs: &[&[ParamSpec]],
        halves: &str,
        given: &PolicyParams,
    ) -> Result<()> {
        for k in given.values.keys() {
            if specs.iter().flat_map(|s| s.iter()).any(|s| s.matches(k)) {
                continue;
            }
            let mut seen = std::collections::BTreeSet::new();
            let valid: Vec<&str> = specs
                .iter()
                .flat_map(|s| s.iter())
                .map(|s| s.name)
                .filter(|n| seen.insert(*n))
                .collect();
            let service = if ServiceModel::is_key(k) || SlaSpec::is_key(k) {
                " (a run key: give it to the run, not to the policy)"
            } else {
                ""
            };
            return Err(Error::Usage(
                format!(
                    "unknown parameter '{k}' for policy '{name}' ({halves}){service}: {}",
                    if valid.is_empty() {
                        "it takes no parameters besides the run's (sla.<model>, sla_multiple, sla_batch_percentile, service_noise, seed, batching.*)".to_string()
                    } else {
                        format!(
                            "expected one of {}, or the run's sla.<model>, sla_multiple, sla_batch_percentile, service_noise, seed, batching.*",
                            valid.join(", ")
                        )
                    }
                ) + "; with several --policy, --param, --slice and --layout apply to each: give one policy its own as NAME[key=value,...], e.g. homogeneous[slice=1g]",
            ));
        }
        Ok(())
    }

    /// The parameters of policy `label` (a name, or `name[k=v,...]` as reports label it) in a
    /// run given `run`: the run's policy keys, the label's (a key given both ways must agree),
    /// and the run's `seed` for a half that declares one.
    pub fn params_for(&self, label: &str, run: &RunParams) -> Result<PolicyParams> {
        let (name, own) = split_label(label)?;
        with_label_params(label, run.for_policy(self.declares(name, "seed")?), own)
    }

    /// Build policy `label` for a run given `run` ([`Self::params_for`], then
    /// [`Self::build`]); the policy keeps the label as its name.
    pub fn build_for(&self, label: &str, run: &RunParams) -> Result<Policy> {
        let (name, _) = split_label(label)?;
        let mut given = self.params_for(label, run)?;
        // The run's keys were split off by `RunParams::split`; in a label they would be the
        // policy's own, which the reconfiguration rules are not.
        if let Some(k) = given.values.keys().find(|k| is_reconfig_key(k)) {
            return Err(Error::Usage(format!(
                "parameter '{k}' of policy '{label}': the reconfiguration rules are the run's, not a policy's: give --param {k}=V (or the sweep policy's params)"
            )));
        }
        let mut rep = PolicyParams::default();
        given.values.retain(|k, v| {
            let r = is_repartition_key(k);
            if r {
                rep.set(k, v.clone());
            }
            !r
        });
        let mut p = self.build(name, &given)?;
        p.repartition = self.repartition_setup(&rep)?;
        if !p.repartition.is_static() {
            p.params.extend(p.repartition.keys());
        }
        p.name = label.trim().to_string();
        Ok(p)
    }

    /// Build a policy by name with its parameters (the service model's keys split off).
    pub fn build(&self, name: &str, given: &PolicyParams) -> Result<Policy> {
        let (pe, se) = self.lookup(name)?;
        self.check_keys(
            name,
            &[pe.params, se.params],
            &format!("{}+{}", pe.name, se.name),
            given,
        )?;
        let pp = Params::resolve(name, pe.params, given)?;
        let sp = Params::resolve(name, se.params, given)?;
        let partitioner = (pe.build)(&pp)?;
        let mut params = pp.values().clone();
        params.extend(sp.values().iter().map(|(k, v)| (k.clone(), v.clone())));
        let build = se.build;
        Ok(Policy {
            name: name.to_string(),
            partitioner_name: pe.name.to_string(),
            scheduler_name: se.name.to_string(),
            params,
            partitioner,
            scheduler: Box::new(move |ctx| build(&sp, ctx)),
            needs_sla: se.needs_sla,
            repartition: RepartitionSetup::fixed(),
            identical_fcfs: pe.same_layout_every_gpu && se.fcfs_earliest_free,
        })
    }

    /// Build the partitioner `label` (a partitioner, or a policy's partitioner half, either
    /// possibly as `name[k=v,...]`) alone, for commands that only partition, with the run's
    /// parameters: its entry name, its resolved parameters and itself. A policy's scheduler
    /// keys are accepted and ignored.
    pub fn build_partitioner(
        &self,
        label: &str,
        run: &RunParams,
    ) -> Result<(&'static str, Params, Box<dyn Partitioner>)> {
        let (name, own) = split_label(label)?;
        let pe = self.lookup_partitioner(name)?;
        let mut given = with_label_params(
            label,
            run.for_policy(pe.params.iter().any(|s| s.matches("seed"))),
            own,
        )?;
        given
            .values
            .retain(|k, _| !is_repartition_key(k) && !is_reconfig_key(k));
        // A policy name (PART+SCHED or an alias) may carry its scheduler's keys too.
        let is_policy = name.contains('+') || self.aliases.iter().any(|a| a.name == name);
        match self.lookup(name) {
            Ok((_, se)) if is_policy => self.check_keys(
                name,
                &[pe.params, se.params],
                &format!("{}+{}", pe.name, se.name),
                &given,
            )?,
            _ => self.check_keys(name, &[pe.params], pe.name, &given)?,
        }
        let pp = Params::resolve(name, pe.params, &given)?;
        let part = (pe.build)(&pp)?;
        Ok((pe.name, pp, part))
    }

    /// The text of `mig-replay policy list`.
    pub fn describe(&self) -> String {
        let mut s = String::from(
            "A policy is PART+SCHED (e.g. paris+elsa, homogeneous+elsa, fixed+least-loaded) or an alias.\n\nPartitioners:\n",
        );
        let params = |s: &mut String, ps: &[ParamSpec]| {
            for p in ps {
                let d = match p.default {
                    None => "required".to_string(),
                    Some("") => "optional".to_string(),
                    Some(d) => format!("default {d}"),
                };
                s.push_str(&format!(
                    "    {:<22} {} ({d}): {}\n",
                    p.name,
                    p.kind.describe(),
                    p.help
                ));
            }
        };
        for e in &self.partitioners {
            s.push_str(&format!("  {:<14} {}\n", e.name, e.help));
            params(&mut s, e.params);
        }
        s.push_str("\nSchedulers:\n");
        for e in &self.schedulers {
            s.push_str(&format!("  {:<14} {}\n", e.name, e.help));
            params(&mut s, e.params);
        }
        s.push_str("\nRepartitioners (--repartition NAME; parameters as repartition.<key>):\n");
        for e in &self.repartitioners {
            s.push_str(&format!("  {:<14} {}\n", e.name, e.help));
            params(&mut s, e.params);
        }
        s.push_str(
            "  reconfiguration rules (reconfig.<key>, with any repartitioner but static):\n",
        );
        params(&mut s, RECONFIG_PARAMS);
        s.push_str("\nAliases:\n");
        for a in &self.aliases {
            s.push_str(&format!(
                "  {:<14} = {}+{}\n",
                a.name, a.partitioner, a.scheduler
            ));
        }
        s.push_str("\nSLAs and the service model (every run takes these keys):\n");
        for (k, h) in sla::KEYS_HELP.iter().chain(service::KEYS_HELP) {
            s.push_str(&format!("    {k:<22} {h}\n"));
        }
        s.push_str(
            "\nParameters: --param key=value (repeatable) or --policy-config FILE.toml; --slice and --layout are shortcuts.\n",
        );
        s
    }
}
