//! What a scheduler may see of the server: which instances are idle, their local queues, the
//! batches forming in front of them, and *estimated* backlogs computed from the profile. Never
//! the true service times of queries in flight (the oracle boundary). By default the service
//! time of a query is its profiled latency, so the estimates are exact; with service-time noise
//! or dynamic batching ([`crate::service`]) they are estimates.
//!
//! The predictions replay the batcher's rules through the same functions the event loop calls
//! ([`super::batcher`]).

use super::batcher::{self, Cut};
use super::state::{NO_MODEL, ServerState};
use super::{Instance, Server};
use crate::gpu::{GpuSpec, SliceId};
use crate::service::{BatchRule, ServiceTable};

use crate::trace::Trace;
use std::collections::VecDeque;

/// What a scheduler may see of the server at one instant: the engine builds one per decision
/// and passes it to every [`crate::policy::Scheduler`] call.
///
/// Conventions of every method:
/// - **Times** are simulated nanoseconds since the trace's start (`u64`), absolute: compare
///   them with [`Self::now_ns`] or a query's `arrival_ns`, never with wall-clock time.
///   **Durations** (`*_ns` of a service time or a std) are nanoseconds too.
/// - **Instances** are `0..len()`, numbered GPU by GPU and, on a GPU, by start memory slot
///   ("lowest index" means that order). With a repartitioner the view shows only the
///   instances that exist now, renumbered the same way.
/// - **Models** are indices into the trace's model names (`QueryInfo::model`); **batch** is a
///   query's batch size (requests), >= 1; **slice** is a [`SliceId`], the index of a MIG
///   profile in [`GpuSpec::profiles`] (`instances[i].slice`).
/// - **Estimates** come from the profile (latency at (model, slice, batch), interpolated
///   between profiled batches), never from the true service times of queries in flight. They
///   are exact when `SchedContext::exact_estimates` is true (no service-time noise, no dynamic
///   batching); otherwise `summary.json` -> `estimates` reports how far off they were.
/// - `None` from an estimate means "cannot run there": the model is not profiled on the slice,
///   or the batch does not fit the slice's memory (the profile's `memory_mb`).
pub struct ServerView<'a> {
    /// The current simulated time (ns since the trace's start): a query's arrival in
    /// `on_arrival`, the instant an instance became idle in `next_for`.
    pub now_ns: u64,
    /// The GPU kind: its MIG profiles (`gpu.profiles[slice]`: name, GPCs, memory) and
    /// placement rules.
    pub gpu: &'a GpuSpec,
    /// Every instance: its GPU, slice ([`SliceId`]), GPCs and start memory slot.
    pub instances: &'a [Instance],
    st: &'a ServerState,
    service: &'a ServiceTable,
    /// The trace, whose model, batch and arrival columns tell how queued queries will batch.
    trace: &'a Trace,
}

/// Queues longer than this are estimated without predicting their batches (each queued query
/// counted alone), to keep a decision cheap under overload.
pub const PREDICT_QUEUE_MAX: usize = 64;

