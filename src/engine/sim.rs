//! The event loop itself (see the module docs of [`crate::engine`] for its semantics).

use super::Records;
use crate::error::{Error, Result};
use crate::policy::{Dispatch, QueryInfo, Scheduler};
use crate::server::batcher::{self, Cut};
use crate::server::{Server, ServerState, ServerView};
use crate::service::{BatchRule, Noise, NoiseStream, ServiceModel, ServiceTable};
use crate::trace::Trace;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// `Records::instance` of a query not yet started (or joined to a batch).
pub(super) const UNSET: u32 = u32::MAX;

/// The end of a batch started at `now` that runs `s` ns (profiled `est`): an error instead of
/// an overflow when simulated time passes 2^63 ns (noise or queues that long mean the inputs
/// are not a replay of anything).
#[inline(always)]
fn finish(now: u64, s: u64, est: u64) -> Result<u64> {
    match now.checked_add(s.max(est)) {
        Some(t) if t < 1 << 63 => Ok(now + s),
        _ => Err(overflow(now, s)),
    }
}

#[cold]
#[inline(never)]
fn overflow(now: u64, s: u64) -> Error {
    Error::Usage(format!(
        "simulated time overflows 2^63 ns (a batch of {s} ns started at {now} ns): the service times (noise, extrapolated batches) or the load are beyond what can be replayed"
    ))
}

/// How the loops reach the scheduler: borrowed for a fixed server, owned (and replaced at each
/// reconfiguration) for a reconfigurable one.
pub(super) trait Sched {
    fn get(&mut self) -> &mut dyn Scheduler;
    /// Replace the scheduler (a reconfigurable run only).
    fn replace(&mut self, s: Box<dyn Scheduler>);
}

impl Sched for &mut dyn Scheduler {
    #[inline(always)]
    fn get(&mut self) -> &mut dyn Scheduler {
        &mut **self
    }
    fn replace(&mut self, _: Box<dyn Scheduler>) {
        unreachable!("the scheduler of a server that never changes is never replaced")
    }
}

impl Sched for Box<dyn Scheduler> {
    #[inline(always)]
    fn get(&mut self) -> &mut dyn Scheduler {
        self.as_mut()
    }
    fn replace(&mut self, s: Box<dyn Scheduler>) {
        *self = s;
    }
}

/// `Sim::cur_of` of an instance that no longer exists.
pub(super) const GONE: u32 = u32::MAX;

/// Where a run of the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Every query was replayed.
    Done,
    /// The next arrival is beyond the trace's loaded rows and more may come (a streamed
    /// replay): append them, then run again.
    NeedRows,
}

/// How the loop holds its trace: the whole trace, borrowed (`&Trace`), or a streamed window
/// it owns (`Box<Trace>`), whose rows are appended and dropped between runs and addressed by
/// global position ([`Trace::base`]). A type parameter, so a whole-trace replay compiles to a
/// loop with no window arithmetic and no pause check.
pub(super) trait Rows<'a>: std::ops::Deref<Target = Trace> {
    const WINDOW: bool;
    /// The whole trace (a whole-trace replay only: a reconfigurable server reads it).
    fn whole(&self) -> &'a Trace;
    /// The window (a streamed replay only).
    fn window_mut(&mut self) -> &mut Trace;
}

impl<'a> Rows<'a> for &'a Trace {
    const WINDOW: bool = false;
    fn whole(&self) -> &'a Trace {
        self
    }
    fn window_mut(&mut self) -> &mut Trace {
        unreachable!("a borrowed trace has no window")
    }
}

impl<'a> Rows<'a> for Box<Trace> {
    const WINDOW: bool = true;
    fn whole(&self) -> &'a Trace {
        unreachable!("a streamed replay has no repartitioner")
    }
    fn window_mut(&mut self) -> &mut Trace {
        self
    }
}

