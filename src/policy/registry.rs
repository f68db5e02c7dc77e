//! Names to constructors: partitioners, schedulers, and aliases for common pairs. A policy name
//! is `PART+SCHED` or an alias (`fcfs` = `whole+fifo`, ...). Every half declares its
//! parameters; [`Registry::build`] rejects an unknown name, an unknown key or a bad value with
//! one line naming it and what is valid.

use super::params::{ParamKind, ParamSpec, Params, PolicyParams};
use super::{
    Elsa, FifoScheduler, FixedLayout, Homogeneous, LeastLoaded, Paris, Partitioner, RandomLayout,
    SchedContext, Scheduler, WholeGpu,
};
use crate::error::{Error, Result};
use crate::service::{self, ServiceModel};
use std::collections::BTreeMap;

/// How to build a named partitioner.
#[derive(Clone)]
pub struct PartitionerEntry {
    pub name: &'static str,
    pub help: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params) -> Result<Box<dyn Partitioner>>,
}

/// How to build a named scheduler. Schedulers are built after partitioning, with the server
/// and the profile estimates in hand ([`SchedContext`]).
#[derive(Clone)]
pub struct SchedulerEntry {
    pub name: &'static str,
    pub help: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params, &SchedContext) -> Result<Box<dyn Scheduler>>,
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
    /// Service-time noise and dynamic batching (keys every policy takes; see
    /// [`crate::service`]).
    pub service: ServiceModel,
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
            service: ServiceModel::default(),
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

const THETA: ParamSpec = ParamSpec {
    name: "theta",
    kind: ParamKind::Float {
        min: 0.01,
        max: 1.0,
    },
    default: Some("0.8"),
    help: "knee of a slice: smallest profiled batch whose throughput reaches theta x the slice's peak",
};
const SLA_MODEL: ParamSpec = ParamSpec {
    name: "sla.<model>",
    kind: ParamKind::Positive,
    default: Some(""),
    help: "SLA of one model in ms (overrides --sla-ms for that model)",
};

/// Parameters of the built-in halves.
mod specs {
    use super::*;
    pub const HOMOGENEOUS: &[ParamSpec] = &[ParamSpec {
        name: "slice",
        kind: ParamKind::Slice,
        default: None,
        help: "the MIG slice every GPU is cut into (shortcut: --slice)",
    }];
    pub const FIXED: &[ParamSpec] = &[ParamSpec {
        name: "layout",
        kind: ParamKind::Layout,
        default: None,
        help: "layout on every GPU, or one per GPU separated by commas (shortcut: --layout)",
    }];
    pub const PARIS: &[ParamSpec] = &[THETA, SLA_MODEL];
    pub const RANDOM: &[ParamSpec] = &[ParamSpec {
        name: "seed",
        kind: ParamKind::UInt,
        default: Some("1"),
        help: "seed of the layout draw",
    }];
    pub const ELSA: &[ParamSpec] = &[
        SLA_MODEL,
        ParamSpec {
            name: "sla_multiple",
            kind: ParamKind::Positive,
            default: Some("2"),
            help: "default SLA rule (no --sla-ms, no sla.<model>): this multiple of the model's latency on the largest slice ...",
        },
        ParamSpec {
            name: "sla_batch_percentile",
            kind: ParamKind::Float {
                min: 1.0,
                max: 100.0,
            },
            default: Some("99"),
            help: "... at this percentile of the model's batch sizes in the trace",
        },
    ];
}

/// Partitioners, schedulers and aliases by name.
#[derive(Clone)]
pub struct Registry {
    partitioners: Vec<PartitionerEntry>,
    schedulers: Vec<SchedulerEntry>,
    aliases: Vec<Alias>,
}

