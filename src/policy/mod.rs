//! The policy boundary: a [`Partitioner`] decides the MIG layout of every GPU before the replay,
//! and a [`Scheduler`] decides, during the replay, which instance serves each query.
//!
//! Schedulers see the server through a [`ServerView`]: which instances are idle, their local
//! queues, and *estimated* backlogs computed from the profile. They never see the true service
//! times of queries in flight (the oracle boundary). In this simulator the service time of a
//! query is its profiled latency, so the estimates are exact; a future service-time noise model
//! would make them differ.
//!
//! Adding a policy: one new file in `src/policy/` with a partitioner and/or scheduler, and one
//! line in [`Registry::builtin`]. Code outside the crate can build its own [`Registry`] (see
//! `examples/custom_scheduler.rs`).

mod fcfs;
mod fifo;
mod fixed;
mod homogeneous;

pub use fcfs::WholeGpu;
pub use fifo::FifoScheduler;
pub use fixed::FixedLayout;
pub use homogeneous::Homogeneous;

use crate::error::{Error, Result};
use crate::gpu::{GpuSpec, Layout, SliceId};
use crate::profile::{Profiles, ServiceTable};
use crate::server::Instance;
use crate::trace::Trace;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Options a policy may use. Each policy reads the ones it needs and rejects missing required ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyParams {
    /// MIG slice for `homogeneous`, e.g. `1g.5gb`.
    pub slice: Option<String>,
    /// Layout(s) for `fixed`: one layout string for every GPU, or one per GPU separated by commas.
    pub layout: Option<String>,
    /// Latency SLA in ms, for SLA-aware schedulers.
    pub sla_ms: Option<f64>,
}

/// What a partitioner may look at.
pub struct PartitionContext<'a> {
    pub gpu: &'a GpuSpec,
    pub gpus: usize,
    pub profiles: &'a Profiles,
    pub trace: &'a Trace,
}

/// Chooses the MIG layout of each GPU, once, before the replay.
pub trait Partitioner {
    /// One layout per GPU (`ctx.gpus` of them).
    fn partition(&self, ctx: &PartitionContext) -> Result<Vec<Layout>>;
}

/// The facts a scheduler gets about an arriving query.
#[derive(Debug, Clone, Copy)]
pub struct QueryInfo {
    /// Position in the (arrival-sorted) trace; what [`Scheduler::next_for`] returns.
    pub idx: u32,
    /// Model index into the trace's model names.
    pub model: u32,
    pub batch: u32,
    pub arrival_ns: u64,
}

/// A scheduler's answer for an arriving query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Send to this instance: it starts now if the instance is idle, else it waits in that
    /// instance's local FIFO queue.
    To(usize),
    /// The scheduler keeps the query in its own queue and hands it out later from
    /// [`Scheduler::next_for`].
    Hold,
}

/// Decides where each query runs.
pub trait Scheduler {
    /// A query arrives at `view.now_ns`.
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch;

    /// Instance `instance` has become idle (its local queue is empty): return a held query to
    /// start on it now, if any.
    fn next_for(&mut self, instance: usize, view: &ServerView) -> Option<u32> {
        let _ = (instance, view);
        None
    }
}

/// A set of idle instances with a fast "lowest index" query.
#[derive(Debug, Clone)]
pub struct IdleSet {
    words: Vec<u64>,
}

impl IdleSet {
    /// All `n` instances idle.
    pub fn all(n: usize) -> Self {
        let mut words = vec![0u64; n.div_ceil(64)];
        for i in 0..n {
            words[i / 64] |= 1 << (i % 64);
        }
        IdleSet { words }
    }
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }
    #[inline]
    pub fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }
    #[inline]
    pub fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }
    /// The lowest idle index.
    #[inline]
    pub fn lowest(&self) -> Option<usize> {
        self.words
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(k, w)| k * 64 + w.trailing_zeros() as usize)
    }
    /// Idle indices in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(k * 64 + b)
            })
        })
    }
}

/// What a scheduler may see of the server.
pub struct ServerView<'a> {
    /// Current simulated time (ns).
    pub now_ns: u64,
    pub gpu: &'a GpuSpec,
    pub instances: &'a [Instance],
    pub(crate) idle: &'a IdleSet,
    pub(crate) queues: &'a [VecDeque<u32>],
    pub(crate) backlog_end: &'a [u64],
    pub(crate) service: &'a ServiceTable,
}