pub(super) struct Sim<'a, T: Rows<'a> = &'a Trace> {
    /// The trace: the whole trace, or a streamed window of it ([`Rows`]).
    pub(super) trace: T,
    /// The server as it stands (changes only in a reconfigurable run).
    pub(super) server: Server,
    pub(super) service: &'a ServiceTable,
    pub(super) slices: Vec<usize>,
    pub(super) st: ServerState,
    pub(super) rec: Records,
    /// Instance ids: every instance that ever existed, in creation order (the instances of
    /// the initial server first, in their order); `Records::instance` and `busy_ns` use them.
    pub(super) incarnations: Vec<crate::server::Instance>,
    /// Current index -> instance id, and instance id -> current index ([`GONE`]).
    pub(super) gid: Vec<u32>,
    pub(super) cur_of: Vec<u32>,
    /// Completions: (finish, instance id).
    pub(super) heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// Batch deadlines: (deadline, instance id); stale entries are skipped.
    pub(super) timers: BinaryHeap<Reverse<(u64, u32)>>,
    noise: Noise,
    stream: NoiseStream,
    pub(super) track_est: bool,
    scratch: Vec<u32>,
    /// The next reconfiguration event (`u64::MAX`: none; always so for a fixed server).
    pub(super) t_re: u64,
    /// Reconfigurable runs: the repartitioner's state.
    pub(super) re: Option<Box<super::repartition::Reconf<'a>>>,
    /// The global position of the next arrival, and the clock.
    pub(super) next: usize,
    pub(super) now: u64,
    /// Whether rows may still be appended after the trace's last (a streamed replay).
    pub(super) more: bool,
    /// Whether the run batches (records a batch per query).
    pub(super) batched: bool,
}

