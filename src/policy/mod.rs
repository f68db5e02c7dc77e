//! The policy boundary: a [`Partitioner`] decides the MIG layout of every GPU before the replay,
//! and a [`Scheduler`] decides, during the replay, which instance serves each query. A policy is
//! any pair of them, named `PART+SCHED` (`paris+elsa`, `homogeneous+fifo`, ...); the
//! [`Registry`] maps names to constructors and declared parameters.
//!
//! Schedulers see the server through a [`ServerView`]: which instances are idle, their local
//! queues, and *estimated* backlogs computed from the profile. They never see the true service
//! times of queries in flight (the oracle boundary). By default the service time of a query is
//! its profiled latency, so the estimates are exact; with service-time noise or dynamic
//! batching ([`crate::service`]) they are estimates, and [`SchedContext::exact_estimates`]
//! says which case a scheduler is in.
//!
//! Adding a policy half: one new file in `src/policy/` and one entry in
//! [`Registry::builtin`]. Code outside the crate registers its own halves on a [`Registry`]
//! (see `examples/custom_scheduler.rs`, `examples/custom_partitioner.rs` and `docs/PLUGINS.md`).

mod elsa;
mod fifo;
mod fixed;
mod homogeneous;
mod least_loaded;
pub mod params;
pub mod paris;
mod random;
mod registry;
pub mod sla;
mod whole;

pub use elsa::Elsa;
pub use fifo::FifoScheduler;
pub use fixed::FixedLayout;
pub use homogeneous::Homogeneous;
pub use least_loaded::LeastLoaded;
pub use params::{ParamKind, ParamSpec, Params, PolicyParams};
pub use paris::Paris;
pub use random::RandomLayout;
pub use registry::{Alias, PartitionerEntry, Policy, Registry, SchedulerEntry};
pub use whole::WholeGpu;

use crate::engine::{EngineState, NO_MODEL};
use crate::error::Result;
use crate::gpu::{GpuSpec, Layout, SliceId};
use crate::profile::{Profiles, ServiceTable};
use crate::server::{Instance, Server};
use crate::service::BatchRule;
use crate::trace::Trace;

/// What a partitioner may look at.
pub struct PartitionContext<'a> {
    pub gpu: &'a GpuSpec,
    pub gpus: usize,
    pub profiles: &'a Profiles,
    /// The trace as it will be replayed (at the rate scale being run).
    pub trace: &'a Trace,
    /// `--sla-ms`, when given.
    pub sla_ms: Option<f64>,
}

/// A partitioner's answer: one layout per GPU, and optionally how it was reached (recorded in
/// `summary.json` under `partition`).
#[derive(Debug, Clone)]
pub struct Partition {
    pub layouts: Vec<Layout>,
    pub details: Option<serde_json::Value>,
}

