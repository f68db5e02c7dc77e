//! The discrete-event loop.
//!
//! Time is integer nanoseconds. Events are ordered by (time, kind, sequence): at the same
//! instant, *completions* come first (a query arriving exactly when an instance frees can use
//! it), then batch *deadlines* (dynamic batching only), then *arrivals*. Completions and
//! deadlines are sequenced by instance index, arrivals by their position in the stably sorted
//! trace. Arrivals come from the sorted trace directly, completions and deadlines from binary
//! heaps holding at most one entry per instance, so an event costs O(log instances).
//!
//! **Without batching** (the default) an instance runs one query at a time. When it finishes,
//! it starts the head of its local queue (filled by [`Dispatch::To`]) or, when that is empty,
//! asks the scheduler for a held query ([`Scheduler::next_for`]).
//!
//! **With dynamic batching** (`--batching max_batch=B,max_delay_us=D`, a rule per model) a
//! Triton-style batcher sits in front of every instance and a batch forms as follows:
//! 1. An instance with nothing running *opens* a batch with a head: the front of its local queue
//!    or, if that is empty, the query [`Scheduler::next_for`] hands it. A query sent to an idle
//!    instance opens a batch itself.
//! 2. Queries of the head's model then *join* in arrival order while the summed batch stays
//!    <= B: first from the instance's local queue (other models keep their places; the scan
//!    stops at the first query of the model that does not fit, so a model's queries keep their
//!    order), then held queries the scheduler hands over ([`Scheduler::join_batch`]).
//! 3. The batch *starts* as soon as its sum reaches B or its oldest member has waited D (its
//!    arrival + D; D = 0 starts at once). Until then the instance waits, not idle: a query the
//!    scheduler sends to it joins the batch if it has the model and fits, otherwise it waits in
//!    the local queue for the next batch. A query arriving at the very instant of the deadline
//!    comes after it (deadlines before arrivals) and does not join.
//! 4. A forming batch is bound to its instance: another instance that frees meanwhile does not
//!    take its members; it opens its own batch from what is still waiting.
//! 5. A single query whose own batch exceeds B runs alone. The batch runs for the profiled
//!    latency of (model, slice, summed batch); every member starts and finishes with it, and
//!    each member's latency counts from its own arrival.
//!
//! With `max_batch = 1` every batch is one query that starts at once: the outputs are
//! identical to no batching (tested).
//!
//! **Service-time noise** ([`crate::service`]) changes how long a batch really runs; schedulers
//! keep seeing profiled estimates only ([`ServerView`]). When a run is not exact (noise or
//! batching), the engine records each query's *estimated completion*, the estimate the
//! scheduler could make when it decided ([`ServerView::estimate_done`] at dispatch, or the
//! batch start + its profiled latency for queries a scheduler held), so the report can show
//! how far the estimates were off.

use crate::error::{Error, Result};
use crate::policy::{Dispatch, IdleSet, QueryInfo, Scheduler, ServerView};
use crate::profile::ServiceTable;
use crate::server::Server;
use crate::service::{BatchRule, Noise, NoiseStream, ServiceModel};
use crate::trace::Trace;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Per-query outcomes of a replay, indexed like the (sorted) trace.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub start_ns: Vec<u64>,
    pub finish_ns: Vec<u64>,
    pub instance: Vec<u32>,
    /// Busy time of each instance (ns).
    pub busy_ns: Vec<u64>,
    /// Queries whose service time was extrapolated beyond the profiled batches.
    pub extrapolated: u64,
    /// Events processed (arrivals + completions + batch deadlines).
    pub events: u64,
    /// With batching: the batch each query ran in, batches numbered in start order (empty
    /// without batching, where every query is its own batch).
    pub batch_id: Vec<u32>,
    /// With batching: the summed batch size of each batch, by batch id.
    pub batch_size: Vec<u32>,
    /// When the run is not exact: each query's estimated completion (ns); empty otherwise.
    pub est_done_ns: Vec<u64>,
    /// Batches whose noise used `profile:cv=X`'s fallback (no std in the profile).
    pub noise_fallback: u64,
}

const UNSET: u32 = u32::MAX;
/// `Forming::model` of an instance with no forming batch.
pub(crate) const NO_MODEL: u32 = u32::MAX;

/// A batch waiting to start on an instance (dynamic batching).
#[derive(Debug, Clone)]
pub(crate) struct Forming {
    pub model: u32,
    pub sum: u32,
    pub deadline: u64,
    pub members: Vec<u32>,
}