impl<'a, T: Rows<'a>> Sim<'a, T> {
    pub(super) fn new(
        trace: T,
        server: &'a Server,
        service: &'a ServiceTable,
        model: &ServiceModel,
        rules: &[BatchRule],
    ) -> Sim<'a, T> {
        let n = trace.len();
        let base = trace.base;
        let ni = server.instances.len();
        let exact = model.noise.is_none() && rules.is_empty();
        Sim {
            next: base,
            now: 0,
            more: false,
            batched: !rules.is_empty(),
            trace,
            server: server.clone(),
            service,
            slices: server.instances.iter().map(|i| i.slice).collect(),
            incarnations: server.instances.clone(),
            gid: (0..ni as u32).collect(),
            cur_of: (0..ni as u32).collect(),
            t_re: u64::MAX,
            re: None,
            st: ServerState::with_rules(ni, rules.to_vec()),
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
                base,
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

    pub(super) fn view(&self, now: u64) -> ServerView<'_> {
        ServerView::new(now, &self.server, &self.st, self.service, &self.trace)
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

    /// The whole trace of a replay that is not streamed (a reconfigurable one).
    pub(super) fn whole(&self) -> &'a Trace {
        self.trace.whole()
    }

    /// The slot of the query at global position `q` in the records (and the trace).
    #[inline(always)]
    pub(super) fn slot(&self, q: u32) -> usize {
        if T::WINDOW {
            q as usize - self.rec.base
        } else {
            q as usize
        }
    }

    /// The model, batch and arrival of the query at global position `q`.
    #[inline(always)]
    fn model_at(&self, q: u32) -> u32 {
        self.trace.model[self.slot(q)]
    }
    #[inline(always)]
    fn batch_at(&self, q: u32) -> u32 {
        self.trace.batch[self.slot(q)]
    }
    #[inline(always)]
    fn arrival_at(&self, q: u32) -> u64 {
        self.trace.arrival_ns[self.slot(q)]
    }

    /// One past the global position of the last row.
    #[inline(always)]
    fn end(&self) -> usize {
        if T::WINDOW {
            self.trace.end()
        } else {
            self.trace.len()
        }
    }

    /// Append rows to a streamed window: the trace's and empty records for them.
    pub(super) fn append_rows(&mut self, rows: &Trace) {
        let k = rows.len();
        let t = self.trace.window_mut();
        t.arrival_ns.extend_from_slice(&rows.arrival_ns);
        t.model.extend_from_slice(&rows.model);
        t.batch.extend_from_slice(&rows.batch);
        if !rows.id.is_empty() {
            t.id.extend_from_slice(&rows.id);
        }
        let r = &mut self.rec;
        let n = r.start_ns.len() + k;
        r.start_ns.resize(n, 0);
        r.finish_ns.resize(n, 0);
        r.instance.resize(n, UNSET);
        if self.batched {
            r.batch_id.resize(n, UNSET);
        }
        if self.track_est {
            r.est_done_ns.resize(n, u64::MAX);
        }
    }

    /// Drop the first `k` rows of a streamed window (the trace's and the records').
    pub(super) fn drop_rows(&mut self, k: usize) {
        let t = self.trace.window_mut();
        t.arrival_ns.drain(..k);
        t.model.drain(..k);
        t.batch.drain(..k);
        if !t.id.is_empty() {
            t.id.drain(..k);
        }
        t.base += k;
        let r = &mut self.rec;
        r.start_ns.drain(..k);
        r.finish_ns.drain(..k);
        r.instance.drain(..k);
        if !r.batch_id.is_empty() {
            r.batch_id.drain(..k);
        }
        if !r.est_done_ns.is_empty() {
            r.est_done_ns.drain(..k);
        }
        r.base += k;
    }

    /// Check a query a scheduler handed out.
    pub(super) fn check_handed(&self, q: u32, now: u64) -> Result<()> {
        if (T::WINDOW && (q as usize) < self.rec.base)
            || q as usize >= self.end()
            || self.rec.instance[self.slot(q)] != UNSET
        {
            return Err(Error::Internal(format!(
                "scheduler returned query {q}, which does not exist or was already started"
            )));
        }
        if self.arrival_at(q) > now {
            return Err(Error::Internal(format!(
                "scheduler started query {q} before its arrival"
            )));
        }
        Ok(())
    }

    /// Check the instance a scheduler sent query `q` to.
    #[inline(always)]
    pub(super) fn check_target(&self, q: u32, i: usize) -> Result<()> {
        let m = self.model_at(q);
        let ok = i < self.slices.len()
            && self.service.has(m, self.slices[i])
            && self.service.fits(m, self.slices[i], self.batch_at(q));
        if ok {
            Ok(())
        } else {
            Err(self.bad_target(q, i))
        }
    }

    /// Why a dispatch is refused.
    #[cold]
    #[inline(never)]
    fn bad_target(&self, q: u32, i: usize) -> Error {
        let ni = self.slices.len();
        if i >= ni {
            return Error::Internal(format!(
                "scheduler sent query {q} to instance {i}, but the server has {ni}"
            ));
        }
        let m = self.model_at(q);
        let slice = self.server.gpu.profiles[self.slices[i]].name;
        if !self.service.has(m, self.slices[i]) {
            return Error::Internal(format!(
                "scheduler sent model '{}' to instance {i} ({slice}), where it is not profiled",
                self.trace.models[m as usize]
            ));
        }
        Error::Internal(format!(
            "scheduler sent a batch of {} of model '{}' to instance {i} ({slice}), whose memory it exceeds",
            self.batch_at(q),
            self.trace.models[m as usize]
        ))
    }

    /// The batching rule of model `m` on instance `i`: its max batch capped by what fits the
    /// instance's memory.
    #[inline]
    fn rule_on(&self, m: u32, i: usize) -> BatchRule {
        let mut r = self.st.rule(m);
        r.max_batch = r.max_batch.min(self.service.max_fitting(m, self.slices[i]));
        r
    }

    /// Profiled latency of query `q` alone on instance `i`.
    #[inline]
    fn est(&self, q: u32, i: usize) -> u64 {
        self.service
            .get(self.model_at(q), self.slices[i], self.batch_at(q))
            .0
    }

    /// Offer arriving query `q` to the scheduler: the instance it was sent to (checked, with
    /// its estimated completion recorded when the run is not exact), or `None` if held.
    #[inline]
    fn offer(&mut self, q: u32, now: u64, scheduler: &mut dyn Scheduler) -> Result<Option<usize>> {
        let info = QueryInfo {
            idx: q,
            model: self.model_at(q),
            batch: self.batch_at(q),
            arrival_ns: self.arrival_at(q),
        };
        let Dispatch::To(i) = scheduler.on_arrival(&info, &self.view(now)) else {
            return Ok(None);
        };
        self.check_target(q, i)?;
        if self.track_est {
            let k = self.slot(q);
            self.rec.est_done_ns[k] = self
                .view(now)
                .estimate_done(i, info.model, info.batch)
                .expect("checked: profiled");
        }
        Ok(Some(i))
    }

    /// Start query `q` alone on instance `i` at `now` (no batching).
    #[inline]
    fn start_one(&mut self, q: u32, i: usize, now: u64) -> Result<()> {
        let qi = self.slot(q);
        let (m, b) = (self.trace.model[qi], self.trace.batch[qi]);
        let (est, ex) = self.service.get(m, self.slices[i], b);
        let s = self.true_service(est, m, self.slices[i], b, q);
        let end = finish(now, s, est)?;
        self.rec.extrapolated += ex as u64;
        let g = self.gid[i];
        self.rec.start_ns[qi] = now;
        self.rec.finish_ns[qi] = end;
        self.rec.instance[qi] = g;
        self.rec.busy_ns[g as usize] += s;
        self.rec.starts += 1;
        self.st.start_running(i, now + est);
        if self.track_est && self.rec.est_done_ns[qi] == u64::MAX {
            self.rec.est_done_ns[qi] = now + est;
        }
        self.heap.push(Reverse((end, g)));
        Ok(())
    }

    /// The next event: (time, kind) with kind 0 = completion, 1 = deadline, 3 = reconfiguration
    /// (a repartitioner's check, or a region coming back up), 2 = arrival; at one instant in
    /// that order.
    #[inline(always)]
    fn next_event(&mut self, next: usize) -> Option<(u64, u8)> {
        let t_arr = if next < self.end() {
            self.trace.arrival_ns[if T::WINDOW {
                next - self.trace.base
            } else {
                next
            }]
        } else {
            u64::MAX
        };
        let t_done = self.heap.peek().map_or(u64::MAX, |r| r.0.0);
        if self.timers.is_empty() {
            let t = t_arr.min(t_done).min(self.t_re);
            if t == u64::MAX {
                return None;
            }
            return Some((
                t,
                if t_done == t {
                    0
                } else if self.t_re == t {
                    3
                } else {
                    2
                },
            ));
        }
        // Drop deadlines of batches that already started (or whose instance is gone).
        while let Some(&Reverse((t, g))) = self.timers.peek() {
            let i = self.cur_of[g as usize];
            if i != GONE && self.st.deadline_is(i as usize, t) {
                break;
            }
            self.timers.pop();
        }
        let t_timer = self.timers.peek().map_or(u64::MAX, |r| r.0.0);
        let t = t_arr.min(t_done).min(t_timer).min(self.t_re);
        if t == u64::MAX {
            return None;
        }
        Some((
            t,
            if t_done == t {
                0
            } else if t_timer == t {
                1
            } else if self.t_re == t {
                3
            } else {
                2
            },
        ))
    }

    /// Offer query `q` (arrived, or handed back) and place it: start it on an idle instance,
    /// queue it, or leave it with the scheduler; held by the engine while no instance of the
    /// server can serve it (during a reconfiguration).
    #[inline(always)]
    pub(super) fn place_unbatched(
        &mut self,
        q: u32,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()> {
        if self.re.is_some() && !self.servable(q) {
            self.hold(q);
            return Ok(());
        }
        if let Some(i) = self.offer(q, now, s)? {
            if self.st.is_idle(i) {
                self.start_one(q, i, now)?;
            } else {
                self.st.push_queue(i, q, self.est(q, i));
            }
        }
        Ok(())
    }

    /// Instance `i` has nothing running (unbatched): start the head of its queue, or a query
    /// the scheduler hands it, or mark it idle.
    #[inline(always)]
    pub(super) fn free_unbatched(
        &mut self,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()> {
        let nextq = match self.pop_queue(i) {
            Some(q) => Some(q),
            None => {
                self.st.set_idle(i);
                let q = s.next_for(i, &self.view(now));
                if q.is_some() {
                    self.st.set_not_idle(i);
                }
                q
            }
        };
        if let Some(q) = nextq {
            self.check_handed(q, now)?;
            if !self.service.all_fit() || self.re.is_some() {
                self.check_target(q, i)?;
            }
            self.start_one(q, i, now)?;
        }
        Ok(())
    }

    pub(super) fn run_unbatched<S: Sched>(&mut self, sched: &mut S) -> Result<Step> {
        let mut next = self.next;
        let mut now = self.now;
        loop {
            if T::WINDOW && self.more && next >= self.end() {
                (self.next, self.now) = (next, now);
                return Ok(Step::NeedRows);
            }
            let Some((t, kind)) = self.next_event(next) else {
                break;
            };
            debug_assert!(t >= now, "clock went back");
            now = t;
            self.rec.events += 1;
            match kind {
                0 => {
                    let Reverse((_, g)) = self.heap.pop().expect("peeked");
                    let i = self.cur_of[g as usize];
                    if i == GONE {
                        self.retired_batch_done(g, now, sched)?;
                    } else {
                        self.free_unbatched(i as usize, now, sched.get())?;
                    }
                }
                3 => self.reconfig_event(now, sched)?,
                _ => {
                    let q = next as u32;
                    next += 1;
                    self.place_unbatched(q, now, sched.get())?;
                }
            }
        }
        debug_assert!(next == self.end());
        (self.next, self.now) = (next, now);
        self.finish_run()?;
        Ok(Step::Done)
    }

    /// The head of `i`'s local queue, if any.
    #[inline]
    pub(super) fn pop_queue(&mut self, i: usize) -> Option<u32> {
        let (trace, service, slice) = (&*self.trace, self.service, self.slices[i]);
        let base = if T::WINDOW { self.rec.base } else { 0 };
        self.st.pop_queue(i, |q| {
            let k = q as usize - base;
            service.get(trace.model[k], slice, trace.batch[k]).0
        })
    }

    pub(super) fn run_batched<S: Sched>(&mut self, sched: &mut S) -> Result<Step> {
        let mut next = self.next;
        let mut now = self.now;
        loop {
            if T::WINDOW && self.more && next >= self.end() {
                (self.next, self.now) = (next, now);
                return Ok(Step::NeedRows);
            }
            let Some((t, kind)) = self.next_event(next) else {
                break;
            };
            debug_assert!(t >= now, "clock went back");
            now = t;
            self.rec.events += 1;
            match kind {
                0 => {
                    let Reverse((_, g)) = self.heap.pop().expect("peeked");
                    let i = self.cur_of[g as usize];
                    if i == GONE {
                        self.retired_batch_done(g, now, sched)?;
                    } else {
                        self.open_next(i as usize, now, sched.get())?;
                    }
                }
                1 => {
                    let Reverse((_, g)) = self.timers.pop().expect("peeked");
                    let i = self.cur_of[g as usize] as usize;
                    self.start_batch(i, now)?;
                }
                3 => self.reconfig_event(now, sched)?,
                _ => {
                    let q = next as u32;
                    next += 1;
                    self.place_batched(q, now, sched.get())?;
                }
            }
        }
        (self.next, self.now) = (next, now);
        self.finish_run()?;
        Ok(Step::Done)
    }

    /// Offer query `q` and place it (batched): join a forming batch, open one on an idle
    /// instance, queue it, or leave it with the scheduler (or the engine, as unbatched).
    #[inline(always)]
    pub(super) fn place_batched(&mut self, q: u32, now: u64, s: &mut dyn Scheduler) -> Result<()> {
        if self.re.is_some() && !self.servable(q) {
            self.hold(q);
            return Ok(());
        }
        if let Some(i) = self.offer(q, now, s)? {
            let (m, b) = (self.model_at(q), self.batch_at(q));
            let rule = self.rule_on(m, i);
            let joins = self
                .st
                .forming(i)
                .is_some_and(|(fm, sum)| batcher::admits(fm, sum, m, b, rule));
            if joins {
                self.join(i, q);
                if self.st.forming(i).is_some_and(|f| f.1 >= rule.max_batch) {
                    self.start_batch(i, now)?;
                }
            } else if self.st.is_idle(i) {
                self.st.set_not_idle(i);
                self.form(i, q, now, s)?;
            } else {
                self.st.push_queue(i, q, self.est(q, i));
            }
        }
        Ok(())
    }

    /// Instance `i` has nothing running: open its next batch, or mark it idle.
    pub(super) fn open_next(
        &mut self,
        i: usize,
        now: u64,
        scheduler: &mut dyn Scheduler,
    ) -> Result<()> {
        let head = match self.pop_queue(i) {
            Some(q) => q,
            None => {
                self.st.set_idle(i);
                let Some(q) = scheduler.next_for(i, &self.view(now)) else {
                    return Ok(());
                };
                self.check_handed(q, now)?;
                if !self.service.all_fit() || self.re.is_some() {
                    self.check_target(q, i)?;
                }
                self.st.set_not_idle(i);
                q
            }
        };
        self.form(i, head, now, scheduler)
    }

    /// Add query `q` to the forming batch of `i`.
    #[inline]
    fn join(&mut self, i: usize, q: u32) {
        self.st.join(i, q, self.batch_at(q));
        // Mark it taken, so a scheduler cannot hand it out twice.
        let k = self.slot(q);
        self.rec.instance[k] = self.gid[i];
    }

    /// Open a batch on `i` (not idle, nothing running) with `head`, let queries join, and
    /// start it or wait for its deadline.
    pub(super) fn form(
        &mut self,
        i: usize,
        head: u32,
        now: u64,
        scheduler: &mut dyn Scheduler,
    ) -> Result<()> {
        let (m, b) = (self.model_at(head), self.batch_at(head));
        let rule = self.rule_on(m, i);
        let oldest = self.arrival_at(head);
        self.st.open_batch(i, m, oldest + rule.max_delay_ns);
        self.join(i, head);
        // Join from the local queue: the head's model in order, while the sum fits.
        let mut cut = Cut::open(m, b, rule);
        let (service, slice, g) = (self.service, self.slices[i], self.gid[i]);
        let trace = &*self.trace;
        let base = if T::WINDOW { self.rec.base } else { 0 };
        let instance = &mut self.rec.instance;
        self.st.cut_queue(
            i,
            &mut cut,
            |q| {
                (
                    trace.model[q as usize - base],
                    trace.batch[q as usize - base],
                )
            },
            |q| {
                let k = q as usize - base;
                service.get(trace.model[k], slice, trace.batch[k]).0
            },
            |q| instance[q as usize - base] = g,
        );
        // Join held queries the scheduler hands over.
        if !cut.full() {
            let mut got = std::mem::take(&mut self.scratch);
            got.clear();
            scheduler.join_batch(i, m, cut.room(), &self.view(now), &mut got);
            for &q in &got {
                self.check_handed(q, now)?;
                let (qm, qb) = (self.model_at(q), self.batch_at(q));
                if !batcher::admits(m, cut.sum, qm, qb, rule) {
                    return Err(Error::Internal(format!(
                        "scheduler joined query {q} (model {qm}, batch {qb}) to a batch of model {m} with room {}",
                        cut.room()
                    )));
                }
                cut.sum += qb;
                self.join(i, q);
            }
            self.scratch = got;
        }
        let start = batcher::start_time(now, cut.full(), oldest, rule);
        if start <= now {
            self.start_batch(i, now)?;
        } else {
            self.st.wait_for_deadline(i);
            self.timers.push(Reverse((start, self.gid[i])));
        }
        Ok(())
    }

    /// Start the forming batch of `i` at `now`.
    pub(super) fn start_batch(&mut self, i: usize, now: u64) -> Result<()> {
        let (m, sum, members) = self.st.take_batch(i);
        let slice = self.slices[i];
        let (est, ex) = self.service.get(m, slice, sum);
        let s = self.true_service(est, m, slice, sum, members[0]);
        let end = finish(now, s, est)?;
        let bid = self.rec.batch_base + self.rec.batch_size.len() as u32;
        let g = self.gid[i];
        self.rec.batch_size.push(sum);
        self.rec.starts += members.len() as u64;
        let base = if T::WINDOW { self.rec.base } else { 0 };
        for &q in &members {
            let q = q as usize - base;
            self.rec.start_ns[q] = now;
            self.rec.finish_ns[q] = end;
            self.rec.instance[q] = g;
            self.rec.batch_id[q] = bid;
            if self.track_est && self.rec.est_done_ns[q] == u64::MAX {
                self.rec.est_done_ns[q] = now + est;
            }
        }
        self.rec.extrapolated += if ex { members.len() as u64 } else { 0 };
        self.rec.busy_ns[g as usize] += s;
        self.st.start_running(i, now + est);
        self.heap.push(Reverse((end, g)));
        self.st.recycle(i, members);
        Ok(())
    }
}