impl From<Vec<Layout>> for Partition {
    fn from(layouts: Vec<Layout>) -> Self {
        Partition {
            layouts,
            details: None,
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
    /// `--sla-ms`, when given.
    pub sla_ms: Option<f64>,
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

    /// What the scheduler decided before the replay (for example the SLA it uses per
    /// model), recorded in `summary.json` under `scheduler_details`.
    fn details(&self) -> Option<serde_json::Value> {
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
    pub(crate) st: &'a EngineState,
    pub(crate) service: &'a ServiceTable,
    /// The trace's model, batch and arrival columns (to predict how queued queries batch).
    pub(crate) q_model: &'a [u32],
    pub(crate) q_batch: &'a [u32],
    pub(crate) q_arrival: &'a [u64],
}

/// Queues longer than this are estimated without predicting their batches (each queued query
/// counted alone), to keep a decision cheap under overload.
pub const PREDICT_QUEUE_MAX: usize = 64;

impl ServerView<'_> {
    /// Whether instance `i` is idle (nothing running, nothing queued).
    #[inline]
    pub fn is_idle(&self, i: usize) -> bool {
        self.st.idle.contains(i)
    }
    /// The idle instance with the lowest index.
    #[inline]
    pub fn lowest_idle(&self) -> Option<usize> {
        self.st.idle.lowest()
    }
    /// Idle instances in increasing index order.
    pub fn idle(&self) -> impl Iterator<Item = usize> + '_ {
        self.st.idle.iter()
    }
    /// Queries waiting in instance `i`'s local queue (not counting the running one).
    pub fn queue_len(&self, i: usize) -> usize {
        self.st.queues[i].len()
    }
    /// Estimated time (ns) at which instance `i` finishes everything sent to it so far: now
    /// if idle; else the estimated end of its running batch (its start + profiled latency; now
    /// if it has overrun that) or of its forming batch (its deadline + profiled latency), plus
    /// the profiled latencies of its queued queries, each counted alone.
    #[inline]
    pub fn estimated_free_at(&self, i: usize) -> u64 {
        let st = self.st;
        if st.idle.contains(i) {
            return self.now_ns;
        }
        let f = &st.forming[i];
        let end = if f.model != NO_MODEL {
            f.deadline.max(self.now_ns)
                + self.service.get(f.model, self.instances[i].slice, f.sum).0
        } else {
            st.run_end[i].max(self.now_ns)
        };
        end + st.queued_est[i]
    }
    /// Estimated completion (ns) of a query of `model` and `batch` sent to instance `i` now;
    /// `None` if the model is not profiled on its slice. See [`Self::predict`].
    #[inline]
    pub fn estimate_done(&self, i: usize, model: u32, batch: u32) -> Option<u64> {
        self.predict(i, model, batch).map(|p| p.0)
    }

    /// What sending a query of `model` and `batch` to instance `i` now would give: (its
    /// estimated completion, the arrival of the oldest query of the batch it would run in),
    /// from profiled latencies; `None` if the model is not profiled on the slice.
    ///
    /// Without batching: ([`Self::estimated_free_at`] + its latency, now). With batching, the
    /// batcher's rules are replayed on what is known: if `i` has a forming batch of the model
    /// with room, the query joins it (the batch starts now if the query fills it, else at its
    /// deadline, and runs for the latency of the new sum); if `i` is idle, the query opens a
    /// batch that starts after the model's max delay (at once if it fills max_batch); otherwise
    /// the local queue, with the query at its tail, is cut into batches the way the engine will
    /// cut it (each from the running or forming batch's estimated end, or from its head's
    /// deadline if later) until the query's batch. Queues longer than [`PREDICT_QUEUE_MAX`]
    /// count each queued query alone.
    pub fn predict(&self, i: usize, model: u32, batch: u32) -> Option<(u64, u64)> {
        let slice = self.instances[i].slice;
        let l = self.estimated_service_ns(model, slice, batch)?;
        let now = self.now_ns;
        let Some(rule) = self.batch_rule(model) else {
            return Some((self.estimated_free_at(i) + l, now));
        };
        let f = &self.st.forming[i];
        if f.model == model && f.sum + batch <= rule.max_batch {
            let start = if f.sum + batch >= rule.max_batch {
                now
            } else {
                f.deadline.max(now)
            };
            let done = start + self.service.get(model, slice, f.sum + batch).0;
            return Some((done, f.deadline.saturating_sub(rule.max_delay_ns).min(now)));
        }
        if self.is_idle(i) {
            let wait = if batch >= rule.max_batch {
                0
            } else {
                rule.max_delay_ns
            };
            return Some((now + wait + l, now));
        }
        let queue = &self.st.queues[i];
        if queue.len() > PREDICT_QUEUE_MAX {
            return Some((self.estimated_free_at(i) + l, now));
        }
        // The end of what runs or forms now.
        let mut t = if f.model != NO_MODEL {
            f.deadline.max(now) + self.service.get(f.model, slice, f.sum).0
        } else {
            self.st.run_end[i].max(now)
        };
        // (model, batch, arrival, is the new query), in queue order.
        let mut rest: Vec<(u32, u32, u64, bool)> = queue
            .iter()
            .map(|&q| {
                let q = q as usize;
                (self.q_model[q], self.q_batch[q], self.q_arrival[q], false)
            })
            .collect();
        rest.push((model, batch, now, true));
        while !rest.is_empty() {
            let (m, _, a0, _) = rest[0];
            let r = self.batch_rule(m).unwrap_or(BatchRule::OFF);
            let (mut sum, mut mine, mut stopped) = (0u32, false, false);
            let mut k = 0;
            rest.retain(|&(qm, qb, _, new)| {
                k += 1;
                let take = if k == 1 {
                    true
                } else if qm == m && !stopped {
                    if sum + qb <= r.max_batch {
                        true
                    } else {
                        stopped = true;
                        false
                    }
                } else {
                    false
                };
                if take {
                    sum += qb;
                    mine |= new;
                }
                !take
            });
            let start = if sum >= r.max_batch {
                t
            } else {
                t.max(a0 + r.max_delay_ns)
            };
            t = start + self.service.get(m, slice, sum).0;
            if mine {
                return Some((t, a0.min(now)));
            }
        }
        unreachable!("the new query is in some batch")
    }
    /// Whether dynamic batching is on.
    #[inline]
    pub fn batching(&self) -> bool {
        !self.st.rules.is_empty()
    }
    /// The batching rule of `model`, when batching is on.
    #[inline]
    pub fn batch_rule(&self, model: u32) -> Option<BatchRule> {
        self.st.rules.get(model as usize).copied()
    }
    /// The forming batch of instance `i`: (model, summed batch, deadline ns).
    pub fn forming(&self, i: usize) -> Option<(u32, u32, u64)> {
        let f = &self.st.forming[i];
        (f.model != NO_MODEL).then_some((f.model, f.sum, f.deadline))
    }
    /// The instance whose forming batch of `model` opened first among those with room for
    /// `batch` more.
    pub fn joinable(&self, model: u32, batch: u32) -> Option<usize> {
        let rule = self.batch_rule(model)?;
        self.st.open[model as usize]
            .iter()
            .map(|&i| i as usize)
            .find(|&i| self.st.forming[i].sum + batch <= rule.max_batch)
    }
    /// Number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }
    /// Whether the server has no instances (never true for a built server).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
    /// Profiled service time (ns) of `batch` of `model` on `slice`; `None` if not profiled.
    pub fn estimated_service_ns(&self, model: u32, slice: SliceId, batch: u32) -> Option<u64> {
        self.service
            .has(model, slice)
            .then(|| self.service.get(model, slice, batch).0)
    }
}