impl Registry {
    /// The built-in partitioners (`whole`, `homogeneous`, `fixed`, `paris`, `random`),
    /// schedulers (`fifo`, `elsa`, `least-loaded`) and aliases (`fcfs`, `homogeneous`,
    /// `fixed`).
    pub fn builtin() -> Registry {
        Registry {
            partitioners: vec![
                PartitionerEntry {
                    name: "whole",
                    help: "every GPU unpartitioned: one instance of its largest profile",
                    params: &[],
                    build: |_| Ok(Box::new(WholeGpu)),
                },
                PartitionerEntry {
                    name: "homogeneous",
                    help: "every GPU cut into the most instances of one slice (A100: 7x1g, 3x2g, 2x3g, 1x4g, 1x7g)",
                    params: specs::HOMOGENEOUS,
                    build: |p| {
                        Ok(Box::new(Homogeneous {
                            slice: p.get("slice").unwrap_or_default().to_string(),
                        }))
                    },
                },
                PartitionerEntry {
                    name: "fixed",
                    help: "a given layout on every GPU (or one per GPU)",
                    params: specs::FIXED,
                    build: |p| {
                        Ok(Box::new(FixedLayout {
                            layout: p.get("layout").unwrap_or_default().to_string(),
                        }))
                    },
                },
                PartitionerEntry {
                    name: "paris",
                    help: "PARIS: heterogeneous slices sized from the profile knees and the trace's batch mix",
                    params: specs::PARIS,
                    build: |p| {
                        Ok(Box::new(Paris {
                            theta: p.f64("theta").unwrap_or(0.8),
                            sla_per_model: p.family_f64("sla."),
                        }))
                    },
                },
                PartitionerEntry {
                    name: "random",
                    help: "a seeded random maximal legal layout per GPU",
                    params: specs::RANDOM,
                    build: |p| {
                        Ok(Box::new(RandomLayout {
                            seed: p.u64("seed").unwrap_or(1),
                        }))
                    },
                },
            ],
            schedulers: vec![
                SchedulerEntry {
                    name: "fifo",
                    help: "one global FIFO queue; the lowest-index idle instance first",
                    params: &[],
                    build: |_, _| Ok(Box::new(FifoScheduler::default())),
                },
                SchedulerEntry {
                    name: "elsa",
                    help: "ELSA: the smallest instance whose estimated completion meets the SLA, else the earliest",
                    params: specs::ELSA,
                    build: |p, ctx| Ok(Box::new(Elsa::new(p, ctx)?)),
                },
                SchedulerEntry {
                    name: "least-loaded",
                    help: "the instance with the earliest estimated completion (ties: lowest index)",
                    params: &[],
                    build: |_, _| Ok(Box::new(LeastLoaded)),
                },
            ],
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

    /// The (partitioner, scheduler) a policy name stands for.
    pub fn lookup(&self, name: &str) -> Result<(&PartitionerEntry, &SchedulerEntry)> {
        let (p, s) = match self.aliases.iter().find(|a| a.name == name) {
            Some(a) => (a.partitioner, a.scheduler),
            None => name.split_once('+').ok_or_else(|| self.unknown(name))?,
        };
        let pe = self.partitioners.iter().find(|e| e.name == p.trim());
        let se = self.schedulers.iter().find(|e| e.name == s.trim());
        match (pe, se) {
            (Some(pe), Some(se)) => Ok((pe, se)),
            (None, _) => Err(Error::Usage(format!(
                "unknown partitioner '{p}' in policy '{name}': expected one of {}",
                Self::names(&self.partitioners, |e| e.name)
            ))),
            (_, None) => Err(Error::Usage(format!(
                "unknown scheduler '{s}' in policy '{name}': expected one of {}",
                Self::names(&self.schedulers, |e| e.name)
            ))),
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

    /// Build a policy by name with the given parameters. Every key must be declared by the
    /// partitioner or the scheduler (a key both declare goes to both).
    pub fn build(&self, name: &str, given: &PolicyParams) -> Result<Policy> {
        let (pe, se) = self.lookup(name)?;
        let service = ServiceModel::from_params(given)?;
        for k in given.values.keys() {
            let declared = pe.params.iter().chain(se.params).any(|s| s.matches(k));
            if !declared && !service::is_service_key(k) {
                let valid: Vec<&str> = pe.params.iter().chain(se.params).map(|s| s.name).collect();
                return Err(Error::Usage(format!(
                    "unknown parameter '{k}' for policy '{name}' ({}+{}): {}",
                    pe.name,
                    se.name,
                    if valid.is_empty() {
                        "it takes no parameters besides the service model's (service_noise, seed, batching.*)".to_string()
                    } else {
                        format!(
                            "expected one of {}, or the service model's service_noise, seed, batching.*",
                            valid.join(", ")
                        )
                    }
                )));
            }
        }
        let pp = Params::resolve(name, pe.params, given)?;
        let sp = Params::resolve(name, se.params, given)?;
        let partitioner = (pe.build)(&pp)?;
        let mut params = pp.values().clone();
        params.extend(sp.values().iter().map(|(k, v)| (k.clone(), v.clone())));
        // The service model's keys, as given (none given: exact service, no batching).
        params.extend(
            given
                .values
                .iter()
                .filter(|(k, _)| service::is_service_key(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let build = se.build;
        Ok(Policy {
            name: name.to_string(),
            partitioner_name: pe.name.to_string(),
            scheduler_name: se.name.to_string(),
            params,
            partitioner,
            scheduler: Box::new(move |ctx| build(&sp, ctx)),
            service,
        })
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
        s.push_str("\nAliases:\n");
        for a in &self.aliases {
            s.push_str(&format!(
                "  {:<14} = {}+{}\n",
                a.name, a.partitioner, a.scheduler
            ));
        }
        s.push_str("\nService model (every policy takes these keys):\n");
        for (k, h) in service::KEYS_HELP {
            s.push_str(&format!("    {k:<22} {h}\n"));
        }
        s.push_str(
            "\nParameters: --param key=value (repeatable) or --policy-config FILE.toml; --slice and --layout are shortcuts.\n",
        );
        s
    }
}
