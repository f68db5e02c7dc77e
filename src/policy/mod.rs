//! The policy boundary: a [`Partitioner`] decides the MIG layout of every GPU before the replay,
//! and a [`Scheduler`] decides, during the replay, which instance serves each query. A policy is
//! any pair of them, named `PART+SCHED` (`paris+elsa`, `homogeneous+fifo`, ...); the
//! [`Registry`] maps names to entries that say how to build each half, which parameters it
//! takes, and what the drivers need to know about it (its relative cost for shard balancing,
//! whether sweeps draw its heat maps).
//!
//! Schedulers see the server only through a [`ServerView`] ([`crate::server::view`]): which
//! instances are idle, their local queues and forming batches, and *estimated* backlogs from
//! the profile, never the true service times of queries in flight (the oracle boundary). With
//! service-time noise or dynamic batching ([`crate::service`]) the estimates are estimates, and
//! [`SchedContext::exact_estimates`] says which case a scheduler is in.
//!
//! Adding a built-in half: one new file in `src/policy/` that defines its `ENTRY` (a
//! [`PartitionerEntry`] or [`SchedulerEntry`]), and its name on the `builtin_halves!` list
//! below. Code outside the crate registers its own entries on a [`Registry`] (see
//! `examples/custom_scheduler.rs`, `examples/custom_partitioner.rs` and `docs/PLUGINS.md`).

pub mod params;
mod registry;
pub mod router;

pub use params::{ParamKind, ParamSpec, Params, PolicyParams, RunParams};
pub use registry::{
    Alias, Cost, DEFAULT_BASELINE, PartitionerEntry, Policy, Registry, RepartitionSetup,
    RepartitionerEntry, SchedulerEntry,
};

use crate::error::Result;
use crate::gpu::{GpuSpec, Layout};
use crate::profile::Profiles;
use crate::server::{Server, ServerView};
use crate::service::ServiceTable;
use crate::sla::ModelSla;
use crate::trace::Trace;
use std::sync::Arc;

/// The built-in halves, one file each: the list is the only place that names them. Each file
/// defines `pub const ENTRY`, which [`Registry::builtin`] collects in this order.
macro_rules! builtin_halves {
    (partitioners: $($p:ident),* ; schedulers: $($s:ident),* ; repartitioners: $($r:ident),* $(;)?) => {
        $(pub mod $p;)*
        $(pub mod $s;)*
        $(pub mod $r;)*
        /// The built-in repartitioners, in listing order.
        fn builtin_repartitioners() -> Vec<RepartitionerEntry> {
            vec![$($r::ENTRY),*]
        }
        /// The built-in partitioners, in listing order.
        fn builtin_partitioners() -> Vec<PartitionerEntry> {
            vec![$($p::ENTRY),*]
        }
        /// The built-in schedulers, in listing order.
        fn builtin_schedulers() -> Vec<SchedulerEntry> {
            vec![$($s::ENTRY),*]
        }
    };
}

builtin_halves! {
    partitioners: whole, homogeneous, fixed, paris, random;
    schedulers: fifo, elsa, least_loaded;
    repartitioners: static_layout, periodic, threshold, oracle;
}

/// What a partitioner or a scheduler decided before the replay, and why (PARIS's knees, map,
/// shares and deviation; `random`'s draw; ELSA's SLA per model): a typed value that the command
/// line prints ([`Explanation::text`]) and `summary.json` records (it is `Serialize`), both
/// from the type.
pub trait Explanation: erased_serde::Serialize + std::fmt::Debug + Send + Sync {
    /// The decision as terminal lines, each ending in a newline.
    fn text(&self) -> String;
}

erased_serde::serialize_trait_object!(Explanation);

/// What a partitioner may look at.
pub struct PartitionContext<'a> {
    pub gpu: &'a GpuSpec,
    pub gpus: usize,
    pub profiles: &'a Profiles,
    /// The trace as it will be replayed (at the rate scale being run). In a streamed `run`
    /// ([`crate::drive::stream`]) it is the whole trace's head, without rows: read what a plan needs
    /// of it through [`Trace::models`], [`Trace::queries`] and the batch mix [`Trace::mix`],
    /// which hold in both cases.
    pub trace: &'a Trace,
    /// The SLA of every trace model (in trace-model order; `None` for a model without one),
    /// as the run resolved it ([`crate::sla`]): the one the metrics judge queries by.
    pub slas: &'a [Option<ModelSla>],
}

/// A partitioner's answer: one layout per GPU, and optionally how it was reached.
#[derive(Debug, Clone)]
pub struct Partition {
    pub layouts: Vec<Layout>,
    pub explanation: Option<Arc<dyn Explanation>>,
}

impl From<Vec<Layout>> for Partition {
    fn from(layouts: Vec<Layout>) -> Self {
        Partition {
            layouts,
            explanation: None,
        }
    }
}

/// Chooses the MIG layout of each GPU, once, before the replay.
pub trait Partitioner {
    /// One layout per GPU (`ctx.gpus` of them).
    fn partition(&self, ctx: &PartitionContext) -> Result<Partition>;
}