impl ServerView<'_> {
    /// Whether instance `i` is idle (nothing running, nothing queued).
    #[inline]
    pub fn is_idle(&self, i: usize) -> bool {
        self.idle.contains(i)
    }
    /// The idle instance with the lowest index.
    #[inline]
    pub fn lowest_idle(&self) -> Option<usize> {
        self.idle.lowest()
    }
    /// Idle instances in increasing index order.
    pub fn idle(&self) -> impl Iterator<Item = usize> + '_ {
        self.idle.iter()
    }
    /// Queries waiting in instance `i`'s local queue (not counting the running one).
    pub fn queue_len(&self, i: usize) -> usize {
        self.queues[i].len()
    }
    /// Estimated time (ns) at which instance `i` finishes everything sent to it so far: the
    /// remaining time of the running query plus the profiled latencies of its queued queries.
    pub fn estimated_free_at(&self, i: usize) -> u64 {
        self.backlog_end[i].max(self.now_ns)
    }
    /// Profiled service time (ns) of `batch` of `model` on `slice`; `None` if not profiled.
    pub fn estimated_service_ns(&self, model: u32, slice: SliceId, batch: u32) -> Option<u64> {
        self.service
            .has(model, slice)
            .then(|| self.service.get(model, slice, batch).0)
    }
}

/// A built policy: a partitioner and a scheduler.
pub struct Policy {
    pub name: String,
    pub partitioner: Box<dyn Partitioner>,
    pub scheduler: Box<dyn Scheduler>,
}

/// How to build a named policy.
#[derive(Clone)]
pub struct PolicyEntry {
    pub name: &'static str,
    pub help: &'static str,
    pub build: fn(&PolicyParams) -> Result<Policy>,
}

/// Policy names mapped to constructors.
#[derive(Clone)]
pub struct Registry {
    entries: Vec<PolicyEntry>,
}

impl Registry {
    /// The built-in policies.
    pub fn builtin() -> Registry {
        Registry {
            entries: vec![
                PolicyEntry {
                    name: "fcfs",
                    help: "every GPU unpartitioned (one 7g instance), one global FIFO queue",
                    build: |_| Ok(Policy::new("fcfs", WholeGpu, FifoScheduler::default())),
                },
                PolicyEntry {
                    name: "homogeneous",
                    help: "every GPU cut into the most instances of --slice S, one global FIFO queue",
                    build: |p| {
                        let s = p.slice.clone().ok_or_else(|| {
                            Error::Usage(
                                "policy 'homogeneous' needs --slice (e.g. --slice 1g.5gb)".into(),
                            )
                        })?;
                        Ok(Policy::new(
                            "homogeneous",
                            Homogeneous { slice: s },
                            FifoScheduler::default(),
                        ))
                    },
                },
                PolicyEntry {
                    name: "fixed",
                    help: "the layout given by --layout on every GPU (or one per GPU, comma-separated), one global FIFO queue",
                    build: |p| {
                        let l = p.layout.clone().ok_or_else(|| {
                            Error::Usage("policy 'fixed' needs --layout (e.g. --layout 4g.20gb+2g.10gb+1g.5gb)".into())
                        })?;
                        Ok(Policy::new(
                            "fixed",
                            FixedLayout { layout: l },
                            FifoScheduler::default(),
                        ))
                    },
                },
            ],
        }
    }

    /// Add (or replace) a policy.
    pub fn register(&mut self, entry: PolicyEntry) {
        self.entries.retain(|e| e.name != entry.name);
        self.entries.push(entry);
    }

    /// All entries, in registration order.
    pub fn entries(&self) -> &[PolicyEntry] {
        &self.entries
    }

    /// Build a policy by name; unknown names are rejected with the list of valid ones.
    pub fn build(&self, name: &str, params: &PolicyParams) -> Result<Policy> {
        match self.entries.iter().find(|e| e.name == name) {
            Some(e) => (e.build)(params),
            None => Err(Error::Usage(format!(
                "unknown policy '{name}': expected one of {}",
                self.entries
                    .iter()
                    .map(|e| e.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

impl Policy {
    /// Pair a partitioner with a scheduler.
    pub fn new(
        name: &str,
        partitioner: impl Partitioner + 'static,
        scheduler: impl Scheduler + 'static,
    ) -> Policy {
        Policy {
            name: name.to_string(),
            partitioner: Box::new(partitioner),
            scheduler: Box::new(scheduler),
        }
    }
}