/// What the engine knows about every instance; schedulers read it through a [`ServerView`].
#[derive(Debug, Clone)]
pub struct EngineState {
    /// Instances with nothing running, nothing forming and nothing queued.
    pub(crate) idle: IdleSet,
    /// Local FIFO queues (filled by [`Dispatch::To`]).
    pub(crate) queues: Vec<VecDeque<u32>>,
    /// Estimated end of the running batch: its start + its profiled latency.
    pub(crate) run_end: Vec<u64>,
    /// Sum of the profiled latencies of the local queue.
    pub(crate) queued_est: Vec<u64>,
    /// Forming batches (dynamic batching).
    pub(crate) forming: Vec<Forming>,
    /// Per model, the instances with a forming batch of it, in opening order.
    pub(crate) open: Vec<Vec<u32>>,
    /// Batching rule per trace model; empty without batching.
    pub(crate) rules: Vec<BatchRule>,
}

impl EngineState {
    /// `n` idle instances, no batching.
    pub fn new(n: usize) -> EngineState {
        EngineState {
            idle: IdleSet::all(n),
            queues: vec![VecDeque::new(); n],
            run_end: vec![0; n],
            queued_est: vec![0; n],
            forming: vec![
                Forming {
                    model: NO_MODEL,
                    sum: 0,
                    deadline: 0,
                    members: Vec::new(),
                };
                n
            ],
            open: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Mark instance `i` busy until the estimated time `until` (for building views in tests).
    pub fn set_busy_until(&mut self, i: usize, until: u64) {
        self.idle.remove(i);
        self.run_end[i] = until;
    }
}

/// Replay `trace` on `server` with `scheduler`: profiled service times, no batching.
pub fn simulate(
    trace: &Trace,
    server: &Server,
    service: &ServiceTable,
    scheduler: &mut dyn Scheduler,
) -> Result<Records> {
    simulate_with(
        trace,
        server,
        service,
        &ServiceModel::default(),
        &[],
        scheduler,
    )
}

/// Replay with a service model: `rules` holds the batching rule of every trace model (empty:
/// no batching).
pub fn simulate_with(
    trace: &Trace,
    server: &Server,
    service: &ServiceTable,
    model: &ServiceModel,
    rules: &[BatchRule],
    scheduler: &mut dyn Scheduler,
) -> Result<Records> {
    let n = trace.len();
    if n > u32::MAX as usize - 1 {
        return Err(Error::Usage(format!(
            "trace has {n} queries; at most {} supported",
            u32::MAX - 1
        )));
    }
    if !rules.is_empty() && rules.len() != trace.models.len() {
        return Err(Error::Other("one batching rule per trace model".into()));
    }
    let mut sim = Sim::new(trace, server, service, model, rules);
    if rules.is_empty() {
        sim.run_unbatched(scheduler)?;
    } else {
        sim.run_batched(scheduler)?;
    }
    Ok(sim.rec)
}

struct Sim<'a> {
    trace: &'a Trace,
    server: &'a Server,
    service: &'a ServiceTable,
    slices: Vec<usize>,
    st: EngineState,
    rec: Records,
    /// Completions: (finish, instance).
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// Batch deadlines: (deadline, instance); stale entries are skipped.
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    noise: Noise,
    stream: NoiseStream,
    track_est: bool,
    scratch: Vec<u32>,
}

impl<'a> Sim<'a> {
    fn new(
        trace: &'a Trace,
        server: &'a Server,
        service: &'a ServiceTable,
        model: &ServiceModel,
        rules: &[BatchRule],
    ) -> Sim<'a> {
        let n = trace.len();
        let ni = server.instances.len();
        let exact = model.noise.is_none() && rules.is_empty();
        let mut st = EngineState::new(ni);
        st.rules = rules.to_vec();
        st.open = vec![Vec::new(); if rules.is_empty() { 0 } else { rules.len() }];
        Sim {
            trace,
            server,
            service,
            slices: server.instances.iter().map(|i| i.slice).collect(),
            st,
            rec: Records {
                start_ns: vec![0; n],
                finish_ns: vec![0; n],
                instance: vec![UNSET; n],
                busy_ns: vec![0; ni],
                batch_id: if rules.is_empty() {
                    Vec::new()
                } else {
                    vec![UNSET; n]
                },
                est_done_ns: if exact { Vec::new() } else { vec![u64::MAX; n] },
                ..Records::default()
            },
            heap: BinaryHeap::with_capacity(ni),
            timers: BinaryHeap::new(),
            noise: model.noise,
            stream: NoiseStream::new(model.seed),
            track_est: !exact,
            scratch: Vec::new(),
        }
    }