impl<'a> ServerView<'a> {
    /// The view at `now_ns` of `server` in `state`, with the profiled service times of
    /// `service` and the queries of `trace` (the engine builds one per decision; a scheduler's
    /// tests build their own from a [`ServerState`]).
    pub fn new(
        now_ns: u64,
        server: &'a Server,
        state: &'a ServerState,
        service: &'a ServiceTable,
        trace: &'a Trace,
    ) -> ServerView<'a> {
        ServerView {
            now_ns,
            gpu: &server.gpu,
            instances: &server.instances,
            st: state,
            service,
            trace,
        }
    }

    /// Whether instance `i` is idle: nothing running, no batch forming, nothing queued. A query
    /// sent to an idle instance starts at once (with batching: opens a batch, which may wait).
    #[inline]
    pub fn is_idle(&self, i: usize) -> bool {
        self.st.idle.contains(i)
    }
    /// The idle instance with the lowest index; `None` when none is idle. O(instances / 64).
    /// Ignores whether the instance can serve a given query: see
    /// [`Self::lowest_idle_serving`].
    #[inline]
    pub fn lowest_idle(&self) -> Option<usize> {
        self.st.idle.lowest()
    }
    /// The idle instances in increasing index order.
    pub fn idle(&self) -> impl Iterator<Item = usize> + '_ {
        self.st.idle.iter()
    }
    /// The number of queries waiting in instance `i`'s local FIFO queue: not the running query
    /// or batch, nor the members of a forming batch. An idle instance has 0; so may a busy one.
    pub fn queue_len(&self, i: usize) -> usize {
        self.st.queues[i].len()
    }

    /// The estimated end of what runs or forms on `i` now: the running batch's start + its
    /// profiled latency (now if it has overrun that), or the forming batch's deadline + the
    /// profiled latency of its sum.
    #[inline]
    fn current_end(&self, i: usize) -> u64 {
        let st = self.st;
        let f = &st.forming[i];
        if f.model != NO_MODEL {
            f.deadline.max(self.now_ns)
                + self.service.get(f.model, self.instances[i].slice, f.sum).0
        } else {
            st.run_end[i].max(self.now_ns)
        }
    }

    /// Estimated time (ns, absolute) at which instance `i` finishes everything sent to it so
    /// far: **`now_ns` if it is idle**; else the estimated end of its running batch (its start
    /// plus its profiled latency, or now if it has overrun that) or of its forming batch (its
    /// deadline plus the profiled latency of its summed batch), plus the profiled latencies of
    /// its queued queries, **each counted alone** (no batching of the queue; for that, see
    /// [`Self::estimate_done`]). Never earlier than `now_ns`. O(1).
    #[inline]
    pub fn estimated_free_at(&self, i: usize) -> u64 {
        if self.st.idle.contains(i) {
            return self.now_ns;
        }
        self.current_end(i) + self.st.queued_est[i]
    }

    /// Estimated completion time (ns, absolute) of a query of `model` and `batch` sent to
    /// instance `i` now; `None` if it cannot run there (not profiled on the slice, or over its
    /// memory). The first element of [`Self::predict`]: without batching,
    /// [`Self::estimated_free_at`]`(i)` + the query's profiled latency on `i`'s slice; with
    /// batching, it **replays the batcher's rules** on `i`'s forming batch and local queue
    /// (the query may join a batch and wait for its deadline). The usual score of an
    /// "earliest estimated completion" rule (`least-loaded`), and what ELSA compares with the
    /// SLA. O(1) without batching, O(queue length) with it.
    #[inline]
    pub fn estimate_done(&self, i: usize, model: u32, batch: u32) -> Option<u64> {
        self.predict(i, model, batch).map(|p| p.0)
    }

    /// What sending a query of `model` and `batch` to instance `i` now would give:
    /// `(estimated completion, arrival of the oldest query of the batch it would run in)`, both
    /// absolute times in ns, from profiled latencies; `None` if it cannot run there (not
    /// profiled on the slice, or over its memory). The second element lets an SLA-aware
    /// scheduler check that joining a batch does not make its oldest member miss its SLA (it is
    /// `now_ns` when the query would run alone or first).
    ///
    /// Without batching: ([`Self::estimated_free_at`] + its latency, now). With batching, the
    /// batcher's rules ([`batcher`]) are replayed on what is known: if `i` has a forming batch
    /// that admits the query, it joins it (the batch starts now if the query fills it, else at
    /// its deadline, and runs for the latency of the new sum); if `i` is idle, the query opens a
    /// batch of its own; otherwise the local queue, with the query at its tail, is cut into
    /// batches the way the engine will cut it, each starting when the one before ends, until
    /// the query's batch. Queues longer than [`PREDICT_QUEUE_MAX`] count each queued query
    /// alone. Queries a scheduler holds back and hands to a forming batch later are unknown
    /// here.
    pub fn predict(&self, i: usize, model: u32, batch: u32) -> Option<(u64, u64)> {
        let slice = self.instances[i].slice;
        let l = self.estimated_service_ns(model, slice, batch)?;
        let now = self.now_ns;
        let Some(rule) = self.rule_on(model, i) else {
            return Some((self.estimated_free_at(i) + l, now));
        };
        let f = &self.st.forming[i];
        if f.model != NO_MODEL && batcher::admits(f.model, f.sum, model, batch, rule) {
            let sum = f.sum + batch;
            let oldest = f.deadline - rule.max_delay_ns;
            let start = batcher::start_time(now, sum >= rule.max_batch, oldest, rule);
            let done = start + self.service.get(model, slice, sum).0;
            return Some((done, oldest.min(now)));
        }
        if self.is_idle(i) {
            let cut = Cut::open(model, batch, rule);
            let start = batcher::start_time(now, cut.full(), now, rule);
            return Some((start + l, now));
        }
        let queue = &self.st.queues[i];
        if queue.len() > PREDICT_QUEUE_MAX {
            return Some((self.estimated_free_at(i) + l, now));
        }
        let mut t = self.current_end(i);
        // (model, batch, arrival, is the new query), in queue order.
        let mut rest: VecDeque<(u32, u32, u64, bool)> = queue
            .iter()
            .map(|&q| {
                (
                    self.trace.model_of(q),
                    self.trace.batch_of(q),
                    self.trace.arrival_of(q),
                    false,
                )
            })
            .collect();
        rest.push_back((model, batch, now, true));
        // Cut batches from the queue as the engine will ([`ServerState::cut_queue`]).
        while let Some((m, b, a0, head_new)) = rest.pop_front() {
            let r = self.rule_on(m, i).unwrap_or(BatchRule::OFF);
            let mut cut = Cut::open(m, b, r);
            let mut mine = head_new;
            cut.take_from(&mut rest, |x| (x.0, x.1), |x| mine |= x.3);
            let start = batcher::start_time(t, cut.full(), a0, r);
            t = start + self.service.get(m, slice, cut.sum).0;
            if mine {
                return Some((t, a0.min(now)));
            }
        }
        unreachable!("the new query is in some batch")
    }

    /// Whether dynamic batching is on (`--batching`): queries of one model may merge into a
    /// batch on an instance. Off by default: every query runs alone, at once.
    #[inline]
    pub fn batching(&self) -> bool {
        !self.st.rules.is_empty()
    }
    /// The batching rule of `model` (largest summed batch, longest wait in ns), when batching is
    /// on; `None` without batching.
    #[inline]
    pub fn batch_rule(&self, model: u32) -> Option<BatchRule> {
        self.st.rules.get(model as usize).copied()
    }
    /// The batch forming on instance `i`, if any: `(model, summed batch, deadline)`, the
    /// deadline an absolute time in ns at which it starts unless it fills first. Always `None`
    /// without batching.
    pub fn forming(&self, i: usize) -> Option<(u32, u32, u64)> {
        let f = &self.st.forming[i];
        (f.model != NO_MODEL).then_some((f.model, f.sum, f.deadline))
    }
    /// The instance whose forming batch of `model` opened first among those that admit a query
    /// of `batch` (room left, within the instance's memory); `None` without batching or when
    /// none admits it.
    pub fn joinable(&self, model: u32, batch: u32) -> Option<usize> {
        self.batch_rule(model)?;
        self.st.open[model as usize]
            .iter()
            .map(|&i| i as usize)
            .find(|&i| {
                let f = &self.st.forming[i];
                self.rule_on(model, i)
                    .is_some_and(|r| batcher::admits(f.model, f.sum, model, batch, r))
            })
    }
    /// The number of instances (`0..len()` are their indices).
    pub fn len(&self) -> usize {
        self.instances.len()
    }
    /// Whether the server has no instances (never true for a built server).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
    /// Profiled run-to-run standard deviation (ns) of the service time of a batch of `batch` of
    /// `model` on `slice` (the profile's `latency_std_ms`, as a coefficient of variation of the
    /// interpolated latency); `None` where the profile has none. For a safety margin under
    /// `--service-noise` (ELSA's `margin_std`).
    #[inline]
    pub fn estimated_std_ns(&self, model: u32, slice: SliceId, batch: u32) -> Option<u64> {
        let cv = self.service.cv(model, slice, batch)?;
        Some((cv * self.service.get(model, slice, batch).0 as f64).round() as u64)
    }

    /// Profiled service time (ns, a duration) of a batch of `batch` of `model` on `slice`,
    /// interpolated between profiled batches (extrapolated beyond the largest); `None` if the
    /// model is not profiled on the slice, or the batch does not fit the slice's memory (the
    /// profile's `memory_mb`). Independent of the instance's state. O(1).
    #[inline]
    pub fn estimated_service_ns(&self, model: u32, slice: SliceId, batch: u32) -> Option<u64> {
        (self.service.has(model, slice) && self.service.fits(model, slice, batch))
            .then(|| self.service.get(model, slice, batch).0)
    }

    /// Whether a batch of `batch` of `model` can run on instance `i` at all: profiled on its
    /// slice and within its memory. Every `estimate_done(i, ..)` is `Some` exactly when this
    /// is true; a [`crate::policy::Dispatch::To`] an instance where it is false stops the
    /// replay with an error.
    #[inline]
    pub fn can_serve(&self, i: usize, model: u32, batch: u32) -> bool {
        let s = self.instances[i].slice;
        self.service.has(model, s) && self.service.fits(model, s, batch)
    }

    /// Whether the profile's memory bounds some batch on some slice of this run; when false,
    /// every batch of the trace fits every slice where its model is profiled, and
    /// [`Self::can_serve`] only checks the profile. A cheap test to skip memory checks.
    #[inline]
    pub fn memory_bounded(&self) -> bool {
        !self.service.all_fit()
    }

    /// The idle instance with the lowest index that can serve a batch of `batch` of `model`
    /// ([`Self::can_serve`]); `None` when there is none. [`Self::lowest_idle`] when memory
    /// bounds nothing.
    #[inline]
    pub fn lowest_idle_serving(&self, model: u32, batch: u32) -> Option<usize> {
        if self.service.all_fit() {
            return self.lowest_idle();
        }
        self.idle().find(|&i| self.can_serve(i, model, batch))
    }

    /// The batching rule of `model` on instance `i`: the model's, its max batch capped by what
    /// fits the instance's memory.
    #[inline]
    fn rule_on(&self, model: u32, i: usize) -> Option<BatchRule> {
        self.st
            .rule_on(model, self.instances[i].slice, self.service)
    }
}