/// What a scheduler may look at when it is built, after partitioning: the server, the
/// profile-based service-time estimates, the trace's models and batch sizes, and the SLA.
pub struct SchedContext<'a> {
    pub gpu: &'a GpuSpec,
    pub server: &'a Server,
    pub service: &'a ServiceTable,
    pub profiles: &'a Profiles,
    pub trace: &'a Trace,
    /// The SLA of every trace model, as for [`PartitionContext::slas`]; a scheduler whose entry
    /// declares `needs_sla` gets one for every model.
    pub slas: &'a [Option<ModelSla>],
    /// True when every query runs alone for exactly its profiled latency (no service-time
    /// noise, no dynamic batching): the view's estimates are then the true times.
    pub exact_estimates: bool,
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

    /// Dynamic batching only: instance `instance` has opened a batch of `model` with `room`
    /// batch size left. Push held queries of that model to join it onto `out`, oldest first,
    /// their summed batch at most `room` (they leave the scheduler's queue). Schedulers that
    /// never hold queries keep the default (none).
    fn join_batch(
        &mut self,
        instance: usize,
        model: u32,
        room: u32,
        view: &ServerView,
        out: &mut Vec<u32>,
    ) {
        let _ = (instance, model, room, view, out);
    }

    /// What the scheduler decided before the replay (for example the SLA it uses per model),
    /// printed by `run` and recorded in `summary.json` under `scheduler_details`.
    fn details(&self) -> Option<Arc<dyn Explanation>> {
        None
    }

    /// The server is about to change (a repartitioner reconfigures it): give up every query
    /// the scheduler holds, oldest first. The engine offers them, with the queries handed back
    /// by destroyed instances, to a scheduler built for the new server. A scheduler that holds
    /// queries must return them here; one that never holds keeps the default.
    fn take_held(&mut self) -> Vec<u32> {
        Vec::new()
    }

    /// This scheduler was just built for a server that already has work: a reconfiguration
    /// rebuilds the scheduler at each begin and each join ([`crate::engine::repartition`]). `view`
    /// shows the new server as it stands: the instances that stay keep their running batches
    /// and local queues, the new ones are idle. A scheduler that keeps private state about the
    /// instances (ELSA's index of estimated backlogs, a count of what it sent where) must set
    /// it from `view` here and never assume that every instance starts idle; one that reads
    /// the view afresh at every decision keeps the default. The engine calls it once, before
    /// any other call on the rebuilt scheduler (the queries the old one held are offered to it
    /// afterwards); never on a fixed server, whose instances all start idle.
    fn resume(&mut self, view: &ServerView) {
        let _ = view;
    }
}

/// What a repartitioner sees when it is consulted.
pub struct RepartitionContext<'a> {
    /// The simulated time of the consultation (ns).
    pub now_ns: u64,
    /// The whole trace as replayed. An online repartitioner reads only the arrivals before
    /// `now_ns`; one that reads ahead (`oracle`) declares it in its entry.
    pub trace: &'a Trace,
    pub gpu: &'a GpuSpec,
    /// The layout of every GPU as the server stands (or will stand, once a reconfiguration
    /// under way completes).
    pub layouts: &'a [Layout],
    /// A reconfiguration is under way: a plan returned now is not taken (the engine counts it
    /// as skipped), so a repartitioner may as well not compute one.
    pub busy: bool,
    /// The policy's own partitioner, run on a stretch of traffic: one layout per GPU.
    pub plan: &'a mut dyn FnMut(&Trace) -> Result<Vec<Layout>>,
}

/// A repartitioner's answer at a check.
#[derive(Debug, Clone, Default)]
pub struct Replan {
    /// The layouts to move the server to (one per GPU; `None`: stay as it is).
    pub layouts: Option<Vec<Layout>>,
    /// When to be consulted next (ns; `None`: never again).
    pub next_check_ns: Option<u64>,
    /// Why, in a few words (recorded with each reconfiguration).
    pub reason: String,
}

/// The third half of a policy: decides, during the replay, when to re-partition the server
/// and into what (`--repartition NAME`). The engine applies its decisions as MIG does
/// ([`crate::server::reconfig`]).
pub trait Repartitioner {
    /// The layouts to start from, planned from what this repartitioner may know at time 0;
    /// `None`: the partitioner's plan over the whole trace (what `static` does).
    fn initial(&mut self, ctx: &mut RepartitionContext) -> Result<Option<Vec<Layout>>>;
    /// The first time it is consulted (ns); `None`: never.
    fn first_check_ns(&self) -> Option<u64>;
    /// A consultation at `ctx.now_ns`.
    fn check(&mut self, ctx: &mut RepartitionContext) -> Result<Replan>;
}

/// The repartitioner that never reconfigures (every run's, unless one is asked for).
pub const STATIC_REPARTITIONER: &str = "static";

/// Seconds of simulated time as integer ns (saturating: a period longer than any trace).
pub(crate) fn secs_to_ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}