    fn view(&self, now: u64) -> ServerView<'_> {
        ServerView {
            now_ns: now,
            gpu: &self.server.gpu,
            instances: &self.server.instances,
            st: &self.st,
            service: self.service,
            q_model: &self.trace.model,
            q_batch: &self.trace.batch,
            q_arrival: &self.trace.arrival_ns,
        }
    }

    /// The true service time of a batch whose profiled latency is `est`.
    #[inline]
    fn true_service(&mut self, est: u64, m: u32, slice: usize, sum: u32, head: u32) -> u64 {
        match self.noise {
            Noise::None => est,
            Noise::LogNormal { cv } => self.stream.draw(est, cv, head),
            Noise::Profile { fallback_cv } => {
                let cv = match self.service.cv(m, slice, sum) {
                    Some(cv) => cv,
                    None => {
                        self.rec.noise_fallback += 1;
                        // Checked before the replay: without a fallback every std exists.
                        fallback_cv.unwrap_or(0.0)
                    }
                };
                self.stream.draw(est, cv, head)
            }
        }
    }

    /// Check a query a scheduler handed out.
    fn check_handed(&self, q: u32, now: u64) -> Result<()> {
        let n = self.trace.len();
        if q as usize >= n || self.rec.instance[q as usize] != UNSET {
            return Err(Error::Other(format!(
                "scheduler returned query {q}, which does not exist or was already started"
            )));
        }
        if self.trace.arrival_ns[q as usize] > now {
            return Err(Error::Other(format!(
                "scheduler started query {q} before its arrival"
            )));
        }
        Ok(())
    }

    /// Check the instance a scheduler sent query `q` to.
    fn check_target(&self, q: u32, i: usize) -> Result<()> {
        let ni = self.slices.len();
        if i >= ni {
            return Err(Error::Other(format!(
                "scheduler sent query {q} to instance {i}, but the server has {ni}"
            )));
        }
        let m = self.trace.model[q as usize];
        if !self.service.has(m, self.slices[i]) {
            return Err(Error::Other(format!(
                "scheduler sent model '{}' to instance {i} ({}), where it is not profiled",
                self.trace.models[m as usize], self.server.gpu.profiles[self.slices[i]].name
            )));
        }
        Ok(())
    }

    #[inline]
    fn est(&self, q: u32, i: usize) -> u64 {
        let q = q as usize;
        self.service
            .get(self.trace.model[q], self.slices[i], self.trace.batch[q])
            .0
    }

    /// Offer arriving query `q` to the scheduler: the instance it was sent to (checked, with
    /// its estimated completion recorded when the run is not exact), or `None` if held.
    #[inline]
    fn offer(&mut self, q: u32, now: u64, scheduler: &mut dyn Scheduler) -> Result<Option<usize>> {
        let info = QueryInfo {
            idx: q,
            model: self.trace.model[q as usize],
            batch: self.trace.batch[q as usize],
            arrival_ns: now,
        };
        let Dispatch::To(i) = scheduler.on_arrival(&info, &self.view(now)) else {
            return Ok(None);
        };
        self.check_target(q, i)?;
        if self.track_est {
            self.rec.est_done_ns[q as usize] = self
                .view(now)
                .estimate_done(i, info.model, info.batch)
                .expect("checked: profiled");
        }
        Ok(Some(i))
    }

    /// Start query `q` alone on instance `i` at `now` (no batching).
    #[inline]
    fn start_one(&mut self, q: u32, i: usize, now: u64) {
        let qi = q as usize;
        let (m, b) = (self.trace.model[qi], self.trace.batch[qi]);
        let (est, ex) = self.service.get(m, self.slices[i], b);
        let s = self.true_service(est, m, self.slices[i], b, q);
        self.rec.extrapolated += ex as u64;
        self.rec.start_ns[qi] = now;
        self.rec.finish_ns[qi] = now + s;
        self.rec.instance[qi] = i as u32;
        self.rec.busy_ns[i] += s;
        self.st.idle.remove(i);
        self.st.run_end[i] = now + est;
        if self.track_est && self.rec.est_done_ns[qi] == u64::MAX {
            self.rec.est_done_ns[qi] = now + est;
        }
        self.heap.push(Reverse((now + s, i as u32)));
    }

    /// The next event: (time, kind) with kind 0 = completion, 1 = deadline, 2 = arrival.
    #[inline]
    fn next_event(&mut self, next: usize) -> Option<(u64, u8)> {
        let t_arr = if next < self.trace.len() {
            self.trace.arrival_ns[next]
        } else {
            u64::MAX
        };
        let t_done = self.heap.peek().map_or(u64::MAX, |r| r.0.0);
        if self.timers.is_empty() {
            let t = t_arr.min(t_done);
            return (t != u64::MAX).then_some((t, if t_done == t { 0 } else { 2 }));
        }
        // Drop deadlines of batches that already started.
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            let f = &self.st.forming[i as usize];
            if f.model != NO_MODEL && f.deadline == t {
                break;
            }
            self.timers.pop();
        }
        let t_timer = self.timers.peek().map_or(u64::MAX, |r| r.0.0);
        let t = t_arr.min(t_done).min(t_timer);
        if t == u64::MAX {
            return None;
        }
        Some((
            t,
            if t_done == t {
                0
            } else if t_timer == t {
                1
            } else {
                2
            },
        ))
    }

    fn run_unbatched(&mut self, scheduler: &mut dyn Scheduler) -> Result<()> {
        let n = self.trace.len();
        let mut next = 0usize;
        let mut now = 0u64;
        while let Some((t, kind)) = self.next_event(next) {
            debug_assert!(t >= now, "clock went back");
            now = t;
            self.rec.events += 1;
            if kind == 0 {
                let Reverse((_, i)) = self.heap.pop().expect("peeked");
                let i = i as usize;
                let nextq = match self.st.queues[i].pop_front() {
                    Some(q) => {
                        self.st.queued_est[i] -= self.est(q, i);
                        Some(q)
                    }
                    None => {
                        self.st.idle.insert(i);
                        let q = scheduler.next_for(i, &self.view(now));
                        if q.is_some() {
                            self.st.idle.remove(i);
                        }
                        q
                    }
                };
                if let Some(q) = nextq {
                    self.check_handed(q, now)?;
                    self.start_one(q, i, now);
                }
            } else {
                let q = next as u32;
                next += 1;
                if let Some(i) = self.offer(q, now, scheduler)? {
                    if self.st.idle.contains(i) {
                        self.start_one(q, i, now);
                    } else {
                        self.st.queues[i].push_back(q);
                        self.st.queued_est[i] += self.est(q, i);
                    }
                }
            }
        }
        debug_assert!(next == n);
        Ok(())
    }

    fn run_batched(&mut self, scheduler: &mut dyn Scheduler) -> Result<()> {
        let mut next = 0usize;
        let mut now = 0u64;
        while let Some((t, kind)) = self.next_event(next) {
            debug_assert!(t >= now, "clock went back");
            now = t;
            self.rec.events += 1;
            match kind {
                0 => {
                    let Reverse((_, i)) = self.heap.pop().expect("peeked");
                    self.open_next(i as usize, now, scheduler)?;
                }
                1 => {
                    let Reverse((_, i)) = self.timers.pop().expect("peeked");
                    self.start_batch(i as usize, now);
                }
                _ => {
                    let q = next as u32;
                    next += 1;
                    if let Some(i) = self.offer(q, now, scheduler)? {
                        let (m, b) = (self.trace.model[q as usize], self.trace.batch[q as usize]);
                        let f = &self.st.forming[i];
                        let rule = self.st.rules[m as usize];
                        if f.model == m && f.sum + b <= rule.max_batch {
                            self.join(i, q);
                            if self.st.forming[i].sum >= rule.max_batch {
                                self.start_batch(i, now);
                            }
                        } else if self.st.idle.contains(i) {
                            self.st.idle.remove(i);
                            self.form(i, q, now, scheduler)?;
                        } else {
                            self.st.queues[i].push_back(q);
                            self.st.queued_est[i] += self.est(q, i);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Instance `i` has nothing running: open its next batch, or mark it idle.
    fn open_next(&mut self, i: usize, now: u64, scheduler: &mut dyn Scheduler) -> Result<()> {
        let head = match self.st.queues[i].pop_front() {
            Some(q) => {
                self.st.queued_est[i] -= self.est(q, i);
                q
            }
            None => {
                self.st.idle.insert(i);
                let Some(q) = scheduler.next_for(i, &self.view(now)) else {
                    return Ok(());
                };
                self.check_handed(q, now)?;
                self.st.idle.remove(i);
                q
            }
        };
        self.form(i, head, now, scheduler)
    }

    /// Add query `q` to the forming batch of `i`.
    fn join(&mut self, i: usize, q: u32) {
        let f = &mut self.st.forming[i];
        f.sum += self.trace.batch[q as usize];
        f.members.push(q);
        // Mark it taken, so a scheduler cannot hand it out twice.
        self.rec.instance[q as usize] = i as u32;
    }

    /// Open a batch on `i` (not idle, nothing running) with `head`, let queries join, and
    /// start it or wait for its deadline.
    fn form(&mut self, i: usize, head: u32, now: u64, scheduler: &mut dyn Scheduler) -> Result<()> {
        let m = self.trace.model[head as usize];
        let rule = self.st.rules[m as usize];
        {
            let f = &mut self.st.forming[i];
            f.model = m;
            f.sum = 0;
            f.deadline = self.trace.arrival_ns[head as usize] + rule.max_delay_ns;
            f.members.clear();
        }
        self.join(i, head);
        // Join from the local queue: the head's model in order, while the sum fits.
        if self.st.forming[i].sum < rule.max_batch && !self.st.queues[i].is_empty() {
            let mut rest = VecDeque::with_capacity(self.st.queues[i].len());
            let mut stopped = false;
            while let Some(q) = self.st.queues[i].pop_front() {
                let (qm, qb) = (self.trace.model[q as usize], self.trace.batch[q as usize]);
                if qm == m && !stopped {
                    if self.st.forming[i].sum + qb <= rule.max_batch {
                        self.st.queued_est[i] -= self.est(q, i);
                        self.join(i, q);
                        continue;
                    }
                    stopped = true;
                }
                rest.push_back(q);
            }
            self.st.queues[i] = rest;
        }
        // Join held queries the scheduler hands over.
        let sum = self.st.forming[i].sum;
        if sum < rule.max_batch {
            let mut got = std::mem::take(&mut self.scratch);
            got.clear();
            scheduler.join_batch(i, m, rule.max_batch - sum, &self.view(now), &mut got);
            for &q in &got {
                self.check_handed(q, now)?;
                let (qm, qb) = (self.trace.model[q as usize], self.trace.batch[q as usize]);
                if qm != m || self.st.forming[i].sum + qb > rule.max_batch {
                    return Err(Error::Other(format!(
                        "scheduler joined query {q} (model {qm}, batch {qb}) to a batch of model {m} with room {}",
                        rule.max_batch - self.st.forming[i].sum
                    )));
                }
                self.join(i, q);
            }
            self.scratch = got;
        }
        let f = &self.st.forming[i];
        if f.sum >= rule.max_batch || f.deadline <= now {
            self.start_batch(i, now);
        } else {
            let deadline = f.deadline;
            self.st.open[m as usize].push(i as u32);
            self.timers.push(Reverse((deadline, i as u32)));
        }
        Ok(())
    }

    /// Start the forming batch of `i` at `now`.
    fn start_batch(&mut self, i: usize, now: u64) {
        let members = std::mem::take(&mut self.st.forming[i].members);
        let (m, sum) = (self.st.forming[i].model, self.st.forming[i].sum);
        self.st.forming[i].model = NO_MODEL;
        if let Some(k) = self.st.open[m as usize]
            .iter()
            .position(|&x| x as usize == i)
        {
            self.st.open[m as usize].remove(k);
        }
        let slice = self.slices[i];
        let (est, ex) = self.service.get(m, slice, sum);
        let s = self.true_service(est, m, slice, sum, members[0]);
        let bid = self.rec.batch_size.len() as u32;
        self.rec.batch_size.push(sum);
        for &q in &members {
            let q = q as usize;
            self.rec.start_ns[q] = now;
            self.rec.finish_ns[q] = now + s;
            self.rec.instance[q] = i as u32;
            self.rec.batch_id[q] = bid;
            if self.track_est && self.rec.est_done_ns[q] == u64::MAX {
                self.rec.est_done_ns[q] = now + est;
            }
        }
        self.rec.extrapolated += if ex { members.len() as u64 } else { 0 };
        self.rec.busy_ns[i] += s;
        self.st.run_end[i] = now + est;
        self.heap.push(Reverse((now + s, i as u32)));
        let mut members = members;
        members.clear();
        self.st.forming[i].members = members;
    }
}

/// The results of the end-of-run invariant checks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invariants {
    /// Every query that arrived completed exactly once.
    pub conservation: bool,
    /// No query started before it arrived; every finish is after its start.
    pub causality: bool,
    /// No instance ran two queries (batches) at once.
    pub no_overlap: bool,
    /// With batching: every query ran in exactly one batch; a batch's members share its
    /// model, instance, start and finish; their batches sum to the batch's size, which is at
    /// most the model's max_batch unless the batch is one oversized query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<bool>,
}

impl Invariants {
    pub fn all_ok(&self) -> bool {
        self.conservation && self.causality && self.no_overlap && self.batches != Some(false)
    }
}

/// Check the cheap invariants on the records of a finished replay (`rules`: the batching
/// rules, empty without batching).
pub fn check_invariants(
    trace: &Trace,
    server: &Server,
    rec: &Records,
    rules: &[BatchRule],
) -> Invariants {
    let n = trace.len();
    let conservation = rec.instance.len() == n
        && rec
            .instance
            .iter()
            .all(|&i| (i as usize) < server.instances.len());
    let causality = (0..n)
        .all(|q| rec.start_ns[q] >= trace.arrival_ns[q] && rec.finish_ns[q] > rec.start_ns[q]);
    let batched = !rec.batch_id.is_empty();
    let batches = batched.then(|| conservation && check_batches(trace, rec, rules));
    let mut no_overlap = conservation;
    if conservation {
        // Bucket queries by instance (counting sort), then check each instance's timeline;
        // with batching, one representative (the first member) per batch.
        let ni = server.instances.len();
        let first_of_batch: Option<Vec<bool>> = batched.then(|| {
            let mut seen = vec![false; rec.batch_size.len()];
            rec.batch_id
                .iter()
                .map(|&b| {
                    let b = b as usize;
                    let first = b < seen.len() && !seen[b];
                    if b < seen.len() {
                        seen[b] = true;
                    }
                    first
                })
                .collect()
        });
        let counted = |q: usize| first_of_batch.as_ref().is_none_or(|f| f[q]);
        let mut count = vec![0usize; ni + 1];
        for (q, &i) in rec.instance.iter().enumerate() {
            if counted(q) {
                count[i as usize + 1] += 1;
            }
        }
        for k in 0..ni {
            count[k + 1] += count[k];
        }
        let mut order = vec![0u32; count[ni]];
        let mut pos = count.clone();
        for (q, &i) in rec.instance.iter().enumerate() {
            if counted(q) {
                order[pos[i as usize]] = q as u32;
                pos[i as usize] += 1;
            }
        }
        for k in 0..ni {
            let seg = &mut order[count[k]..count[k + 1]];
            seg.sort_unstable_by_key(|&q| (rec.start_ns[q as usize], q));
            no_overlap &= seg
                .windows(2)
                .all(|w| rec.finish_ns[w[0] as usize] <= rec.start_ns[w[1] as usize]);
        }
    }
    Invariants {
        conservation,
        causality,
        no_overlap,
        batches,
    }
}

/// The batch invariants (see [`Invariants::batches`]).
fn check_batches(trace: &Trace, rec: &Records, rules: &[BatchRule]) -> bool {
    let nb = rec.batch_size.len();
    // Per batch: (model, instance, start, finish, summed batch, members), from its first member.
    let mut first: Vec<Option<(u32, u32, u64, u64)>> = vec![None; nb];
    let mut sum = vec![0u64; nb];
    let mut members = vec![0u32; nb];
    for q in 0..trace.len() {
        let b = rec.batch_id[q] as usize;
        if b >= nb {
            return false;
        }
        let key = (
            trace.model[q],
            rec.instance[q],
            rec.start_ns[q],
            rec.finish_ns[q],
        );
        match first[b] {
            None => first[b] = Some(key),
            Some(k) if k != key => return false,
            Some(_) => {}
        }
        sum[b] += trace.batch[q] as u64;
        members[b] += 1;
    }
    (0..nb).all(|b| {
        let Some((m, ..)) = first[b] else {
            return false;
        };
        let max = rules.get(m as usize).map_or(u32::MAX, |r| r.max_batch);
        sum[b] == rec.batch_size[b] as u64 && (sum[b] <= max as u64 || members[b] == 1)
    })
}
